"""The DocVQA chain on the real fixture pages (../shared/realdata/docvqa): Tesseract OCR -> DLA tags ->
the four prompt types -> SmolLM2 -> ANLS against the real gold answers.

The layout regions are ground-truth free: one hand-made ``Title`` box over the top fifth of every page
(score 0.9), so the DLA cell is known to carry tags; the detector path is checked separately with a tiny
randomly initialised detector on the same images."""

from __future__ import annotations

import json
import os
import re

import pytest

from distildoc.docvqa.prompts import PROMPT_TYPES
from distildoc.docvqa.realchain import QA_FILE, detector_predictions, fixture_questions, run_real_chain
from distildoc.docvqa.run import Cell, build_prompts
from distildoc.evaluate.anls import anls_score, normalize_answer

MAX_CONTEXT = 384
MAX_NEW = 12
N_QUESTIONS = 3


def _need_tools() -> None:
    from distildoc.docvqa.llm.smollm2 import smollm2_gguf_path
    from distildoc.docvqa.ocr import TesseractNotAvailable, check_tesseract

    try:
        check_tesseract()
    except TesseractNotAvailable as err:
        pytest.skip(str(err))
    try:
        smollm2_gguf_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))


def _title_boxes(questions) -> dict[str, dict]:
    from PIL import Image

    out = {}
    for q in questions:
        with Image.open(q["image_path"]) as im:
            w, h = im.size
        out[str(q["doc_id"])] = {"boxes": [[0, 0, w, h / 5]], "labels": ["Title"], "scores": [0.9], "image_size": [w, h]}
    return out


@pytest.fixture(scope="module")
def chain(realdata):
    _need_tools()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from distildoc.docvqa.llm import get_reader

    folder = realdata / "docvqa"
    reader = get_reader("smollm2", dtype="bfloat16", postprocess="first_line", batch_size=4, max_new_tokens=MAX_NEW,
                        max_context=MAX_CONTEXT, num_threads=2)
    preds = _title_boxes(fixture_questions(folder, N_QUESTIONS))
    res = run_real_chain(folder, reader, max_questions=N_QUESTIONS, prompts=PROMPT_TYPES, dla_prompts=["task_space"],
                         dla_model="title_band", dla_predictions=preds, batch_size=4, progress=False)
    return folder, res


def test_questions_and_answers_are_the_fixture_ones(chain) -> None:
    folder, res = chain
    gold = {q["questionId"]: q for q in json.loads((folder / QA_FILE).read_text())["data"]}
    assert len(res.questions) == N_QUESTIONS
    assert len({q["doc_id"] for q in res.questions}) == 3  # one question per fixture page
    for q in res.questions:
        assert q["answers"] == gold[q["questionId"]]["answers"]
        assert q["doc_id"] == os.path.splitext(os.path.basename(gold[q["questionId"]]["image"]))[0]


def test_tesseract_read_the_real_pages(chain) -> None:
    _, res = chain
    assert set(res.pages) == {q["doc_id"] for q in res.questions}
    for page in res.pages.values():
        assert page.source == "tesseract" and len(page.words) > 20
    # Tesseract found at least one gold answer verbatim on its page
    hits = [q for q in res.questions
            if any(normalize_answer(a) in normalize_answer(" ".join(res.pages[q["doc_id"]].words)) for a in q["answers"])]
    assert hits, "no gold answer occurs in the OCR text of its page"


def test_prompts_contain_the_ocr_words_and_the_dla_tags(chain) -> None:
    _, res = chain
    q = res.questions[0]
    page = res.pages[q["doc_id"]]
    plain = build_prompts([q], res.pages, "plain")[0][0]
    assert " ".join(page.words[:15]) in plain.document and q["question"] in plain.suffix
    space = build_prompts([q], res.pages, "space")[0][0]
    assert all(w in space.document for w in page.words[:15])
    tagged, n_tags = build_prompts([q], res.pages, "task_space", res.dla)
    assert n_tags == [2] and "<Title>" in tagged[0].document and "</Title>" in tagged[0].document


