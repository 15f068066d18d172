"""The DocVQA JSON reader / writer on the real SP-DocVQA validation sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from distildoc.data.docvqa import VqaQuestion, read_docvqa, read_docvqa_split, resolve_image, write_docvqa


@pytest.fixture(scope="module")
def docvqa(realdata: Path) -> Path:
    return realdata / "docvqa"


def test_read_real_val(docvqa: Path) -> None:
    split = read_docvqa_split(docvqa / "val_v1.0.json")
    assert (split.dataset_name, split.dataset_version, split.dataset_split) == ("docvqa", "1.0", "val")
    qs = split.questions
    assert len(qs) == 12
    assert {q.image for q in qs} == {"documents/ffbg0227_2.png", "documents/ffhx0227_1.png",
                                     "documents/ffjw0228_11.png"}
    first = qs[0]
    assert first == VqaQuestion(question_id=26167, question="what is the page no or page mentioned ?",
                                image="documents/ffbg0227_2.png", answers=["2", "page 2"], doc_id=7467,
                                ucsf_document_id="ffbg0227", ucsf_document_page_no="2", data_split="val")
    assert first.page_id == "ffbg0227_2"
    assert all(q.data_split == "val" and q.answers for q in qs)
    assert all(q.page_id == Path(q.image).stem for q in qs)
    assert len({q.question_id for q in qs}) == 12


def test_referenced_images_exist_next_to_the_json(docvqa: Path) -> None:
    for q in read_docvqa(docvqa / "val_v1.0.json"):
        path = resolve_image(q, docvqa)
        assert path == docvqa / Path(q.image).name  # <folder>/<basename>
        with Image.open(path) as im:
            assert min(im.size) > 500


def test_round_trip_is_lossless(docvqa: Path, tmp_path: Path) -> None:
    original = json.loads((docvqa / "val_v1.0.json").read_text())
    split = read_docvqa_split(docvqa / "val_v1.0.json")
    out = write_docvqa(tmp_path / "copy.json", split.questions, dataset_split="val")
    written = json.loads(out.read_text())
    assert written == original
    assert read_docvqa(out) == split.questions


def _one(**changes) -> dict:
    rec = {"questionId": 1, "question": "q?", "image": "documents/a_1.png", "docId": 3,
           "ucsf_document_id": "a", "ucsf_document_page_no": "1", "answers": ["x"], "data_split": "val"}
    rec.update(changes)
    return {k: v for k, v in rec.items() if v is not None}


def _write(tmp_path: Path, data: list[dict], split: str = "val") -> Path:
    path = tmp_path / "qa.json"
    path.write_text(json.dumps({"dataset_name": "docvqa", "dataset_version": "1.0", "dataset_split": split,
                                "data": data}))
    return path


def test_missing_keys_are_named(tmp_path: Path) -> None:
    rec = _one()
    del rec["question"]
    with pytest.raises(ValueError, match=r"qa\.json: data\[1\] \(questionId 1\) is missing key\(s\) 'question'"):
        read_docvqa(_write(tmp_path, [_one(questionId=0), rec]))
    rec = _one()
    del rec["answers"]
    with pytest.raises(ValueError, match="missing key.*'answers'"):
        read_docvqa(_write(tmp_path, [rec]))
    rec = _one()
    del rec["image"]
    with pytest.raises(ValueError, match="missing key.*'image'"):
        read_docvqa(_write(tmp_path, [rec]))
    path = tmp_path / "nodata.json"
    path.write_text(json.dumps({"dataset_name": "docvqa"}))
    with pytest.raises(ValueError, match=r"nodata\.json: missing top-level key 'data'"):
        read_docvqa(path)
    with pytest.raises(ValueError, match=r"repeated questionId"):
        read_docvqa(_write(tmp_path, [_one(), _one()]))


def test_test_split_without_answers_and_question_types(tmp_path: Path) -> None:
    rec = _one(answers=None, data_split="test", question_types=["layout", "form"])
    path = _write(tmp_path, [rec], split="test")
    (q,) = read_docvqa(path)
    assert q.answers == [] and q.question_types == ["layout", "form"]
    write_docvqa(tmp_path / "back.json", [q], dataset_split="test")
    assert json.loads((tmp_path / "back.json").read_text())["data"] == [rec]


def test_infographicvqa_style_record_round_trips(tmp_path: Path) -> None:
    rec = {"questionId": 65718, "question": "What percentage?", "image_local_name": "37313.jpeg",
           "image_url": "https://example.org/a.jpg", "ocr_output_file": "37313.json", "answers": ["10%"],
           "data_split": "val", "answer_type": ["single span"], "evidence": ["text"]}
    (q,) = read_docvqa(_write(tmp_path, [rec]))
    assert q.image == "37313.jpeg" and q.doc_id is None and q.page_id == "37313"
    assert q.extra == {"image_url": "https://example.org/a.jpg", "ocr_output_file": "37313.json",
                       "answer_type": ["single span"], "evidence": ["text"]}
    assert q.to_json() == rec
    with pytest.raises(FileNotFoundError, match="37313.jpeg"):
        resolve_image(q, tmp_path)
