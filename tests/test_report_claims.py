"""The paper's five claims, checked on constructed results that agree and that disagree, on the paper, and on
interval fixtures (agrees / disagrees / inconclusive)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
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
from distildoc.report.dic_stats import KD_COLUMNS, T15_COLUMNS, read_interval_csv
from distildoc.report.layout_stats import DLA_COLUMNS, DOCVQA_COLUMNS
from distildoc.report.paper import claim_tables_ours, claim_tables_published

NAN = math.nan


def _ours(**kw) -> dict:
    return claim_tables_ours(dic_runs(kw.get("kd_gain", 0.05)), dla_runs(*kw.get("dla", (10.0, 20.0))),
                             docvqa_runs(0.50, kw.get("with_dla", 0.51)))


def test_every_claim_holds_on_the_published_numbers() -> None:
    claims = check_claims({}, claim_tables_published())
    assert claims["paper_verdict"].tolist() == ["agrees"] * 5
    assert claims["verdict"].tolist() == ["n/a"] * 5  # nothing measured: n/a, not disagreement
    ev = claims.set_index("claim")["paper_evidence"]
    assert "simkd_cnn 0.6291" in ev["simkd_cnn_best_mse_worst"] and ev["simkd_cnn_best_mse_worst"].endswith("mse 0.4900")
    assert "57.63 → 58.39 (+0.76)" in ev["dla_tags_small_effect"]
    assert ev["dla_students_below"].startswith("4/4 below")


def test_constructed_results_that_agree() -> None:
    claims = check_claims(_ours(), claim_tables_published())
    assert dict(zip(claims["claim"], claims["verdict"])) == {
        "kd_beats_supervised": "agrees", "simkd_cnn_best_mse_worst": "agrees", "response_better_calibrated": "agrees",
        "dla_students_below": "agrees", "dla_tags_small_effect": "agrees"}
    assert set(claims["basis"]) == {"point values"}  # no interval frames given


def test_constructed_results_that_disagree() -> None:
    ours = _ours(kd_gain=-0.05, dla=(30.0, 20.0), with_dla=0.80)
    # on RVL-CDIP-N: make MSE the best and swap the calibration of the two groups
    t15 = ours["table15"].copy()
    t15.loc[t15["method"] == "mse", "ACC"] = 0.99
    t15["ECE"] = 0.4 - t15["ECE"]
    ours["table15"] = t15
    claims = check_claims(ours)
    assert claims["verdict"].tolist() == ["disagrees"] * 5
    assert "paper_verdict" not in claims.columns
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
    assert res.verdict == "agrees" and res.basis == "point values" and "ce_distildoc" in res.evidence
    assert kd_beats_supervised(t6[t6["method"] != "mse"]).verdict == "n/a"  # a method missing: n/a
    # ties: the best set holds simkd_cnn, the worst set mse
    t15 = pd.DataFrame({"method": ["supervised", "simkd_cnn", "nkd", "mse"], "ACC": [0.99, 0.5, 0.5, 0.1],
                        "ECE": [0.0, 0.3, 0.1, 0.1]})
    assert simkd_cnn_best_mse_worst(t15).verdict == "agrees"  # the teacher row does not compete
    assert response_better_calibrated(t15).verdict == "agrees"
    assert response_better_calibrated(t15[t15["method"] != "simkd_cnn"]).verdict == "n/a"
    # equal mAP is not "below"
    t3 = pd.DataFrame({"role": ["R50-FPN", "R50-FPN"], "method": ["supervised", "simkd_fpn"], "mAP": [0.0, 0.0]})
    assert dla_students_below(t3).verdict == "disagrees"
    assert dla_students_below(None).verdict == "n/a"
    t4 = pd.DataFrame({"prompt": ["task", "task"], "dla_model": ["none", "m"], "anls": [50.0, 52.5]})
    assert dla_tags_small_effect(t4, "m").verdict == "disagrees"
    assert dla_tags_small_effect(t4, "m", tolerance=3.0).verdict == "agrees"


def test_write_claims(tmp_path: Path) -> None:
    claims = check_claims(_ours(kd_gain=-0.05), claim_tables_published())
    paths = write_claims(claims, tmp_path, "smoke")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == ["claim", "table", "statement", "evidence", "verdict", "basis", "paper_evidence",
                                 "paper_verdict"]
    assert csv["verdict"].tolist() == ["disagrees", "agrees", "agrees", "agrees", "agrees"]
    md = paths["md"].read_text()
    assert "smoke preset" in md
    assert "| Claim | Paper's statement | This run's evidence | This run | Judged on | Check on the paper's numbers |" \
        in md
    summary = json.loads(paths["json"].read_text())
    assert summary["claims"]["kd_beats_supervised"] == 0 and summary["n_agree"] == 4 and summary["n_na"] == 0
    assert summary["verdicts"]["kd_beats_supervised"] == "disagrees" and summary["n_inconclusive"] == 0
    assert summary["paper_verdicts"] == {k: "agrees" for k in csv["claim"]}


# ------------------------------------------------------------------------------------------------
# interval fixtures
# ------------------------------------------------------------------------------------------------


def _kd(verdicts: dict[tuple[str, str], tuple[float, float, float, str]], init: str = "random") -> pd.DataFrame:
    """KD-vs-supervised rows (ViT-B teacher, RVL test): (student, method) -> (delta, low, high, verdict); both
    intervals set to (low, high)."""
    rows = []
    for (student, method), (delta, low, high, verdict) in verdicts.items():
        row = {c: NAN for c in KD_COLUMNS}
        row.update(dataset="rvl", split="test", init=init, teacher="ViT-B", student=student, method=method,
                   label=method, n_seeds=3, n_seeds_ce=3, accuracy=0.7 + delta, accuracy_ce=0.7, delta=delta,
                   welch_low=low, welch_high=high, boot_low=low, boot_high=high, verdict_welch=verdict,
                   verdict_bootstrap=verdict, verdict=verdict)
        rows.append(row)
    return pd.DataFrame(rows, columns=KD_COLUMNS)


CLEAR = (0.10, 0.05, 0.15, "agrees")
STRADDLE = (0.01, -0.02, 0.04, "inconclusive")
BELOW = (-0.10, -0.15, -0.05, "disagrees")


def _kd_grid(**override) -> pd.DataFrame:
    cells = {(s, m): CLEAR for s in ("ViT-S", "ViT-T") for m in ("ce_kd", "mse", "simkd_cnn")}
    cells.update(override.get("cells", {}))
    return _kd(cells)


def test_kd_beats_supervised_from_intervals(tmp_path: Path) -> None:
    ours = _ours()  # point values alone: agrees
    res = kd_beats_supervised(ours["table6"], kd=_kd_grid())
    assert res.verdict == "agrees" and res.basis == "intervals"
    assert "vanilla KD: ViT-S ΔACC +0.1000 (Welch [+0.0500, +0.1500], pages [+0.0500, +0.1500]) agrees" in res.evidence
    # one comparison straddles zero: the point margins still agree, the intervals do not decide
    res = kd_beats_supervised(ours["table6"], kd=_kd_grid(cells={("ViT-T", "mse"): STRADDLE}))
    assert res.verdict == "inconclusive"
    assert "MSE: ViT-S ΔACC +0.1000" in res.evidence and "ViT-T ΔACC +0.0100 (Welch [-0.0200, +0.0400]" in res.evidence
    # one clear counter-example: disagrees
    assert kd_beats_supervised(ours["table6"], kd=_kd_grid(cells={("ViT-S", "ce_kd"): BELOW})).verdict == "disagrees"
    # the best SimKD variant by mean accuracy is the one judged
    kd = _kd_grid(cells={("ViT-S", "simkd_cnn"): STRADDLE, ("ViT-S", "simkd_cls_mlp"): (0.2, 0.1, 0.3, "agrees")})
    res = kd_beats_supervised(ours["table6"], kd=kd)
    # ViT-S: the straddling simkd_cnn is not its best SimKD (simkd_cls_mlp is, and clear): agrees
    assert res.verdict == "agrees"
    assert "ViT-S simkd_cls_mlp ΔACC +0.2000" in res.evidence and "ViT-S simkd_cnn" not in res.evidence
    # an interval that cannot be computed: the point value decides that comparison, marked
    na = _kd_grid(cells={("ViT-T", "mse"): (0.03, NAN, NAN, "n/a")})
    res = kd_beats_supervised(ours["table6"], kd=na)
    assert res.verdict == "agrees" and res.basis == "intervals + point values" and "agrees [point]" in res.evidence
    # the same from the CSV the pipeline writes (the verdict "n/a" must stay a word, not a missing value)
    csv = tmp_path / "kd.csv"
    na.to_csv(csv, index=False, na_rep="NaN")
    again = kd_beats_supervised(ours["table6"], kd=read_interval_csv(csv))
    assert (again.verdict, again.basis, again.evidence) == (res.verdict, res.basis, res.evidence)
    # a missing family: n/a
    assert kd_beats_supervised(None, kd=_kd({("ViT-S", "ce_kd"): CLEAR})).verdict == "n/a"
    # the rows of the Table 6 init (pretrained when present)
    both = pd.concat([_kd_grid(), _kd({k: BELOW for k in _kd_grid().set_index(["student", "method"]).index},
                                      init="imagenet")])
    assert kd_beats_supervised(None, kd=both).verdict == "disagrees"
    assert kd_beats_supervised(None, kd=both, init="random").verdict == "agrees"


def _t15(rows: list[tuple]) -> pd.DataFrame:
    out = []
    for comparison, metric, a, b, sign, est, low, high, verdict in rows:
        out.append({"comparison": comparison, "metric": metric, "a": a, "b": b, "expected_sign": sign,
                    "estimate": est, "low": low, "high": high, "n_runs_a": 2, "n_runs_b": 2, "n_pages": 40,
                    "n_resamples": 500, "note": "", "verdict": verdict})
    return pd.DataFrame(out, columns=T15_COLUMNS)


def test_table15_claims_from_intervals() -> None:
    t15 = _ours()["table15"]
    clear = _t15([("simkd_cnn_best", "ACC", "simkd_cnn", "nkd", 1, 0.15, 0.1, 0.2, "agrees"),
                  ("mse_worst", "ACC", "mse", "nkd", -1, -0.15, -0.2, -0.1, "agrees"),
                  ("response_vs_feature", "ECE", "ce_kd+mse", "fitnet+simkd_cnn", -1, -0.2, -0.25, -0.1, "agrees")])
    res = simkd_cnn_best_mse_worst(t15, clear)
    assert res.verdict == "agrees" and res.basis == "intervals" and "page bootstrap: 2/2 comparisons clear" in res.evidence
    res = response_better_calibrated(t15, clear)
    assert res.verdict == "agrees" and "page bootstrap [-0.2500, -0.1000] (500 resamples)" in res.evidence
    straddle = _t15([("simkd_cnn_best", "ACC", "simkd_cnn", "nkd", 1, 0.01, -0.05, 0.07, "inconclusive"),
                     ("mse_worst", "ACC", "mse", "nkd", -1, -0.15, -0.2, -0.1, "agrees"),
                     ("response_vs_feature", "ECE", "r", "f", -1, -0.01, -0.03, 0.02, "inconclusive")])
    res = simkd_cnn_best_mse_worst(t15, straddle)
    assert res.verdict == "inconclusive" and "not clear: simkd_cnn − nkd +0.0100 [-0.0500, +0.0700] inconclusive" \
        in res.evidence
    assert response_better_calibrated(t15, straddle).verdict == "inconclusive"
    other_side = _t15([("response_vs_feature", "ECE", "r", "f", -1, 0.2, 0.1, 0.3, "disagrees")])
    assert response_better_calibrated(t15, other_side).verdict == "disagrees"


def test_layout_claims_from_intervals() -> None:
    t3 = _ours()["table3"]  # every student 10 mAP below its supervised model (20)
    rows = []
    for role, method, low, high, verdict in (("R50-FPN", "simkd_fpn", -12.0, -8.0, "agrees"),
                                             ("R50-FPN", "reviewkd", -3.0, 1.0, "inconclusive"),
                                             ("ViT-T-FPN", "simkd_fpn", -15.0, -5.0, "agrees"),
                                             ("ViT-T-FPN", "reviewkd", NAN, NAN, "n/a")):
        rows.append({"role": role, "teacher": "x", "method": method, "model": "m", "baseline": "b", "mAP": 10.0,
                     "mAP_supervised": 20.0, "delta": -10.0, "low": low, "high": high, "n_pages": 60,
                     "n_resamples": 200, "note": "", "verdict": verdict})
    dla = pd.DataFrame(rows, columns=DLA_COLUMNS)
    res = dla_students_below(t3, dla)
    assert res.verdict == "inconclusive" and res.basis == "intervals + point values"
    assert "R50-FPN reviewkd 10.00 vs supervised 20.00 (Δ -10.00, pages [-3.00, +1.00]) inconclusive" in res.evidence
    assert "ViT-T-FPN reviewkd 10.00 vs supervised 20.00 agrees [point]" in res.evidence
    dla.loc[1, ["low", "high", "verdict"]] = [-20.0, -1.0, "agrees"]
    assert dla_students_below(t3, dla).verdict == "agrees"
    dla.loc[1, ["low", "high", "verdict"]] = [1.0, 4.0, "disagrees"]
    assert dla_students_below(t3, dla).verdict == "disagrees"

    t4 = _ours(with_dla=0.505)["table4"]  # ANLS 50.0 -> 50.5
    dv = pd.DataFrame([{"dataset": "synthetic", "prompt": p, "dla_model": "none__ViT-B-FPN__supervised",
                        "anls_without": 50.0, "anls_with": 50.5, "delta": 0.5, "low": low, "high": high,
                        "n_questions": 24, "n_resamples": 2000, "tolerance": 2.0, "note": "", "verdict": v}
                       for p, low, high, v in (("task", -1.0, 1.5, "agrees"), ("task_space", -4.0, 5.0,
                                                                               "inconclusive"))],
                      columns=DOCVQA_COLUMNS)
    res = dla_tags_small_effect(t4, intervals=dv)
    assert res.verdict == "inconclusive" and "task_space: 50.00 → 50.50 (+0.50), questions [-4.00, +5.00]" in res.evidence
    assert dla_tags_small_effect(t4, intervals=dv.iloc[:1]).basis == "intervals + point values"


def test_check_claims_passes_the_interval_frames() -> None:
    claims = check_claims(_ours(), claim_tables_published(),
                          intervals={"kd_vs_supervised": _kd_grid(cells={("ViT-T", "mse"): STRADDLE})}, init="random")
    by = claims.set_index("claim")
    assert by.loc["kd_beats_supervised", "verdict"] == "inconclusive"
    assert by.loc["kd_beats_supervised", "basis"] == "intervals"
    assert by.loc["kd_beats_supervised", "paper_verdict"] == "agrees"  # the paper: point values
    assert by.loc["dla_students_below", "basis"] == "point values"
    with pytest.raises(KeyError, match="unknown interval frame"):
        check_claims(_ours(), intervals={"table6": None})