def test_counts_add_up_and_anls_comes_from_the_real_answers(chain) -> None:
    _, res = chain
    expected = [Cell(p) for p in PROMPT_TYPES] + [Cell("task_space", "title_band")]
    assert list(res.cells) == expected
    records = res.records()
    assert len(records) == len(expected) * N_QUESTIONS
    for cell, (recs, m) in res.cells.items():
        assert m["n_questions"] == len(recs) == N_QUESTIONS
        assert m["n_scored"] + m["n_skipped"] == m["n_questions"] and m["n_skipped"] == 0
        assert m["n_failed"] == sum(r["failed"] for r in recs)
        assert m["n_truncated"] == sum(r["truncated"] for r in recs)
        for r in recs:
            assert r["prompt_tokens"] <= MAX_CONTEXT - MAX_NEW
            assert r["anls"] == pytest.approx(anls_score(r["answer"], r["answers"]))
            if not r["failed"]:
                assert isinstance(r["answer"], str) and "\n" not in r["answer"]
        assert m["anls"] == pytest.approx(sum(r["anls"] for r in recs) / N_QUESTIONS)
        assert 0.0 <= m["anls"] <= 1.0
        if cell.has_dla:
            assert all(r["n_dla_tags"] == 2 and not r["reused"] for r in recs)
    # the longer real pages do not fit 384 tokens: the document was cut, and it was counted
    assert sum(m["n_truncated"] for _, m in res.cells.values()) > 0
    metrics = res.metrics()
    assert set(metrics["cells"]) == {c.key for c in expected}
    assert all(n > 20 for n in metrics["ocr"]["pages"].values())
    assert metrics["dla"]["n_boxes"] == {d: 1 for d in res.pages}


def test_detector_predictions_on_the_real_pages(realdata) -> None:
    import torch

    from detection_helpers import tiny_spec
    from distildoc.models.detection import build_detector

    torch.manual_seed(0)
    model = build_detector(tiny_spec("R50-FPN")).eval()
    questions = fixture_questions(realdata / "docvqa", 12)
    images = sorted({q["image_path"] for q in questions})
    preds = detector_predictions(model, images, score_thresh=0.0)
    assert set(preds) == {re.sub(r"\.png$", "", os.path.basename(p)) for p in images}
    for rec in preds.values():
        assert len(rec["boxes"]) == len(rec["labels"]) == len(rec["scores"])
        assert rec["image_size"][0] > 100


def test_missing_fixture_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fixture_questions(tmp_path / "absent", 3)


def test_an_unreadable_page_is_skipped_named_and_its_questions_still_asked(realdata, tmp_path) -> None:
    """A truncated page image: no OCR, no detector run, named in skipped_inputs; its questions are still
    asked (on an empty page) and scored, never dropped. Needs Tesseract, not the LLM (a fake reader)."""
    import shutil

    from distildoc.docvqa.ocr import TesseractNotAvailable, check_tesseract
    from test_docvqa_grid import FakeReader

    try:
        check_tesseract()
    except TesseractNotAvailable as err:
        pytest.skip(str(err))
    folder = tmp_path / "docvqa"
    shutil.copytree(realdata / "docvqa", folder)
    questions = fixture_questions(folder, N_QUESTIONS)
    bad = questions[0]["image_path"]
    data = open(bad, "rb").read()
    with open(bad, "wb") as f:
        f.write(data[: len(data) // 3])
    reader = FakeReader({q["question"]: "x" for q in questions})
    res = run_real_chain(folder, reader, max_questions=N_QUESTIONS, prompts=("task",), dla_prompts=("task",),
                         dla_predictions=_title_boxes([q for q in questions if q["image_path"] != bad]),
                         progress=False)
    assert res.summary["skipped_inputs"] == [str(bad)] and res.summary["n_skipped"] == 1
    bad_doc = str(questions[0]["doc_id"])
    assert res.pages[bad_doc].words == []
    records = res.records()
    assert len(records) == 2 * N_QUESTIONS  # two cells, every question in each
    assert {r["question_id"] for r in records} == {q["questionId"] for q in questions}
