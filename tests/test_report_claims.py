"""The paper's five claims, checked on constructed results that agree and that disagree, and on the paper."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from report_helpers import dic_runs, dla_runs, docvqa_runs

from distildoc.report.claims import (
    check_claims,
    dla_students_below,
    dla_tags_small_effect,
    kd_beats_supervised,
    response_better_calibrated,
    simkd_cnn_best_mse_worst,
    write_claims,
)
from distildoc.report.paper import claim_tables_ours, claim_tables_published


def _ours(**kw) -> dict:
    return claim_tables_ours(dic_runs(kw.get("kd_gain", 0.05)), dla_runs(*kw.get("dla", (10.0, 20.0))),
                             docvqa_runs(0.50, kw.get("with_dla", 0.51)))


def test_every_claim_holds_on_the_published_numbers() -> None:
    claims = check_claims({}, claim_tables_published())
    assert claims["paper_agrees"].tolist() == [True] * 5
    assert claims["agrees"].isna().all()  # nothing measured: n/a, not disagreement
    ev = claims.set_index("claim")["paper_evidence"]
    assert "simkd_cnn 0.6291" in ev["simkd_cnn_best_mse_worst"] and ev["simkd_cnn_best_mse_worst"].endswith("mse 0.4900")
    assert "57.63 → 58.39 (+0.76)" in ev["dla_tags_small_effect"]
    assert ev["dla_students_below"].startswith("4/4 below")


def test_constructed_results_that_agree() -> None:
    claims = check_claims(_ours(), claim_tables_published())
    assert dict(zip(claims["claim"], claims["agrees"])) == {
        "kd_beats_supervised": True, "simkd_cnn_best_mse_worst": True, "response_better_calibrated": True,
        "dla_students_below": True, "dla_tags_small_effect": True}


def test_constructed_results_that_disagree() -> None:
    ours = _ours(kd_gain=-0.05, dla=(30.0, 20.0), with_dla=0.80)
    # on RVL-CDIP-N: make MSE the best and swap the calibration of the two groups
    t15 = ours["table15"].copy()
    t15.loc[t15["method"] == "mse", "ACC"] = 0.99
    t15["ECE"] = 0.4 - t15["ECE"]
    ours["table15"] = t15
    claims = check_claims(ours)
    assert claims["agrees"].tolist() == [False] * 5
    assert "paper_agrees" not in claims.columns
    ev = claims.set_index("claim")["evidence"]
    assert "vanilla KD: mean ΔACC -0.0500 (0/2 students better)" in ev["kd_beats_supervised"]
    assert ev["dla_students_below"].startswith("0/4 below")
    assert "task: 50.00 → 80.00 (+30.00)" in ev["dla_tags_small_effect"]


def test_single_claims_edge_cases() -> None:
    # the supervised baseline falls back to ce_distildoc (the paper's "–" rows) when there is no ce run
    t6 = pd.DataFrame({"teacher": "ViT-B", "student": "ViT-S",
                       "method": ["ce_distildoc", "ce_kd", "mse", "simkd_cnn", "simkd_cls_mlp"],
                       "ACC": [0.80, 0.81, 0.82, 0.79, 0.83]})
    res = kd_beats_supervised(t6)
    assert res.agrees is True and "ce_distildoc" in res.evidence
    assert kd_beats_supervised(t6[t6["method"] != "mse"]).agrees is None  # a method missing: n/a
    # ties: the best set holds simkd_cnn, the worst set mse
    t15 = pd.DataFrame({"method": ["supervised", "simkd_cnn", "nkd", "mse"], "ACC": [0.99, 0.5, 0.5, 0.1],
                        "ECE": [0.0, 0.3, 0.1, 0.1]})
    assert simkd_cnn_best_mse_worst(t15).agrees is True  # the teacher row does not compete
    assert response_better_calibrated(t15).agrees is True
    assert response_better_calibrated(t15[t15["method"] != "simkd_cnn"]).agrees is None
    # equal mAP is not "below"
    t3 = pd.DataFrame({"role": ["R50-FPN", "R50-FPN"], "method": ["supervised", "simkd_fpn"], "mAP": [0.0, 0.0]})
    assert dla_students_below(t3).agrees is False
    assert dla_students_below(None).agrees is None
    t4 = pd.DataFrame({"prompt": ["task", "task"], "dla_model": ["none", "m"], "anls": [50.0, 52.5]})
    assert dla_tags_small_effect(t4, "m").agrees is False
    assert dla_tags_small_effect(t4, "m", tolerance=3.0).agrees is True


def test_write_claims(tmp_path: Path) -> None:
    claims = check_claims(_ours(kd_gain=-0.05), claim_tables_published())
    paths = write_claims(claims, tmp_path, "smoke")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == ["claim", "table", "statement", "evidence", "agrees", "paper_evidence", "paper_agrees"]
    assert csv["agrees"].tolist() == ["disagrees", "agrees", "agrees", "agrees", "agrees"]
    md = paths["md"].read_text()
    assert "smoke preset" in md and "| Claim | Paper's statement | This run's evidence | This run |" in md
    summary = json.loads(paths["json"].read_text())
    assert summary["claims"]["kd_beats_supervised"] == 0 and summary["n_agree"] == 4 and summary["n_na"] == 0
