"""Determinism on CPU: the same seed and recipe twice give identical metrics JSON (timing fields aside:
`distildoc.utils.records.TIMING_KEYS`), for a classification run and a layout-detector job."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from distildoc.config import load_preset
from distildoc.data.coco import load_coco
from distildoc.train.dla import subset_coco, train_dla
from distildoc.utils.io import write_json
from distildoc.utils.records import without_timing
from test_resume import _classification_run

REPO = Path(__file__).resolve().parents[1]


def test_classification_twice_gives_identical_metrics(tmp_path: Path) -> None:
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        _classification_run(tmp_path / run, "nkd")
    a, b = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("a", "b"))
    assert a == b
    assert (tmp_path / "a" / "logits.npy").read_bytes() == (tmp_path / "b" / "logits.npy").read_bytes()


def test_detection_job_twice_gives_identical_metrics(synthetic_root: Path, tmp_path: Path) -> None:
    coco = load_coco(synthetic_root / "rvl" / "layout" / "train.json")
    write_json(tmp_path / "train.json", subset_coco(coco, 2))
    write_json(tmp_path / "val.json", subset_coco(coco, 1))
    cfg = copy.deepcopy(load_preset(REPO / "params.yaml", "smoke")["dla"])
    cfg["recipes"]["resnet"].update(iterations=2, warmup_iters=1)
    runs = [train_dla(tmp_path / r, "R50-FPN", cfg, tmp_path / "train.json", tmp_path / "val.json",
                      synthetic_root / "rvl") for r in ("a", "b")]
    assert runs[0]["train"]["wall_time_s"] > 0
    files = [without_timing(json.loads((tmp_path / r / "metrics.json").read_text())) for r in ("a", "b")]
    assert files[0] == files[1]
    assert "predict_seconds" not in files[0] and "wall_time_s" not in files[0]["train"]
    assert (tmp_path / "a" / "model.pt").read_bytes() != b""
