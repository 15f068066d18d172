"""The DocVQA grid: prompts per cell, a deterministic fake reader -> known ANLS, truncation and failures,
identical-prompt reuse, the cell writer, per-type aggregation, docvqa_runs.csv and Tables 4 / 16 / 17."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence

import pandas as pd
import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.llm.base import GenerationResult, Prompt, PromptTooLong, failure, fit_prompt
from distildoc.docvqa.run import (
    DLA_NONE,
    Cell,
    dla_label,
    grid_cells,
    load_dla_predictions,
    make_reader,
    run_grid,
    type_slug,
    write_cell,
)
from distildoc.report.docvqa import (
    RUNS_COLUMNS,
    grid_table,
    load_docvqa_runs,
    runs_frame,
    table4,
    write_docvqa_tables,
)
from distildoc.utils.io import read_jsonl, write_json

_QUESTION = re.compile(r"Question: (.*)\n")


class FakeReader:
    """Deterministic reader: the answer is looked up by the question in the prompt; whitespace tokens;
    the shared context policy (document cut from its end); questions in `fail` raise (-> failure)."""

    name = "fake"

    def __init__(self, answers: dict[str, str], fail: Sequence[str] = (), max_context: int = 10_000,
                 max_new_tokens: int = 4) -> None:
        self.answers, self.fail = answers, set(fail)
        self.max_context, self.max_new_tokens = max_context, max_new_tokens
        self.generated: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompts: Sequence[Prompt]) -> list[GenerationResult]:
        out = []
        for p in prompts:
            try:
                f = fit_prompt(p, self.max_context - self.max_new_tokens, self.count_tokens)
            except PromptTooLong as err:
                out.append(failure(err))
                continue
            self.generated.append(f.text)
            q = _QUESTION.search(f.text).group(1)
            if q in self.fail:
                out.append(failure(RuntimeError("CUDA out of memory"), f.n_tokens, f.truncated))
            else:
                out.append(GenerationResult(self.answers[q], f.n_tokens, f.truncated, raw_text=self.answers[q],
                                            completion_tokens=2, finish_reason="stop"))
        return out


def _page(doc_id: str, words: list[str], per_line: int = 4) -> OcrPage:
    boxes = [(10 + 60 * (i % per_line), 10 + 20 * (i // per_line), 60 + 60 * (i % per_line), 25 + 20 * (i // per_line))
             for i in range(len(words))]
    lines = [(s, min(s + per_line, len(words))) for s in range(0, len(words), per_line)]
    return OcrPage(doc_id, words, boxes, lines, 612, 792, source="test")


PAGES = {
    "p1": _page("p1", "Invoice number 42 Total due 17 dollars".split()),
    "p2": _page("p2", "Vendor Acme Corp. Street Main".split()),
    "p3": _page("p3", ["filler"] * 400 + ["date", "May", "1"]),  # long: truncated under a small context
}
QUESTIONS = [
    {"questionId": 1, "question": "What is the invoice number?", "answers": ["42"], "doc_id": "p1",
     "question_types": ["form"]},
    {"questionId": 2, "question": "Who is the vendor?", "answers": ["Acme Corp."], "doc_id": "p2",
     "question_types": ["form", "table/list"]},
    {"questionId": 3, "question": "What is the date?", "answers": ["May 1"], "doc_id": "p3",
     "question_types": ["layout"]},
]
ANSWERS = {"What is the invoice number?": "42", "Who is the vendor?": "Acme Corp", "What is the date?": "May 1"}
# p1 (x 10..290, y 10..45) gets one Table region; p2, p3 no box
DLA = {"p1": {"boxes": [[5, 5, 300, 50]], "labels": ["Table"], "scores": [0.9], "image_size": [612, 792]},
       "p2": {"boxes": [], "labels": [], "scores": [], "image_size": [612, 792]},
       "p3": {"boxes": [[0, 0, 10, 10]], "labels": ["Text"], "scores": [0.99], "image_size": [612, 792]}}


def _run(reader, cells, **kw):
    return run_grid(reader, QUESTIONS, PAGES, cells, {"m": DLA}, dataset="toy", batch_size=2, progress=False, **kw)


def test_fake_reader_gives_known_anls_per_cell_and_type() -> None:
    reader = FakeReader(ANSWERS, fail=["What is the date?"])
    results, summary = _run(reader, [Cell("plain")])
    records, m = results[Cell("plain")]
    # q1 exact -> 1; q2 "acme corp" vs "acme corp." -> 1 - 1/10; q3 failed -> 0
    assert [r["anls"] for r in records] == pytest.approx([1.0, 0.9, 0.0])
    assert m["anls"] == pytest.approx(1.9 / 3)
    assert m["anls_by_type"]["form"]["anls"] == pytest.approx(0.95)
    assert m["anls_by_type"]["table/list"]["anls"] == pytest.approx(0.9)
    assert m["anls_by_type"]["layout"]["anls"] == 0.0
    assert (m["n_questions"], m["n_failed"], m["n_skipped"], m["n_scored"]) == (3, 1, 0, 3)
    failed = records[2]
    assert failed["failed"] and failed["answer"] is None and "out of memory" in failed["error"]
    assert [r["question_id"] for r in records] == [1, 2, 3]
    assert summary["n_prompts"] == 3 and summary["n_generated"] == 3


def test_compat_switch_skips_failures_but_keeps_their_records() -> None:
    reader = FakeReader(ANSWERS, fail=["What is the date?"])
    records, m = _run(reader, [Cell("task")], skip_failed=True)[0][Cell("task")]
    assert m["anls"] == pytest.approx(0.95)
    assert (m["n_questions"], m["n_failed"], m["n_skipped"], m["n_scored"]) == (3, 1, 1, 2)
    assert m["anls_by_type"]["layout"]["anls"] is None  # its only question was skipped
    assert len(records) == 3 and records[2]["skipped"] and records[2]["anls"] is None


def test_truncation_is_counted_and_the_fail_policy_records_a_failure() -> None:
    reader = FakeReader(ANSWERS, max_context=120, max_new_tokens=10)
    records, m = _run(reader, [Cell("plain")])[0][Cell("plain")]
    assert [r["truncated"] for r in records] == [False, False, True]
    assert m["n_truncated"] == 1 and m["n_failed"] == 0
    assert records[2]["prompt_tokens"] <= 110
    # the cut removed the end of the document (the answer): the prompt still ends with the question
    assert "May" not in reader.generated[0] and reader.generated[0].endswith("Answer:")

    reader = FakeReader(ANSWERS, max_context=120, max_new_tokens=10)
    records, m = _run(reader, [Cell("plain")], truncation="fail")[0][Cell("plain")]
    assert m["n_truncated"] == 0 and m["n_failed"] == 1 and records[2]["failed"]
    assert "PromptTooLong" in records[2]["error"] and records[2]["prompt_tokens"] > 110
    assert len(reader.generated) == 2  # the long prompt was never sent
    assert m["anls"] == pytest.approx(1.9 / 3)


def test_dla_cells_insert_tags_and_identical_prompts_are_answered_once() -> None:
    reader = FakeReader(ANSWERS)
    cells = grid_cells(["plain", "task"], ["task"], ["m"])
    assert cells == [Cell("plain"), Cell("task"), Cell("task", "m")]
    results, summary = _run(reader, cells)
    dla_records, dla_m = results[Cell("task", "m")]
    # p1 has a Table region -> tags, a new prompt; p2 no box and p3 only "Text" (ignored) -> same prompt as task
    assert [r["n_dla_tags"] for r in dla_records] == [2, 0, 0]
    assert [r["reused"] for r in dla_records] == [False, True, True]
    assert sum("<Table>" in t and "</Table>" in t for t in reader.generated) == 1
    assert summary["n_prompts"] == 9 and summary["n_generated"] == 7 == len(reader.generated)
    assert dla_m["n_reused"] == 2 and dla_m["n_with_dla_tags"] == 1 and dla_m["dla_label"] == "m"
    # the reused answers equal the no-DLA cell's, with that cell's time
    task_records = results[Cell("task")][0]
    assert [r["answer"] for r in dla_records] == [r["answer"] for r in task_records]
    assert dla_records[1]["seconds"] == task_records[1]["seconds"]

    reader2 = FakeReader(ANSWERS)
    _, summary2 = _run(reader2, cells, reuse_identical_prompts=False)
    assert summary2["n_generated"] == 9 == len(reader2.generated)


def test_missing_dla_page_or_ocr_page_is_an_error() -> None:
    with pytest.raises(KeyError, match="no page 'p3'"):
        run_grid(FakeReader(ANSWERS), QUESTIONS, PAGES, [Cell("task", "m")], {"m": {"p1": DLA["p1"], "p2": DLA["p2"]}},
                 dataset="toy", progress=False)
    with pytest.raises(KeyError, match="no OCR page 'p2'"):
        run_grid(FakeReader(ANSWERS), QUESTIONS, {"p1": PAGES["p1"]}, [Cell("plain")], dataset="toy", progress=False)


def test_write_cell_and_dla_prediction_files(tmp_path) -> None:
    records, m = _run(FakeReader(ANSWERS, fail=["Who is the vendor?"]), [Cell("space")])[0][Cell("space")]
    paths = write_cell(tmp_path / "none" / "space", records, m)
    rows = read_jsonl(paths["predictions"])
    assert len(rows) == 3
    for key in ("question_id", "prompt", "dla_model", "prompt_tokens", "truncated", "failed", "answer", "answers",
                "question_types", "anls"):
        assert key in rows[0]
    assert rows[1]["failed"] and rows[1]["anls"] == 0.0
    metrics = json.loads(paths["metrics"].read_text())
    assert metrics["n_failed"] == 1 and metrics["prompt"] == "space" and metrics["dla_model"] == DLA_NONE
    assert metrics["questions_per_s"] is None or metrics["questions_per_s"] > 0

    write_json(tmp_path / "dla.json", {"format": "distildoc-dla-predictions/v1", "images": [
        {"file_name": "p1.png", **DLA["p1"]}]})
    assert set(load_dla_predictions(tmp_path / "dla.json")) == {"p1"}
    write_json(tmp_path / "bad.json", {"images": []})
    with pytest.raises(ValueError, match="bad.json"):
        load_dla_predictions(tmp_path / "bad.json")


def test_labels_slugs_and_reader_options() -> None:
    assert dla_label("none") == "–"
    assert dla_label("none__ViT-B-FPN__supervised") == "ViT-B"
    assert dla_label("R101-FPN__R50-FPN__simkd_fpn") == "R50 SimKD"
    assert dla_label("ViT-B-FPN__ViT-T-FPN__reviewkd") == "ViT-T ReviewKD"
    assert dla_label("R101-FPN__R50-FPN__pkd") == "R50 PKD"  # every catalogued layout method has its label
    assert type_slug("Image/Photo") == "image/photo" and type_slug("free text") == "free_text"
    with pytest.raises(ValueError, match="unknown prompt type"):
        grid_cells(["plan"], [], [])
    with pytest.raises(ValueError, match="docvqa.reader.options"):
        make_reader("smollm2", {"max_new_tokens": 5})


# ------------------------------------------------------------------------------------------------ tables


def _cell(prompt: str, dla: str, anls: float, types: dict[str, float], n: int = 10, trunc: int = 0,
          failed: int = 0, dataset: str = "synthetic") -> dict:
    return {"dataset": dataset, "prompt": prompt, "dla_model": dla, "dla_label": dla_label(dla), "n_questions": n,
            "n_truncated": trunc, "n_failed": failed, "anls": anls, "questions_per_s": 1.5,
            "anls_by_type": {k: {"anls": v, "n": 5} for k, v in types.items()}, "n_scored": n, "n_skipped": 0,
            "n_reused": 0, "prompt_tokens_per_s": 300.0, "mean_prompt_tokens": 200.0, "dataset_label": "toy"}


VIT = "none__ViT-B-FPN__supervised"
R50 = "R101-FPN__R50-FPN__simkd_fpn"
CELLS = [
    _cell("task_space", VIT, 0.50, {"layout": 0.4, "form": 0.6}),
    _cell("plain", DLA_NONE, 0.20, {"form": 0.3, "layout": 0.1, "others": None}),
    _cell("task", DLA_NONE, 0.30, {"form": 0.35, "layout": 0.25}, trunc=2),
    _cell("task", R50, 0.32, {"form": 0.30, "layout": 0.34}),
    _cell("task", VIT, 0.31, {"form": 0.40, "layout": 0.22}, failed=1),
    _cell("task_space", DLA_NONE, 0.45, {"form": 0.5, "layout": 0.4}),
]


def test_runs_frame_columns_and_per_type_values(tmp_path) -> None:
    df = runs_frame(CELLS)
    assert list(df.columns[:len(RUNS_COLUMNS)]) == list(RUNS_COLUMNS)
    # type columns in the paper's order (form before layout before others), then the extras
    assert list(df.columns[len(RUNS_COLUMNS):len(RUNS_COLUMNS) + 3]) == ["anls_form", "anls_layout", "anls_others"]
    assert len(df) == len(CELLS)
    assert df.loc[0, "anls_layout"] == 0.4 and math.isnan(df.loc[0, "anls_others"])
    assert math.isnan(df.loc[1, "anls_others"])  # a type with no scored question is NaN, not 0
    paths = []
    for i, c in enumerate(CELLS):
        paths.append(write_json(tmp_path / f"{i}" / "metrics.json", c))
    assert load_docvqa_runs(paths).equals(df)


def test_table4_rows_values_and_bold(tmp_path) -> None:
    df = runs_frame(CELLS)
    t4 = table4(df, "synthetic", VIT)
    assert list(t4.columns) == ["Space", "DLA", "ANLS", "Form", "Layout", "Others", "N"]
    assert list(zip(t4.Space, t4.DLA)) == [("no", "no"), ("no", "yes"), ("yes", "no"), ("yes", "yes")]
    assert list(t4.ANLS) == pytest.approx([30.0, 31.0, 45.0, 50.0])
    assert list(t4.Form) == pytest.approx([35.0, 40.0, 50.0, 60.0])
    paths = write_docvqa_tables(df, tmp_path, [{"name": "synthetic", "table": "table16", "label": "toy set"}], VIT,
                                reader="FakeLM")
    assert sorted(p.name for p in paths) == sorted(f"table{t}.{e}" for t in (4, 16, 17) for e in ("csv", "md", "tex"))
    md4 = (tmp_path / "table4.md").read_text()
    assert "**50.00**" in md4 and "**60.00**" in md4 and "FakeLM" in md4 and "ViT-B" in md4
    assert "| no | no | 30.00 | 35.00 | 25.00 |" in md4
    csv4 = pd.read_csv(tmp_path / "table4.csv")
    assert csv4["ANLS"].tolist() == pytest.approx([30.0, 31.0, 45.0, 50.0])


def test_table16_order_bold_per_prompt_and_empty_table17(tmp_path) -> None:
    df = runs_frame(CELLS)
    t16 = grid_table(df, "synthetic")
    # prompt order plain, task, task_space; within a prompt: no DLA, then Table 3's model order
    assert list(zip(t16.Prompt, t16.DLA)) == [("Plain", "–"), ("Task", "–"), ("Task", "ViT-B"), ("Task", "R50 SimKD"),
                                             ("Task+Space", "–"), ("Task+Space", "ViT-B")]
    assert list(t16.columns) == ["Prompt", "DLA", "ANLS", "Form", "Layout", "Others", "N", "Truncated", "Failed",
                                 "dla_model"]
    assert t16.Truncated.tolist() == [0, 2, 0, 0, 0, 0] and t16.Failed.tolist() == [0, 0, 1, 0, 0, 0]
    write_docvqa_tables(df, tmp_path, [{"name": "synthetic", "table": "table16", "label": "toy"}], VIT)
    md16 = (tmp_path / "table16.md").read_text().splitlines()
    task_r50 = next(line for line in md16 if "R50 SimKD" in line)
    task_vit = next(line for line in md16 if line.startswith("| Task | ViT-B"))
    plain = next(line for line in md16 if line.startswith("| Plain"))
    assert "**32.00**" in task_r50 and "**34.00**" in task_r50  # best ANLS / layout among the Task rows
    assert "**40.00**" in task_vit and "**31.00**" not in task_vit
    assert "**" not in plain  # alone in its prompt group: nothing to compare with
    assert "dla_model" not in "\n".join(md16)  # hidden column: CSV only
    assert "dla_model" in (tmp_path / "table16.csv").read_text()
    tex = (tmp_path / "table16.tex").read_text()
    assert r"\textbf{50.00}" in tex and r"\midrule" in tex
    md17 = (tmp_path / "table17.md").read_text()
    assert "not part of this preset" in md17 and len(pd.read_csv(tmp_path / "table17.csv")) == 0


def test_readers_table_one_row_per_reader_no_layout_cells_only(tmp_path) -> None:
    """Table 16's reader dimension: each reader's no-layout ANLS per prompt (the layout cells left out), the best of
    them and its mean questions/s; a prompt a reader did not answer is NaN, never 0."""
    from distildoc.report.docvqa import readers_table, write_readers_table

    base = runs_frame(CELLS)  # no-layout cells: plain 0.20, task 0.30, task_space 0.45 (and layout cells)
    extra = runs_frame([_cell("plain", DLA_NONE, 0.25, {"form": 0.5}), _cell("task", DLA_NONE, 0.40, {"form": 0.5})])
    readers = [{"name": "docvqa.reader", "info": {"gguf_file": "Small.gguf", "decoding": "free"}, "df": base},
               {"name": "small-extractive", "info": {"model": "Small", "decoding": "extractive", "search": "beam4"},
                "df": extra}]
    t = readers_table(readers, "synthetic", ["plain", "task", "task_space"])
    assert list(t.columns) == ["Reader", "Model", "Decoding", "Plain", "Task", "Task+Space", "Best", "q/s"]
    assert t.Model.tolist() == ["Small.gguf", "Small"] and t.Decoding.tolist() == ["free", "extractive, beam4"]
    assert t.loc[0, ["Plain", "Task", "Task+Space", "Best"]].tolist() == pytest.approx([20.0, 30.0, 45.0, 45.0])
    assert t.loc[1, ["Plain", "Task", "Best"]].tolist() == pytest.approx([25.0, 40.0, 40.0])
    assert math.isnan(t.loc[1, "Task+Space"]) and t["q/s"].tolist() == pytest.approx([1.5, 1.5])
    paths = write_readers_table(readers, tmp_path, {"name": "synthetic", "label": "toy"}, ["plain", "task", "task_space"])
    assert sorted(p.name for p in paths) == [f"table16_readers.{e}" for e in ("csv", "md", "tex")]
    md = (tmp_path / "table16_readers.md").read_text()
    assert "**25.00**" in md and "**40.00**" in md and "**45.00**" in md and "reader dimension" in md
