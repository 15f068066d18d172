"""Calibration report: load_runs reads the temperature-scaling keys (NaN for older runs); the calibration table
averages seeds before / after scaling; the KD-vs-CE ECE gap before / after; the CSV / Markdown files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from report_helpers import dic_runs

from distildoc.report.calibration import (
    GAP_COLUMNS,
    TABLE_COLUMNS,
    calibration_gap,
    calibration_table,
    write_calibration_tables,
)
from distildoc.report.dic import TS_METRICS, load_runs


def row(teacher, student, method, seed, ece, ece_ts, t, split="test", aurc=0.1, aurc_ts=0.08, nll=1.0,
        nll_ts=0.8, acc=0.8, dataset="rvl", init="imagenet") -> dict:
    role = "teacher" if student is None else "student"
    return {"path": f"{teacher}/{student}/{method}/{seed}", "dataset": dataset, "role": role, "teacher": teacher,
            "student": student, "method": method, "init": init, "seed": seed, "split": split, "accuracy": acc,
            "ece": ece, "aurc": aurc, "nll": nll, "brier": 0.3, "ece_ts": ece_ts, "aurc_ts": aurc_ts,
            "nll_ts": nll_ts, "brier_ts": 0.25, "temperature": t, "n": 100}


NAN = math.nan
RUNS = pd.DataFrame([
    row("ViT-B", None, "supervised", 0, 0.02, 0.01, 1.2),
    # supervised CE student, two seeds: ECE 0.10 / 0.20 -> 0.15, after 0.04 / 0.06 -> 0.05, T 1.5 / 2.5 -> 2.0
    row(None, "ViT-S", "ce", 0, 0.10, 0.04, 1.5),
    row(None, "ViT-S", "ce", 1, 0.20, 0.06, 2.5, nll=1.2, nll_ts=0.9),
    row(None, "ViT-S", "ce", 0, 0.50, 0.40, 1.5, split="rvl_n"),  # another split: ignored
    # KD better calibrated than CE before scaling (-0.10) but not after (+0.01): the gap does not survive
    row("ViT-B", "ViT-S", "ce_kd", 0, 0.04, 0.05, 1.1),
    row("ViT-B", "ViT-S", "ce_kd", 1, 0.06, 0.07, 1.3),
    # KD worse calibrated before (+0.15) and after (+0.05): survives
    row("ViT-B", "ViT-S", "mse", 0, 0.30, 0.10, 3.0),
    # an older run without temperature scaling: NaN after-scaling columns, no verdict
    row("ViT-B", "ViT-S", "nkd", 0, 0.08, NAN, NAN, aurc_ts=NAN, nll_ts=NAN),
    # no CE baseline for ViT-T: in the table, not in the gaps
    row("ViT-B", "ViT-T", "fitnet", 0, 0.12, 0.05, 1.4),
    # R50's only CE run was trained under R101: the fallback baseline
    row("R101", "R50", "ce", 0, 0.10, 0.03, 1.5),
    row("R101", "R50", "simkd_cnn", 0, 0.05, 0.02, 1.6),
    # another init: its own cells, no CE baseline
    row("ViT-B", "ViT-S", "ce_kd", 0, 0.09, 0.03, 1.9, init="random"),
])


def _cell(table: pd.DataFrame, teacher, student, method, init="imagenet") -> pd.Series:
    t = table["teacher"].isna() if teacher is None else table["teacher"] == teacher
    s = table["student"].isna() if student is None else table["student"] == student
    hit = table[t & s & (table["method"] == method) & (table["init"] == init)]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def test_calibration_table_rows_and_seed_means() -> None:
    table = calibration_table(RUNS)
    assert list(table.columns) == TABLE_COLUMNS
    keys = [tuple(None if pd.isna(v) else v for v in (r.dataset, r.teacher, r.student, r.init, r.method))
            for r in table.itertuples()]  # a missing teacher / student: NaN in the frame
    assert keys == [
        ("rvl", None, "ViT-S", "imagenet", "ce"),
        ("rvl", "R101", "R50", "imagenet", "ce"),
        ("rvl", "R101", "R50", "imagenet", "simkd_cnn"),
        ("rvl", "ViT-B", None, "imagenet", "supervised"),
        ("rvl", "ViT-B", "ViT-S", "imagenet", "ce_kd"),
        ("rvl", "ViT-B", "ViT-S", "imagenet", "nkd"),
        ("rvl", "ViT-B", "ViT-S", "imagenet", "mse"),
        ("rvl", "ViT-B", "ViT-S", "random", "ce_kd"),
        ("rvl", "ViT-B", "ViT-T", "imagenet", "fitnet"),
    ]
    ce = _cell(table, None, "ViT-S", "ce")
    assert ce["n_seeds"] == 2
    assert ce["ece"] == pytest.approx(0.15) and ce["ece_ts"] == pytest.approx(0.05)
    assert ce["nll"] == pytest.approx(1.1) and ce["nll_ts"] == pytest.approx(0.85)
    assert ce["temperature"] == pytest.approx(2.0) and ce["aurc_ts"] == pytest.approx(0.08)
    nkd = _cell(table, "ViT-B", "ViT-S", "nkd")
    assert nkd["ece"] == pytest.approx(0.08) and math.isnan(nkd["ece_ts"]) and math.isnan(nkd["temperature"])
    assert _cell(table, "ViT-B", None, "supervised")["temperature"] == pytest.approx(1.2)


def test_calibration_gap_before_and_after_scaling() -> None:
    gap = calibration_gap(calibration_table(RUNS))
    assert list(gap.columns) == GAP_COLUMNS
    got = {(r.student, r.init, r.method): r for r in gap.itertuples()}
    assert set(got) == {("ViT-S", "imagenet", "ce_kd"), ("ViT-S", "imagenet", "mse"),
                        ("ViT-S", "imagenet", "nkd"), ("R50", "imagenet", "simkd_cnn")}
    kd = got[("ViT-S", "imagenet", "ce_kd")]
    assert kd.ece_gap == pytest.approx(-0.10) and kd.ece_gap_ts == pytest.approx(0.01)
    assert not bool(kd.survives)
    assert pd.isna(kd.baseline_teacher)  # the teacher-less CE run
    mse = got[("ViT-S", "imagenet", "mse")]
    assert mse.ece_gap == pytest.approx(0.15) and mse.ece_gap_ts == pytest.approx(0.05) and bool(mse.survives)
    assert got[("ViT-S", "imagenet", "nkd")].survives is pd.NA
    simkd = got[("R50", "imagenet", "simkd_cnn")]
    assert simkd.baseline_teacher == "R101" and simkd.ece_gap == pytest.approx(-0.05)
    assert simkd.ece_gap_ts == pytest.approx(-0.01) and bool(simkd.survives)
    # a tolerance turns a small surviving gap into "does not survive"
    strict = calibration_gap(calibration_table(RUNS), tol=0.02)
    assert not bool(strict[strict["method"] == "simkd_cnn"]["survives"].iloc[0])


def test_frames_without_ts_columns_still_tabulate() -> None:
    table = calibration_table(dic_runs())  # report_helpers' frame predates temperature scaling
    assert len(table) and table["ece_ts"].isna().all() and table["temperature"].isna().all()
    assert table["ece"].notna().all()
    gap = calibration_gap(table)
    assert gap["ece_gap"].notna().all() and gap["survives"].isna().all()


def test_write_calibration_tables(tmp_path: Path) -> None:
    paths = write_calibration_tables(RUNS, tmp_path / "tables")
    assert sorted(p.name for p in paths) == ["calibration.csv", "calibration.md", "calibration_gap.csv"]
    csv = pd.read_csv(tmp_path / "tables" / "calibration.csv")
    assert list(csv.columns) == TABLE_COLUMNS and len(csv) == 9
    md = (tmp_path / "tables" / "calibration.md").read_text()
    assert "| ECE (TS) |" in md and "| T |" in md and "ECE gap (TS)" in md and "Survives" in md
    assert "| 0.150 |" in md and "| 2.000 |" in md
    empty = write_calibration_tables(RUNS.iloc[0:0], tmp_path / "empty")
    assert "No test-split runs." in (tmp_path / "empty" / "calibration.md").read_text() and len(empty) == 3


def _run_json(method: str, teacher, student, seed: int, with_ts: bool) -> dict:
    split = {"accuracy": 0.8, "ece": 0.1, "aurc": 0.1, "nll": 1.0, "brier": 0.3, "n": 10, "skipped_inputs": []}
    run = {"dataset": "tobacco", "role": "student" if student else "teacher", "teacher": teacher,
           "student": student, "method": method, "init": "random", "seed": seed, "splits": {"test": dict(split)}}
    if with_ts:
        run["splits"]["test"].update(ece_ts=0.05, aurc_ts=0.09, nll_ts=0.7, brier_ts=0.28)
        run["calibration"] = {"temperature": 1.7, "fitted_on": "val", "n_val": 12, "nll_val": 1.1,
                              "nll_val_ts": 0.9}
    return run


def test_load_runs_reads_ts_columns_and_old_runs_load_with_nan(tmp_path: Path) -> None:
    paths = []
    for i, (method, teacher, student, with_ts) in enumerate((("ce", None, "ViT-S", True),
                                                              ("ce_kd", "ViT-B", "ViT-S", False))):
        p = tmp_path / f"r{i}" / "metrics.json"
        p.parent.mkdir()
        p.write_text(json.dumps(_run_json(method, teacher, student, 0, with_ts)))
        paths.append(p)
    df = load_runs(paths)
    for col in (*TS_METRICS, "temperature"):
        assert col in df.columns and df[col].dtype == "float64"
    new, old = df.iloc[0], df.iloc[1]
    assert new["ece_ts"] == 0.05 and new["brier_ts"] == 0.28 and new["temperature"] == 1.7
    assert all(math.isnan(old[c]) for c in (*TS_METRICS, "temperature"))
    table = calibration_table(df)
    assert table["temperature"].tolist()[0] == 1.7


@pytest.mark.parametrize("mutate, needle", [
    (lambda r: r["splits"]["test"].update(ece_ts="low"), "ece_ts"),
    (lambda r: r.update(calibration={"temperature": "hot"}), "temperature"),
    (lambda r: r.update(calibration=[1.0]), "calibration"),
])
def test_load_runs_rejects_malformed_calibration_keys(tmp_path: Path, mutate, needle: str) -> None:
    run = _run_json("ce", None, "ViT-S", 0, True)
    mutate(run)
    p = tmp_path / "metrics.json"
    p.write_text(json.dumps(run))
    with pytest.raises(ValueError, match=needle):
        load_runs([p])
