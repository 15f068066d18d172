"""Any trained layout model over a folder of page images (`distildoc.train.dla.predict_folder`, rule
dla_predict_folder), on the real PubLayNet JPEGs: one record per image, label names from the model's own
training categories."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from distildoc.data.coco import load_coco
from distildoc.data.labels import DOCLAYNET_CATEGORIES
from distildoc.models.detection import build_detector, detector_spec
from distildoc.train.dla import model_label_names, predict_folder
from distildoc.utils.io import write_json

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def publaynet(realdata: Path) -> Path:
    return realdata / "publaynet"


def _model_dir(root: Path, categories: list[dict] | None) -> Path:
    """A saved detector as `train_dla` leaves it (model.pt, spec.json, metrics.json), untrained and tiny."""
    n = max(c["id"] for c in categories) + 1 if categories else len(DOCLAYNET_CATEGORIES) + 1
    spec = detector_spec("R50-FPN", "embedded", num_classes=n).replace(
        arch="resnet", backbone="resnet50", backbone_weights=None, norm="bn", freeze_at=0,
        fpn_channels=16, box_head_dim=32, mask_channels=8, rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20,
        detections_per_img=5, score_thresh=0.0, backbone_kwargs=dict(layers=(1, 1, 1, 1), channels=(8, 8, 16, 16)),
        min_size=96, max_size=128)
    torch.manual_seed(0)
    model = build_detector(spec)
    root.mkdir(parents=True)
    torch.save(model.state_dict(), root / "model.pt")
    write_json(root / "spec.json", spec.to_dict())
    write_json(root / "metrics.json", {"role": "R50-FPN", **({"categories": categories} if categories else {})})
    return root


def test_predicts_every_page_image_with_the_models_label_names(publaynet: Path, tmp_path: Path) -> None:
    cats = load_coco(publaynet / "samples.json")["categories"]
    model_dir = _model_dir(tmp_path / "model", [{"id": c["id"], "name": c["name"]} for c in cats])
    assert model_label_names(model_dir) == {1: "text", 2: "title", 3: "list", 4: "table", 5: "figure"}
    obj = predict_folder(model_dir, publaynet, tmp_path / "out.json", score_thresh=0.0)
    jpgs = sorted(p.name for p in publaynet.glob("*.jpg"))
    assert [r["file_name"] for r in obj["images"]] == jpgs  # SOURCES.md / LICENSE.md / samples.json ignored
    assert obj["format"] == "distildoc-dla-predictions/v1" and obj["skipped_inputs"] == []
    assert obj["label_names"] == ["text", "title", "list", "table", "figure"]
    for rec in obj["images"]:
        with Image.open(publaynet / rec["file_name"]) as im:
            assert rec["image_size"] == list(im.size)
        w, h = rec["image_size"]
        assert set(rec["labels"]) <= {"text", "title", "list", "table", "figure"}
        assert all(0 <= x1 <= x2 <= w + 1e-3 and 0 <= y1 <= y2 <= h + 1e-3 for x1, y1, x2, y2 in rec["boxes"])
    assert any(rec["boxes"] for rec in obj["images"])  # score 0: an untrained model still proposes boxes


def test_older_models_are_doclaynet_labelled_and_bad_folders_are_named(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path / "model", None)
    assert model_label_names(model_dir) == {i + 1: n for i, n in enumerate(DOCLAYNET_CATEGORIES)}
    pages = tmp_path / "pages"
    pages.mkdir()
    with pytest.raises(ValueError, match=f"{pages}: no page image"):
        predict_folder(model_dir, pages, tmp_path / "out.json")
    with pytest.raises(FileNotFoundError, match="page image folder not found: .*missing"):
        predict_folder(model_dir, tmp_path / "missing", tmp_path / "out.json")
    Image.new("RGB", (120, 160), "white").save(pages / "a.PNG")
    (pages / "b.png").write_bytes(b"not a png")
    (pages / "notes.txt").write_text("x")
    obj = predict_folder(model_dir, pages, tmp_path / "out.json", score_thresh=0.5)
    assert [r["file_name"] for r in obj["images"]] == ["a.PNG"]
    assert obj["skipped_inputs"] == [str(pages / "b.png")]
