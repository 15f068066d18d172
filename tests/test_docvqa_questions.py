"""Your own questions: questions without gold answers are answered, written and counted as unscored (never
an error); a question without a required key is an error naming the key; the real fixture's questions all
run (not one per page)."""

from __future__ import annotations

import json

import pytest

from distildoc.docvqa.run import Cell, load_questions, run_grid, write_cell
from distildoc.utils.io import read_jsonl, write_json
from test_docvqa_grid import ANSWERS, PAGES, QUESTIONS, FakeReader

OWN = [
    {"questionId": "own-1", "question": "What is the invoice number?", "doc_id": "p1"},  # no answers key
    {"questionId": "own-2", "question": "Who is the vendor?", "answers": [], "doc_id": "p2"},
    {"questionId": "own-3", "question": "What is the date?", "answers": None, "doc_id": "p3"},
]


def _run(questions, reader=None, **kw):
    reader = reader or FakeReader(ANSWERS)
    results, summary = run_grid(reader, questions, PAGES, [Cell("plain")], dataset="toy", batch_size=2,
                                progress=False, **kw)
    return results[Cell("plain")]


def test_questions_without_gold_answers_are_answered_and_unscored(tmp_path) -> None:
    records, m = _run(QUESTIONS + OWN)
    assert len(records) == 6
    own = records[3:]
    assert [r["answer"] for r in own] == ["42", "Acme Corp", "May 1"]
    assert all(r["unscored"] and r["anls"] is None and not r["skipped"] and not r["failed"] for r in own)
    assert all(r["answers"] == [] for r in own)
    assert not any(r["unscored"] for r in records[:3])
    # the means are over the gold questions only: the same as without the own questions
    _, gold_only = _run(QUESTIONS)
    assert m["anls"] == pytest.approx(gold_only["anls"]) == pytest.approx((1.0 + 0.9 + 1.0) / 3)
    assert m["anls_by_type"] == gold_only["anls_by_type"]
    assert (m["n_questions"], m["n_scored"], m["n_unscored"], m["n_failed"]) == (6, 3, 3, 0)
    paths = write_cell(tmp_path / "cell", records, m)
    rows = read_jsonl(paths["predictions"])
    assert [r["question_id"] for r in rows] == [1, 2, 3, "own-1", "own-2", "own-3"]
    assert json.loads(paths["metrics"].read_text())["n_unscored"] == 3


def test_only_own_questions_give_no_anls_and_no_error() -> None:
    records, m = _run(OWN, reader=FakeReader(ANSWERS, fail=["Who is the vendor?"]))
    assert m["anls"] is None and m["n_scored"] == 0 and m["n_unscored"] == 3
    assert m["n_failed"] == 1 and records[1]["failed"] and records[1]["anls"] is None
    assert not records[1]["skipped"]  # unscored, not a skipped failure


@pytest.mark.parametrize("key", ["questionId", "question", "doc_id"])
def test_a_missing_key_is_an_error_naming_it(key) -> None:
    broken = [dict(q) for q in QUESTIONS]
    del broken[1][key]
    with pytest.raises(ValueError, match=rf"toy: questions\[1\].*no key '{key}'"):
        _run(broken)


def test_bad_answers_and_repeated_ids_are_errors() -> None:
    with pytest.raises(ValueError, match="'answers' must be a list of strings"):
        _run([{**QUESTIONS[0], "answers": "42"}])
    with pytest.raises(ValueError, match="repeated questionId 1"):
        _run([QUESTIONS[0], dict(QUESTIONS[0])])


def test_load_questions_keeps_own_questions(tmp_path) -> None:
    path = write_json(tmp_path / "q.json", {"questions": QUESTIONS + OWN})
    assert [q["questionId"] for q in load_questions(path)] == [1, 2, 3, "own-1", "own-2", "own-3"]
    write_json(tmp_path / "bad.json", {"questions": [{"questionId": 1, "question": "q?"}]})
    with pytest.raises(ValueError, match=r"bad.json: questions\[0\] \(questionId 1\) has no key 'doc_id'"):
        load_questions(tmp_path / "bad.json")


def test_every_fixture_question_runs(realdata) -> None:
    from distildoc.docvqa.realchain import QA_FILE, fixture_questions

    folder = realdata / "docvqa"
    every = json.loads((folder / QA_FILE).read_text())["data"]
    questions = fixture_questions(folder)  # no limit: all of them
    assert len(questions) == len(every) == 12
    assert {q["questionId"] for q in questions} == {q["questionId"] for q in every}
    assert len(fixture_questions(folder, 3)) == 3  # a limit still spreads over the pages
    assert len({q["doc_id"] for q in fixture_questions(folder, 3)}) == 3
