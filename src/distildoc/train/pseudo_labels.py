"""Response-based distillation from a real layout teacher: its detections become COCO training labels.

The teacher (an :class:`~distildoc.models.detection.onnx_teachers.OnnxLayoutTeacher`, e.g. the DocLayNet
YOLOv8n) labels pages it was not trained on: the synthetic train pages of the layout stage and any folder of
unlabelled page images. Every detection scoring at least ``score_thresh`` becomes an annotation, in the
synthetic benchmark's COCO layout (``distildoc.data.synthetic.generate.to_coco``): DocLayNet categories 1-11,
``bbox`` xywh, the box rectangle as the ``segmentation`` polygon (the Mask R-CNN students' mask target),
``area``, ``iscrowd`` 0, ``precedence`` 0, plus the teacher's ``score``. The student then trains on that file
with the project's detector training (`distildoc.train.dla.train_dla`) exactly as on ground truth: hard
pseudo-labels, the "response-based" family of the survey of Gou et al., "Knowledge distillation: a survey",
IJCV 2021 (Sec. 2.1), as used for detectors by e.g. Xie et al., "Self-training with Noisy Student", CVPR 2020.

File names are relative to the images root the student trains from (the synthetic dataset folder), so
folder pages get ``../``-relative names (`os.path.relpath`).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..data.coco import load_coco
from ..data.images import split_readable
from ..data.labels import DOCLAYNET_CATEGORIES, coco_categories
from ..evaluate.detection import coco_evaluate
from ..models.detection.onnx_teachers import Detections, OnnxLayoutTeacher
from .dla import folder_images

log = logging.getLogger(__name__)

PSEUDO_FORMAT = "distildoc-pseudo-labels/v1"


def detections_to_annotations(det: Detections, image_id: int, first_id: int) -> list[dict[str, Any]]:
    """COCO annotations (ids from `first_id`) of one page's detections: xywh boxes, rectangle polygons."""
    anns = []
    for k, ((x1, y1, x2, y2), label, score) in enumerate(zip(det.boxes.tolist(), det.labels.tolist(),
                                                             det.scores.tolist())):
        x1, y1, x2, y2 = (round(float(v), 2) for v in (x1, y1, x2, y2))
        w, h = round(x2 - x1, 2), round(y2 - y1, 2)
        anns.append({"id": first_id + k, "image_id": image_id, "category_id": int(label), "bbox": [x1, y1, w, h],
                     "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]], "area": round(w * h, 2), "iscrowd": 0,
                     "precedence": 0, "score": round(float(score), 5)})
    return anns


def _page_list(synthetic: Mapping[str, Any] | None, images_root: Path,
               folders: Mapping[str, str | os.PathLike]) -> tuple[list[tuple[Path, str, str]], list[str]]:
    """``(path on disk, file_name relative to images_root, source)`` of every page to label, and the
    unreadable folder pages (skipped, named)."""
    pages = [(images_root / im["file_name"], im["file_name"], "synthetic") for im in (synthetic or {}).get("images", [])]
    skipped: list[str] = []
    for name, folder in folders.items():
        readable, bad = split_readable(folder_images(folder))
        skipped += bad
        pages += [(p, os.path.relpath(p, images_root), name) for p in readable]
    return pages, skipped


