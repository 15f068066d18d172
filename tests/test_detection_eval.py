"""COCO evaluation on the real PubLayNet fixture (hand-checked values), predictions, export, efficiency,
and a tiny train → predict → evaluate loop on synthetic pages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor
from pycocotools import mask as mask_utils

from distildoc.data.coco import CocoDetectionDataset, load_coco
from distildoc.data.labels import DOCLAYNET_CATEGORIES
from distildoc.evaluate.detection import (
    STAT_NAMES,
    coco_evaluate,
    count_flops,
    count_params,
    export_predictions,
    images_per_second,
    measure_efficiency,
    predict,
    predict_dataset,
)
from distildoc.models.detection import build_detector, detector_spec
from distildoc.train.detection import DetectionTrainConfig, train_detector

torch.set_num_threads(1)

PUBLAYNET = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "publaynet"


@pytest.fixture(scope="module")
def publaynet() -> dict:
    if not (PUBLAYNET / "samples.json").is_file():
        pytest.skip(f"PubLayNet fixture not found at {PUBLAYNET}")
    return load_coco(PUBLAYNET / "samples.json")


def _gt_as_predictions(gt: dict) -> list[dict]:
    images = {im["id"]: im for im in gt["images"]}
    preds = []
    for a in gt["annotations"]:
        im = images[a["image_id"]]
        rle = mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], im["height"], im["width"]))
        rle["counts"] = rle["counts"].decode("ascii")
        preds.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]),
                      "score": 1.0, "segmentation": rle})
    return preds


def _iou_xywh(a, b) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_ground_truth_scores_100(publaynet):
    res = coco_evaluate(publaynet, _gt_as_predictions(publaynet))
    assert set(res) == {"bbox", "segm"}
    for iou_type in ("bbox", "segm"):
        for name in ("AP", "AP50", "AP75"):
            assert res[iou_type][name] == pytest.approx(100.0)
        assert set(res[iou_type]["per_class"]) == {"text", "title", "list", "table", "figure"}
        assert all(v == pytest.approx(100.0) for v in res[iou_type]["per_class"].values())


def test_shrunk_boxes_hand_checked(publaynet):
    """Every box shrunk about its centre by s = 0.72 per side lies inside its ground truth, so
    IoU = s² = 0.5184 exactly: a match at IoU 0.50 only (not at 0.55 .. 0.95). AP over the ten thresholds
    = (100 + 9 × 0) / 10 = 10.0, AP50 = 100, AP75 = 0."""
    s = 0.72
    preds = []
    for p in _gt_as_predictions(publaynet):
        x, y, w, h = p["bbox"]
        preds.append({**{k: v for k, v in p.items() if k != "segmentation"},
                      "bbox": [x + w * (1 - s) / 2, y + h * (1 - s) / 2, w * s, h * s]})
    # the analytic premise: IoU 0.5184 with its own box, < 0.5 with every other box of the same class/page
    for p, a in zip(preds, publaynet["annotations"]):
        assert _iou_xywh(p["bbox"], a["bbox"]) == pytest.approx(s * s)
        others = [b for b in publaynet["annotations"] if b is not a and b["image_id"] == a["image_id"]
                  and b["category_id"] == a["category_id"]]
        assert all(_iou_xywh(p["bbox"], b["bbox"]) < 0.5 for b in others)
    res = coco_evaluate(publaynet, preds, iou_types=("bbox",))["bbox"]
    assert res["AP"] == pytest.approx(10.0)
    assert res["AP50"] == pytest.approx(100.0)
    assert res["AP75"] == pytest.approx(0.0)


def test_missing_class_hand_checked(publaynet):
    """Dropping every 'title' prediction: that class scores 0, the four others 100 → AP = 80.0 (mean over
    the five classes with ground truth), for boxes and masks alike."""
    preds = [p for p in _gt_as_predictions(publaynet) if p["category_id"] != 2]
    res = coco_evaluate(publaynet, preds)
    for iou_type in ("bbox", "segm"):
        assert res[iou_type]["AP"] == pytest.approx(80.0)
        assert res[iou_type]["per_class"]["title"] == pytest.approx(0.0)
        assert res[iou_type]["per_class"]["text"] == pytest.approx(100.0)


def test_no_predictions(publaynet):
    res = coco_evaluate(publaynet, [], iou_types=("bbox",))
    assert res["bbox"]["AP"] == 0.0 and res["bbox"]["num_predictions"] == 0
    with pytest.raises(ValueError, match="image ids"):
        coco_evaluate(publaynet, [{"image_id": -5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}])


def _tiny_spec():
    return detector_spec("R50-FPN", "embedded").replace(
        arch="resnet", backbone="resnet50", backbone_weights=None, norm="bn", freeze_at=0,
        fpn_channels=32, box_head_dim=64, mask_channels=16, rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=50,
        rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50, box_batch_size_per_image=32, detections_per_img=10,
        score_thresh=0.0, backbone_kwargs=dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64)), min_size=128,
        max_size=192)


@pytest.fixture(scope="module")
def synthetic_pages(tmp_path_factory):
    from distildoc.data.synthetic.generate import generate_split

    root = tmp_path_factory.mktemp("dla")
    generate_split(root, "rvl", "val", n_per_class=1, seed=0, progress=False)
    coco = load_coco(root / "rvl" / "layout" / "val.json")
    keep = [im["id"] for im in coco["images"][:2]]
    small = {**coco, "images": [im for im in coco["images"] if im["id"] in keep],
             "annotations": [a for a in coco["annotations"] if a["image_id"] in keep]}
    return root / "rvl", small


def test_train_predict_evaluate_loop(synthetic_pages, tmp_path):
    root, coco = synthetic_pages
    torch.manual_seed(0)
    model = build_detector(_tiny_spec())
    train_set = CocoDetectionDataset(root, coco)
    cfg = DetectionTrainConfig(iterations=2, batch_size=2, lr=0.01, warmup_iters=1, progress=False, log_every=1,
                               multi_scale=(96, 128))
    result = train_detector(model, train_set, cfg, ckpt_dir=tmp_path / "ckpt")
    assert model.transform.min_size == (128,)  # the multi-scale setting is restored after training
    assert result["completed"] and result["iterations"] == 2 and result["wall_time_s"] > 0
    assert Path(result["checkpoint"]).is_file()
    assert {"iter", "lr", "loss", "loss_mask"} <= set(result["history"][-1])
    # predict on a resized copy (boxes / masks mapped back to 612×792) and evaluate
    eval_set = CocoDetectionDataset(root, coco, size=(153, 198))
    preds = predict_dataset(model, eval_set, batch_size=2)
    assert preds, "score_thresh 0 should leave detections"
    assert {p["image_id"] for p in preds} <= {im["id"] for im in coco["images"]}
    m = mask_utils.decode(preds[0]["segmentation"])
    assert m.shape == (792, 612)
    assert all(p["bbox"][0] + p["bbox"][2] <= 612 + 1e-3 and p["bbox"][1] + p["bbox"][3] <= 792 + 1e-3 for p in preds)
    res = coco_evaluate(coco, preds)
    for iou_type in ("bbox", "segm"):
        assert set(STAT_NAMES) <= set(res[iou_type])
        assert 0.0 <= res[iou_type]["AP"] <= 100.0
        assert set(res[iou_type]["per_class"]) == set(DOCLAYNET_CATEGORIES)
    # export for the DocVQA stage: boxes in the page's pixels, names, descending scores
    paths = [root / im["file_name"] for im in coco["images"]]
    obj = export_predictions(model, paths, tmp_path / "dla.json", score_thresh=0.0, label_names=DOCLAYNET_CATEGORIES)
    on_disk = json.loads((tmp_path / "dla.json").read_text())
    assert on_disk == obj and obj["format"] == "distildoc-dla-predictions/v1"
    rec = obj["images"][0]
    assert rec["file_name"] == Path(coco["images"][0]["file_name"]).name and rec["image_size"] == [612, 792]
    assert len(rec["boxes"]) == len(rec["labels"]) == len(rec["scores"])
    assert all(lab in DOCLAYNET_CATEGORIES for lab in rec["labels"])
    assert rec["scores"] == sorted(rec["scores"], reverse=True)
    from distildoc.docvqa.enrich import select_predictions

    selected = select_predictions(rec, (612, 792), 0.0, ())
    assert len(selected) == len(rec["boxes"])
    assert obj["skipped_inputs"] == []


def test_export_skips_and_names_unreadable_pages(tmp_path: Path):
    torch.manual_seed(0)
    model = build_detector(_tiny_spec()).eval()
    good = tmp_path / "good.png"
    Image.new("RGB", (128, 160), "white").save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    obj = export_predictions(model, [good, truncated, empty], tmp_path / "dla.json")
    assert [r["file_name"] for r in obj["images"]] == ["good.png"]
    assert obj["skipped_inputs"] == [str(truncated), str(empty)]
    with pytest.raises(FileNotFoundError, match="missing.png"):
        export_predictions(model, [tmp_path / "missing.png"], tmp_path / "dla2.json")


def test_predict_rescales_to_original_size():
    torch.manual_seed(0)
    model = build_detector(_tiny_spec()).eval()
    img = torch.rand(3, 160, 128)
    small = predict(model, [img], [7], masks=True)
    big = predict(model, [img], [7], orig_sizes=[(256, 320)], masks=True)
    assert len(small) == len(big) > 0
    for a, b in zip(small, big):
        assert np.allclose(np.array(b["bbox"]), 2 * np.array(a["bbox"]), atol=2e-3)
        assert mask_utils.decode(b["segmentation"]).shape == (320, 256)


def test_efficiency_helpers():
    torch.manual_seed(0)
    model = build_detector(_tiny_spec())
    n = count_params(model)
    assert n == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6)
    bb = count_flops(model, (160, 128), part="backbone")
    total = count_flops(model, (160, 128))
    assert 0 < bb < total
    # FlopCounterMode counts 2 FLOPs per MAC: check on the FPN's first 1×1 lateral conv alone
    from torch.utils.flop_counter import FlopCounterMode

    conv = model.backbone.fpn.inner_blocks[0][0]
    with FlopCounterMode(display=False) as counter:
        conv(torch.zeros(1, conv.in_channels, 8, 8))
    assert counter.get_total_flops() == 2 * conv.in_channels * conv.out_channels * 64
    assert images_per_second(model, (160, 128), warmup=0, iters=1) > 0
    assert model.training  # restored


def test_measure_efficiency_interleaves_rounds_and_reports_the_median():
    torch.manual_seed(0)
    models = {"a": build_detector(_tiny_spec()), "b": build_detector(_tiny_spec())}
    res = measure_efficiency(models, (160, 128), warmup=0, iters=1, rounds=3)
    assert set(res) == {"a", "b"}
    for name, rec in res.items():
        assert len(rec["images_per_second_rounds"]) == 3
        assert rec["images_per_second"] == pytest.approx(float(np.median(rec["images_per_second_rounds"])))
        assert rec["params_M"] == pytest.approx(count_params(models[name]))
        assert rec["gflops"] == pytest.approx(count_flops(models[name], (160, 128)))


class _Recorder(torch.nn.Module):
    """Stands in for a detector: records the images of each call, and each call in a shared `log` as
    ``(name, part, first pixel of each image)``."""

    def __init__(self, name: str = "m", log: list | None = None) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.name, self.log = name, log if log is not None else []
        self.calls: list[list[Tensor]] = []

    def forward(self, images):
        self.calls.append([im.clone() for im in images])
        self.log.append((self.name, "all", [int(im[0, 0, 0]) for im in images]))
        return [{"boxes": torch.zeros(0, 4)} for _ in images]

    def transform(self, images):
        from types import SimpleNamespace

        return (SimpleNamespace(tensors=torch.stack(images)),)

    def backbone(self, tensor):
        self.log.append((self.name, "backbone", [int(v) for v in tensor[:, 0, 0, 0]]))


def test_throughput_cycles_through_the_given_pages_in_order():
    pages = [torch.full((3, 8, 6), float(i)) for i in range(3)]
    model = _Recorder()
    ips = images_per_second(model, warmup=1, iters=4, pages=pages)
    assert ips > 0
    # warm-up on page 0, then 4 timed calls: pages 1, 2, 0, 1 (cycled), one image per call
    assert [[int(im[0, 0, 0]) for im in call] for call in model.calls] == [[0], [1], [2], [0], [1]]
    model.calls.clear()
    images_per_second(model, warmup=0, iters=2, batch=2, pages=pages)
    assert [[int(im[0, 0, 0]) for im in call] for call in model.calls] == [[0, 1], [2, 0]]
    with pytest.raises(ValueError, match="part"):
        images_per_second(model, pages=pages, part="heads")


def test_flops_are_counted_on_the_page_resized_to_the_input_size():
    page = torch.rand(3, 40, 30)
    model = _Recorder()
    count_flops(model, (80, 60), page=page)
    (seen,) = model.calls[-1]
    assert seen.shape == (3, 80, 60)
    expected = torch.nn.functional.interpolate(page[None], size=(80, 60), mode="bilinear", align_corners=False)[0]
    assert torch.equal(seen, expected)
    # backbone + FPN FLOPs depend on the input size only, not on which page
    torch.manual_seed(0)
    det = build_detector(_tiny_spec())
    assert count_flops(det, (160, 128), part="backbone", page=torch.rand(3, 320, 256)) == \
        count_flops(det, (160, 128), part="backbone")


def test_measure_efficiency_on_pages_reports_backbone_throughput_too():
    torch.manual_seed(0)
    models = {"a": build_detector(_tiny_spec())}
    pages = [torch.rand(3, 160, 128), torch.rand(3, 150, 120)]
    res = measure_efficiency(models, (160, 128), warmup=0, iters=2, rounds=3, pages=pages)["a"]
    assert len(res["backbone_images_per_second_rounds"]) == 3
    assert res["backbone_images_per_second"] == pytest.approx(float(np.median(res["backbone_images_per_second_rounds"])))
    # the backbone alone is faster than the whole detector (heads + post-processing)
    assert res["backbone_images_per_second"] > res["images_per_second"]
    assert res["gflops"] == pytest.approx(count_flops(models["a"], (160, 128), page=pages[0]))


def test_timing_pages_are_the_first_readable_evaluation_pages(synthetic_pages, tmp_path):
    from distildoc.train.dla import efficiency_pages

    root, coco = synthetic_pages
    pages, names = efficiency_pages(coco, root, 5)
    assert names == [im["file_name"] for im in coco["images"]]  # only 2 pages exist
    assert [tuple(p.shape) for p in pages] == [(3, im["height"], im["width"]) for im in coco["images"]]
    # an unreadable first page is skipped (as in the evaluation)
    broken = tmp_path / "pages"
    broken.mkdir()
    for im in coco["images"]:
        dst = broken / im["file_name"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes((root / im["file_name"]).read_bytes())
    first = broken / coco["images"][0]["file_name"]
    first.write_bytes(first.read_bytes()[:50])
    pages, names = efficiency_pages(coco, broken, 5)
    assert names == [coco["images"][1]["file_name"]]
    first.write_bytes(b"")
    (broken / coco["images"][1]["file_name"]).write_bytes(b"")
    with pytest.raises(ValueError, match="no readable evaluation page"):
        efficiency_pages(coco, broken, 5)


def test_measure_efficiency_interleaves_the_models_page_by_page():
    log: list = []
    models = {"a": _Recorder("a", log), "b": _Recorder("b", log)}
    pages = [torch.full((3, 8, 6), float(i)) for i in range(3)]
    res = measure_efficiency(models, (8, 6), warmup=1, iters=2, rounds=2, pages=pages)
    timing = log[-(2 * 2 * 2 * 2):]  # rounds × iters × models × parts, after the FLOPs counts and warm-up
    assert timing[:8] == [("a", "all", [1]), ("a", "backbone", [1]), ("b", "all", [1]), ("b", "backbone", [1]),
                          ("a", "all", [2]), ("a", "backbone", [2]), ("b", "all", [2]), ("b", "backbone", [2])]
    assert [e[2] for e in timing[8:]] == [[0]] * 4 + [[1]] * 4  # the second round goes on cycling the pages
    assert log[-20:-16] == [("a", "all", [0]), ("a", "backbone", [0]), ("b", "all", [0]), ("b", "backbone", [0])]
    for rec in res.values():
        assert len(rec["images_per_second_rounds"]) == len(rec["backbone_images_per_second_rounds"]) == 2
        assert rec["images_per_second"] == pytest.approx(float(np.median(rec["images_per_second_rounds"])))
    assert all(m.training for m in models.values())  # train mode restored
