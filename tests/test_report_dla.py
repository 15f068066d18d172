"""Table 3 from hand-made model metrics and an efficiency file (the `dla_efficiency` rule's format)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distildoc.report.dla import load_dla_runs, table3


def _metrics(root: Path, folder: str, map_: float) -> Path:
    teacher, role, method = folder.split("__")
    d = root / folder
    d.mkdir(parents=True)
    m = {"role": role, "method": method, "mAP": map_, "bbox": {"AP50": 2 * map_, "AP75": map_ / 2},
         "segm": {"AP": map_ - 1}, "params_M": 9.9, "train": {"wall_time_s": 12.0, "iterations": 40}}
    (d / "metrics.json").write_text(json.dumps(m))
    return d / "metrics.json"


def test_efficiency_file_supplies_the_efficiency_columns(tmp_path: Path) -> None:
    paths = [_metrics(tmp_path, "none__R101-FPN__supervised", 30.0),
             _metrics(tmp_path, "R101-FPN__R50-FPN__simkd_fpn", 20.0)]
    eff = {"note": "x", "models": {
        "none__R101-FPN__supervised": {"params_M": 2.35, "gflops": 2.5, "images_per_second": 7.0},
        "R101-FPN__R50-FPN__simkd_fpn": {"params_M": 1.77, "gflops": 2.2, "images_per_second": 9.0}}}
    (tmp_path / "eff.json").write_text(json.dumps(eff))
    df = load_dla_runs(paths, tmp_path / "eff.json")
    t = table3(df)
    r101 = t[(t.Teacher == "R101") & (t.Student == "–")].iloc[0]
    assert (r101["mAP"], r101["FLOPs (G)"], r101["Params (M)"], r101["Im/s"]) == (30.0, 2.5, 2.35, 7.0)
    kd = t[(t.Teacher == "R101") & (t.Method == "SimKD")].iloc[0]
    assert (kd["Student"], kd["mAP"], kd["Im/s"]) == ("R50", 20.0, 9.0)
    # rows of the paper's layout whose runs are absent stay in place, empty
    assert len(t) == 8 and t["mAP"].isna().sum() == 6


def test_a_model_missing_from_the_efficiency_file_is_named(tmp_path: Path) -> None:
    paths = [_metrics(tmp_path, "none__R50-FPN__supervised", 10.0)]
    (tmp_path / "eff.json").write_text(json.dumps({"models": {"other": {}}}))
    with pytest.raises(ValueError, match="none__R50-FPN__supervised"):
        load_dla_runs(paths, tmp_path / "eff.json")


def test_methods_beyond_the_paper_follow_its_rows_marked(tmp_path: Path) -> None:
    paths = [_metrics(tmp_path, "R101-FPN__R50-FPN__pkd", 41.0), _metrics(tmp_path, "none__R50-FPN__supervised", 40.0)]
    eff = {"models": {Path(p).parent.name: {"params_M": 1.0, "gflops": 2.0, "images_per_second": 3.0} for p in paths}}
    (tmp_path / "eff.json").write_text(json.dumps(eff))
    t = table3(load_dla_runs(paths, tmp_path / "eff.json"))
    # the paper's eight rows first, then PKD (marked †, not in the paper)
    assert len(t) == 9 and t.iloc[:8]["Method"].str.endswith("†").sum() == 0
    last = t.iloc[8]
    assert (last["Teacher"], last["Student"], last["Method"], last["mAP"]) == ("R101", "R50", "PKD †", 41.0)