def pseudo_label(teacher: OnnxLayoutTeacher, images_root: str | os.PathLike, score_thresh: float,
                 synthetic_ann: str | os.PathLike | None = None,
                 folders: Mapping[str, str | os.PathLike] | None = None,
                 eval_score_thresh: float | None = 0.05) -> tuple[dict[str, Any], dict[str, Any]]:
    """Label the pages of `synthetic_ann` (a COCO file whose ``file_name`` are relative to `images_root`) and of
    every page-image folder in `folders` (``{source name: folder}``) with `teacher`.

    Returns the pseudo-label COCO dict (DocLayNet categories; images carry ``source``; ``info`` names the
    teacher and the threshold) and a summary: pages and pseudo-labels per source, per category, and — when
    `eval_score_thresh` is not None — the teacher's COCO bbox mAP against the synthetic ground truth (its
    detections down to `eval_score_thresh`): how well the real teacher reads the synthetic pages."""
    images_root = Path(images_root)
    folders = dict(folders or {})
    synthetic = load_coco(synthetic_ann) if synthetic_ann is not None else None
    pages, skipped = _page_list(synthetic, images_root, folders)
    if not pages:
        raise ValueError(f"pseudo_label: no page to label (synthetic_ann={synthetic_ann}, folders={folders})")
    low = score_thresh if eval_score_thresh is None else min(score_thresh, eval_score_thresh)
    if teacher.score_thresh > low:
        raise ValueError(f"pseudo_label: the teacher drops detections below {teacher.score_thresh}, above the "
                         f"threshold {low} asked for")
    images, annotations, synthetic_preds = [], [], []
    per_source: Counter[str] = Counter()
    labels_per_source: Counter[str] = Counter()
    per_category: Counter[str] = Counter()
    synthetic_ids = [im["id"] for im in synthetic["images"]] if synthetic else []
    for k, (path, file_name, source) in enumerate(pages):
        det = teacher(path)
        image_id = k + 1
        w, h = det.image_size
        images.append({"id": image_id, "file_name": file_name, "width": w, "height": h, "source": source})
        kept = det.above(score_thresh)
        annotations += detections_to_annotations(kept, image_id, len(annotations) + 1)
        per_source[source] += 1
        labels_per_source[source] += len(kept)
        per_category.update(DOCLAYNET_CATEGORIES[int(c) - 1] for c in kept.labels)
        if source == "synthetic" and eval_score_thresh is not None:
            ev = det.above(eval_score_thresh)
            synthetic_preds += [{"image_id": synthetic_ids[k], "category_id": int(c), "score": float(s),
                                 "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
                                for b, c, s in zip(ev.boxes, ev.labels, ev.scores)]
    coco = {"info": {"description": f"{PSEUDO_FORMAT}: detections of {teacher.name} >= {score_thresh}",
                     "teacher": teacher.describe(), "score_thresh": score_thresh},
            "images": images, "annotations": annotations, "categories": coco_categories(DOCLAYNET_CATEGORIES)}
    summary: dict[str, Any] = {
        "format": PSEUDO_FORMAT, "teacher": teacher.describe(), "score_thresh": score_thresh,
        "pages": dict(per_source), "pseudo_labels": dict(labels_per_source), "per_category": dict(sorted(per_category.items())),
        "folders": {k: str(v) for k, v in folders.items()}, "skipped_inputs": skipped,
    }
    if synthetic is not None and eval_score_thresh is not None:
        bbox = coco_evaluate(synthetic, synthetic_preds, iou_types=("bbox",))["bbox"]
        summary["teacher_on_synthetic"] = {"mAP": bbox["AP"], "AP50": bbox["AP50"], "per_class": bbox["per_class"],
                                           "eval_score_thresh": eval_score_thresh,
                                           "pages": len(synthetic["images"])}
    log.info("pseudo-labels of %s >= %.2f: %s pages, %s labels%s", teacher.name, score_thresh, dict(per_source),
             dict(labels_per_source), f"; teacher mAP on the synthetic pages {summary['teacher_on_synthetic']['mAP']:.2f}"
             if "teacher_on_synthetic" in summary else "")
    return coco, summary


def check_pseudo_coco(coco: Mapping[str, Any], images_root: str | os.PathLike) -> None:
    """Raise ValueError when a pseudo-label file is not a COCO file the detector training reads: every image
    resolvable under `images_root`, boxes inside their page, DocLayNet categories."""
    root = Path(images_root)
    sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
    for im in coco["images"]:
        if not (root / im["file_name"]).is_file():
            raise ValueError(f"pseudo-labels: image {im['id']} file_name {im['file_name']!r} is not a file under {root}")
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        W, H = sizes[a["image_id"]]
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > W + 0.01 or y + h > H + 0.01:
            raise ValueError(f"pseudo-labels: annotation {a['id']} bbox {a['bbox']} outside its {W}x{H} page")
    if [c["name"] for c in coco["categories"]] != list(DOCLAYNET_CATEGORIES):
        raise ValueError(f"pseudo-labels: categories {[c['name'] for c in coco['categories']]} are not DocLayNet's")


__all__ = ["PSEUDO_FORMAT", "detections_to_annotations", "pseudo_label", "check_pseudo_coco"]
