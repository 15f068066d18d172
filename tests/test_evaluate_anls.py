"""ANLS: the shunk031/ANLS fixture, hand-worked cases, per-type aggregation and a PyPI `anls` cross-check."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from anls import anls_score as reference_anls_score
from anls.evaluation import evaluate_json

from distildoc.evaluate.anls import anls_by_type, anls_score, normalize_answer, normalized_levenshtein

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "anls_fixtures"


@pytest.fixture(scope="module")
def fixture_json() -> tuple[dict, list]:
    if not FIXTURES.is_dir():
        pytest.skip(f"ANLS fixtures not found at {FIXTURES} (expected ../shared/realdata/anls_fixtures)")
    gold = json.loads((FIXTURES / "gold_label.json").read_text())
    submission = json.loads((FIXTURES / "submission.json").read_text())
    return gold, submission


def fixture_records(gold: dict, submission: list) -> list[dict]:
    predictions = {int(s["questionId"]): s["answer"] for s in submission}
    return [
        {"prediction": predictions[int(g["questionId"])], "answers": g["answers"], "question_types": []}
        for g in gold["data"]
    ]


def test_anls_on_the_shunk031_fixture(fixture_json: tuple[dict, list]) -> None:
    gold, submission = fixture_json
    records = fixture_records(gold, submission)
    # gold answers for every question: "Coca Cola", "Coca Cola Company"
    # 1 "The Coca"  -> "the coca" vs "coca cola": lev 5 / 9 = .556 >= .5 ; vs "coca cola company": 12/17 -> 0
    # 2 "CocaCola"  -> "cocacola" vs "coca cola": lev 1 / 9 -> 1 - 1/9 = 8/9
    # 3 "Coca cola" -> exact match after lower-casing -> 1
    # 4 "Coca"      -> "coca" vs "coca cola": lev 5 / 9 = .556 >= .5 -> 0
    # 5 "Cat"       -> 0
    # mean = (8/9 + 1) / 5 = 17/45 = 0.3778
    per_question = [anls_score(r["prediction"], r["answers"]) for r in records]
    assert per_question == pytest.approx([0.0, 8 / 9, 1.0, 0.0, 0.0], abs=1e-12)
    assert [round(s, 3) for s in per_question] == [0.0, 0.889, 1.0, 0.0, 0.0]
    summary = anls_by_type(records)
    assert summary["anls"] == pytest.approx(17 / 45, abs=1e-12)
    assert round(summary["anls"], 4) == 0.3778
    assert summary["n"] == summary["n_total"] == 5

    # cross-check with the PyPI `anls` package (shunk031/ANLS) on the same files
    reference = [reference_anls_score(prediction=r["prediction"], gold_labels=r["answers"]) for r in records]
    assert per_question == pytest.approx(reference, abs=1e-12)
    result = evaluate_json(gold, submission, show_scores_per_answer_type=False, anls_threshold=0.5)
    assert summary["anls"] == pytest.approx(result.result.score, abs=1e-12)


def test_normalisation_is_case_and_whitespace_insensitive() -> None:
    assert normalize_answer("  Coca \t\n  COLA  ") == "coca cola"
    assert anls_score("  Coca   COLA ", ["coca cola"]) == 1.0
    assert anls_score("coca cola", ["\tCOCA\nCola "]) == 1.0
    # inner spaces are collapsed, not removed: "cocacola" vs "coca cola" is still one insertion away
    assert anls_score("CocaCola", ["coca  cola"]) == pytest.approx(1 - 1 / 9)


def test_threshold_boundary_is_strict() -> None:
    # "ab" vs "ac": lev 1 / 2 = 0.5 -> not < 0.5 -> 0
    assert normalized_levenshtein("ab", "ac") == 0.5
    assert anls_score("ab", ["ac"]) == 0.0
    # "abcd" vs "ab": lev 2 / 4 = 0.5 -> 0
    assert anls_score("abcd", ["ab"]) == 0.0
    # "abc" vs "abd": lev 1 / 3 -> 1 - 1/3 = 2/3
    assert anls_score("abc", ["abd"]) == pytest.approx(2 / 3)
    # a looser threshold admits the .556 case: "coca" vs "coca cola" -> 1 - 5/9 = 4/9 at tau = 0.6
    assert anls_score("coca", ["coca cola"], threshold=0.6) == pytest.approx(4 / 9)
    assert anls_score("coca", ["coca cola"]) == 0.0


def test_max_over_multiple_gold_answers() -> None:
    # "coca" vs "coca cola": 5/9 -> 0 ; vs "cocoa": one insertion, 1/5 -> 0.8 ; vs "coca": exact -> 1
    assert anls_score("coca", ["coca cola", "cocoa"]) == pytest.approx(0.8)
    assert anls_score("coca", ["coca cola", "cocoa", "COCA"]) == 1.0
    assert anls_score("coca", ["cocoa", "coca cola"]) == pytest.approx(0.8)  # order irrelevant


def test_empty_strings_and_failed_predictions() -> None:
    assert normalized_levenshtein("", "") == 0.0
    assert anls_score("", [""]) == 1.0
    assert anls_score("   ", [""]) == 1.0  # whitespace-only normalises to empty
    assert anls_score("", ["abc"]) == 0.0  # lev 3 / 3 = 1
    assert anls_score(None, ["abc"]) == 0.0
    with pytest.raises(ValueError):
        anls_score("abc", [])
    with pytest.raises(TypeError):
        anls_score("abc", "abc")  # type: ignore[arg-type]


def test_per_type_aggregation_on_a_constructed_example() -> None:
    records = [
        # score 1        types: form, table
        {"prediction": "42", "answers": ["42"], "question_types": ["form", "table"]},
        # score 2/3      types: table (listed twice -> counted once)
        {"prediction": "abc", "answers": ["abd"], "question_types": ["table", "table"]},
        # score 0        types: layout
        {"prediction": "xyz", "answers": ["hello"], "question_types": ["layout"]},
        # failed         types: form, layout
        {"prediction": None, "answers": ["yes"], "question_types": ["form", "layout"]},
        # score 0.8, no types
        {"prediction": "coca", "answers": ["cocoa"]},
    ]
    out = anls_by_type(records)
    # overall: (1 + 2/3 + 0 + 0 + 0.8) / 5
    assert out["anls"] == pytest.approx((1 + 2 / 3 + 0.8) / 5)
    assert (out["n"], out["n_total"], out["n_failed"], out["n_skipped"]) == (5, 5, 1, 0)
    assert out["scores"] == pytest.approx([1.0, 2 / 3, 0.0, 0.0, 0.8])
    assert list(out["by_type"]) == ["form", "layout", "table"]
    # form: (1 + 0) / 2 ; layout: (0 + 0) / 2 ; table: (1 + 2/3) / 2
    assert out["by_type"]["form"] == {"anls": pytest.approx(0.5), "n": 2, "n_failed": 1, "n_skipped": 0}
    assert out["by_type"]["layout"] == {"anls": pytest.approx(0.0), "n": 2, "n_failed": 1, "n_skipped": 0}
    assert out["by_type"]["table"] == {"anls": pytest.approx(5 / 6), "n": 2, "n_failed": 0, "n_skipped": 0}

    # DistilDoc-compatible: the failed question disappears from every mean, but is still reported
    compat = anls_by_type(records, skip_failed=True)
    assert compat["anls"] == pytest.approx((1 + 2 / 3 + 0.8) / 4)
    assert (compat["n"], compat["n_total"], compat["n_failed"], compat["n_skipped"]) == (4, 5, 1, 1)
    assert compat["scores"][3] is None
    assert compat["by_type"]["form"] == {"anls": pytest.approx(1.0), "n": 1, "n_failed": 1, "n_skipped": 1}
    assert compat["by_type"]["layout"] == {"anls": pytest.approx(0.0), "n": 1, "n_failed": 1, "n_skipped": 1}


def test_empty_or_all_skipped_gives_nan_mean() -> None:
    assert math.isnan(anls_by_type([])["anls"])
    out = anls_by_type([{"prediction": None, "answers": ["a"], "question_types": ["t"]}], skip_failed=True)
    assert math.isnan(out["anls"]) and out["n"] == 0 and out["n_skipped"] == 1
    assert math.isnan(out["by_type"]["t"]["anls"])


def test_random_strings_agree_with_the_anls_package() -> None:
    rng = random.Random(1234)
    alphabet = "abcAB C\t"  # ASCII only: the package measures length after .upper(), which differs for e.g. "ß"
    for _ in range(400):
        pred = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9)))
        golds = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 3))]
        ours = anls_score(pred, golds)
        theirs = reference_anls_score(prediction=pred, gold_labels=golds)
        assert ours == pytest.approx(theirs, abs=1e-12), (pred, golds)
