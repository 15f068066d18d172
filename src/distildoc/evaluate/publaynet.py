"""DocLayNet-labelled layout predictions scored on real PubLayNet pages (``mAP_publaynet``).

The layout models of Table 3 predict DocLayNet's 11 categories (Pfitzmann et al., KDD 2022,
arXiv 2206.01062); PubLayNet (Zhong et al., ICDAR 2019, arXiv 1908.07836, Sec. III) annotates 5: ``text``,
``title``, ``list``, ``table``, ``figure``. :data:`DOCLAYNET_TO_PUBLAYNET` is the one mapping table:

================  ==========  ================================================================
DocLayNet         PubLayNet   why
================  ==========  ================================================================
Text              text        paragraphs
Caption           text        PubLayNet has no caption class; captions are annotated as text
Footnote          text        likewise
Title             title       article title
Section-header    title       PubLayNet's title covers (sub)section titles
List-item         list        items merged into whole lists (:func:`merge_list_items`)
Table             table
Picture           figure
Formula           (dropped)   not a PubLayNet class
Page-header       (dropped)   running headers are not annotated in PubLayNet
Page-footer       (dropped)   neither are page numbers / footers
================  ==========  ================================================================

**Lists.** DocLayNet boxes every list item, PubLayNet a whole ``<list>`` element. "One list" is defined by
:class:`ListMerge`: two List-item boxes *a*, *b* are *linked* when

* they overlap horizontally by at least ``min_x_overlap`` (0.5) of the narrower box's width
  (``min(a.x2, b.x2) - max(a.x1, b.x1) >= 0.5 * min(a.w, b.w)``: the items of a list share a column;
  indented sub-items still overlap their parent; two columns do not), and
* the vertical gap between them is at most ``max_gap`` (1.0) times the smaller item's height
  (``max(a.y1, b.y1) - min(a.y2, b.y2) <= 1.0 * min(a.h, b.h)``; overlapping boxes have gap <= 0): items
  follow each other within about a line, while a paragraph between two lists separates them;

and a list is a connected component of the links (single linkage, so a long list chains item to item).
Only items scoring at least ``min_score`` (0.5, the project's ``export_score_thresh``) are linked: a weak
spurious item cannot bridge two lists; weaker items stay one-item lists with their own score. The merged
box is the union of its items' boxes, its score the **mean** of their scores (``score="max"`` as the option):
a list of confident items ranks above one padded with doubtful ones.

:func:`evaluate_publaynet` turns a ``distildoc-dla-predictions/v1`` object
(:func:`distildoc.evaluate.detection.export_predictions`) into COCO results on the fixture's ground truth
(images matched by file name; boxes stay in image pixels, which the export already gives at the image
file's size) and scores them with :func:`distildoc.evaluate.detection.coco_evaluate` (pycocotools, bbox AP
on the 0-100 scale, per-class AP).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from ..utils.io import read_json
from .detection import EXPORT_FORMAT, coco_evaluate

log = logging.getLogger(__name__)

__all__ = [
    "DOCLAYNET_TO_PUBLAYNET",
    "PUBLAYNET_CATEGORIES",
    "GT_FILE",
    "EVAL_FORMAT",
    "ListMerge",
    "merge_list_items",
    "map_page",
    "publaynet_results",
    "load_publaynet_gt",
    "evaluate_publaynet",
]

#: PubLayNet's categories; COCO category id = index + 1 (as in its annotation files)
PUBLAYNET_CATEGORIES: tuple[str, ...] = ("text", "title", "list", "table", "figure")

#: DocLayNet category -> PubLayNet category (None: dropped); the one table of the mapping (module docstring)
DOCLAYNET_TO_PUBLAYNET: Mapping[str, str | None] = MappingProxyType({
    "Caption": "text",
    "Footnote": "text",
    "Formula": None,
    "List-item": "list",
    "Page-footer": None,
    "Page-header": None,
    "Picture": "figure",
    "Section-header": "title",
    "Table": "table",
    "Text": "text",
    "Title": "title",
})

#: the COCO file of a PubLayNet page folder (the name of the official repository's examples/samples.json)
GT_FILE = "samples.json"
EVAL_FORMAT = "distildoc-dla-publaynet-eval/v1"

Box = Sequence[float]  # x1, y1, x2, y2


@dataclass(frozen=True)
class ListMerge:
    """When List-item boxes form one list (module docstring): horizontal overlap >= ``min_x_overlap`` × the
    narrower width, vertical gap <= ``max_gap`` × the smaller height, both items scoring >= ``min_score``;
    the merged score is the ``mean`` or ``max`` of the items'."""

    max_gap: float = 1.0
    min_x_overlap: float = 0.5
    min_score: float = 0.5
    score: Literal["mean", "max"] = "mean"

    def __post_init__(self) -> None:
        if self.score not in ("mean", "max"):
            raise ValueError(f"ListMerge.score must be 'mean' or 'max', got {self.score!r}")
        if self.max_gap < 0 or not 0 <= self.min_x_overlap <= 1:
            raise ValueError(f"ListMerge: max_gap must be >= 0 and min_x_overlap in [0, 1], got {self}")


def _linked(a: Box, b: Box, rule: ListMerge) -> bool:
    wa, wb, ha, hb = a[2] - a[0], b[2] - b[0], a[3] - a[1], b[3] - b[1]
    x_overlap = min(a[2], b[2]) - max(a[0], b[0])
    gap = max(a[1], b[1]) - min(a[3], b[3])
    return x_overlap > 0 and x_overlap >= rule.min_x_overlap * min(wa, wb) and gap <= rule.max_gap * min(ha, hb)


def merge_list_items(boxes: Sequence[Box], scores: Sequence[float], rule: ListMerge = ListMerge(),
                     ) -> list[tuple[list[float], float, int]]:
    """Group List-item boxes (xyxy) into lists: ``[(union box, score, number of items)]``, by descending score
    (ties: first item's order). Items below ``rule.min_score`` are one-item lists."""
    n = len(boxes)
    if len(scores) != n:
        raise ValueError(f"merge_list_items: {n} boxes but {len(scores)} scores")
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    strong = [i for i in range(n) if scores[i] >= rule.min_score]
    for k, i in enumerate(strong):
        for j in strong[k + 1:]:
            if _linked(boxes[i], boxes[j], rule):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        b = np.asarray([boxes[i] for i in members], dtype=float)
        s = [float(scores[i]) for i in members]
        union = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]
        out.append((union, float(np.mean(s)) if rule.score == "mean" else max(s), len(members), min(members)))
    out.sort(key=lambda t: (-t[1], t[3]))
    return [(box, score, k) for box, score, k, _ in out]


def map_page(boxes: Sequence[Box], labels: Sequence[str], scores: Sequence[float], rule: ListMerge = ListMerge(),
             where: str = "page") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page's DocLayNet detections as PubLayNet detections ``{"category", "bbox" (xyxy), "score"}``:
    relabelled by :data:`DOCLAYNET_TO_PUBLAYNET`, List-items merged into lists (:func:`merge_list_items`),
    Formula / Page-header / Page-footer dropped. Also returns counts: ``dropped`` (by DocLayNet label),
    ``list_items``, ``lists``. A label outside DocLayNet's 11 raises, naming `where`."""
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError(f"{where}: {len(boxes)} boxes, {len(labels)} labels, {len(scores)} scores")
    unknown = sorted({str(lab) for lab in labels} - set(DOCLAYNET_TO_PUBLAYNET))
    if unknown:
        raise KeyError(f"{where}: label(s) {unknown} have no PubLayNet mapping; the mapping knows DocLayNet's "
                       f"{sorted(DOCLAYNET_TO_PUBLAYNET)}")
    out: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    items: list[int] = []
    for i, lab in enumerate(labels):
        cat = DOCLAYNET_TO_PUBLAYNET[lab]
        if cat is None:
            dropped[lab] += 1
        elif cat == "list":
            items.append(i)
        else:
            out.append({"category": cat, "bbox": [float(v) for v in boxes[i]], "score": float(scores[i])})
    lists = merge_list_items([boxes[i] for i in items], [scores[i] for i in items], rule)
    out += [{"category": "list", "bbox": box, "score": score} for box, score, _ in lists]
    return out, {"dropped": dict(dropped), "list_items": len(items), "lists": len(lists)}


def _category_ids(gt: Mapping[str, Any], where: str) -> dict[str, int]:
    ids = {str(c["name"]): int(c["id"]) for c in gt.get("categories", [])}
    missing = [c for c in PUBLAYNET_CATEGORIES if c not in ids]
    if missing:
        raise ValueError(f"{where}: categories {missing} missing from the ground truth (has {sorted(ids)}); "
                         f"expected PubLayNet's {list(PUBLAYNET_CATEGORIES)}")
    return ids


def publaynet_results(predictions: Mapping[str, Any], gt: Mapping[str, Any], rule: ListMerge = ListMerge(),
                      where: str = "predictions") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """COCO result dicts (``image_id``, ``category_id``, ``bbox`` xywh, ``score``) of a
    ``distildoc-dla-predictions/v1`` object on the COCO ground truth `gt`, images matched by ``file_name``.

    Returns the results and a summary: ``n_pages``, ``n_detections_doclaynet`` (on the ground truth's pages),
    ``n_detections`` (mapped), ``dropped``, ``list_items``, ``lists``, ``pages_without_predictions`` (ground-truth
    pages the predictions lack: every box on them is missed) and ``pages_not_in_ground_truth`` (ignored)."""
    if predictions.get("format") != EXPORT_FORMAT or predictions.get("box_format", "xyxy") != "xyxy":
        raise ValueError(f"{where}: format {predictions.get('format')!r} / box_format "
                         f"{predictions.get('box_format')!r}; expected {EXPORT_FORMAT!r} with xyxy boxes")
    cat_ids = _category_ids(gt, "ground truth")
    by_name: dict[str, Any] = {}
    for im in gt["images"]:
        name = Path(im["file_name"]).name
        if name in by_name:
            raise ValueError(f"ground truth: file name {name!r} appears twice")
        by_name[name] = im["id"]
    results: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    n_raw = n_items = n_lists = 0
    seen: set[str] = set()
    extra: list[str] = []
    for rec in predictions.get("images", []):
        name = rec["file_name"]
        if name not in by_name:
            extra.append(name)
            continue
        if name in seen:
            raise ValueError(f"{where}: page {name!r} predicted twice")
        seen.add(name)
        dets, counts = map_page(rec["boxes"], rec["labels"], rec["scores"], rule, where=f"{where}: {name}")
        n_raw += len(rec["boxes"])
        dropped.update(counts["dropped"])
        n_items += counts["list_items"]
        n_lists += counts["lists"]
        for d in dets:
            x1, y1, x2, y2 = d["bbox"]
            results.append({"image_id": by_name[name], "category_id": cat_ids[d["category"]],
                            "bbox": [x1, y1, x2 - x1, y2 - y1], "score": d["score"]})
    missing = sorted(set(by_name) - seen)
    if missing:
        log.warning("%s: %d ground-truth page(s) without predictions (counted as misses): %s", where, len(missing),
                    ", ".join(missing[:5]))
    if extra:
        log.info("%s: %d predicted page(s) not in the ground truth, ignored: %s", where, len(extra),
                 ", ".join(extra[:5]))
    summary = {"n_pages": len(by_name), "n_detections_doclaynet": n_raw, "n_detections": len(results),
               "dropped": dict(sorted(dropped.items())), "list_items": n_items, "lists": n_lists,
               "pages_without_predictions": missing, "pages_not_in_ground_truth": sorted(extra)}
    return results, summary


def load_publaynet_gt(folder: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """The COCO ground truth of a PubLayNet page folder (``<folder>/samples.json``; or the COCO file itself)
    and its path."""
    path = Path(folder) if Path(folder).suffix == ".json" else Path(folder) / GT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"PubLayNet ground truth not found: {path} (dla.real_eval.publaynet names a folder "
                                f"holding the page images and {GT_FILE})")
    gt = read_json(path)
    for key in ("images", "annotations", "categories"):
        if key not in gt:
            raise ValueError(f"{path}: not a COCO file (no {key!r})")
    _category_ids(gt, str(path))
    return gt, path


def evaluate_publaynet(predictions: Mapping[str, Any], gt: Mapping[str, Any] | str | os.PathLike,
                       rule: ListMerge = ListMerge(), where: str = "predictions") -> dict[str, Any]:
    """COCO bbox AP (0-100) of DocLayNet-labelled predictions (``distildoc-dla-predictions/v1``) on PubLayNet
    ground truth (a COCO dict, a COCO file, or a page folder holding ``samples.json``), after
    :func:`publaynet_results`.

    Returns ``{"format", "mAP", "AP50", "AP75", "APs", "APm", "APl", "per_class": {PubLayNet class: AP or
    None}, "n_gt_boxes", the summary of publaynet_results, "score_thresh" (of the predictions), "mapping",
    "list_merge"}``. No detection at all gives 0 everywhere."""
    if not isinstance(gt, Mapping):
        gt, _ = load_publaynet_gt(gt)
    results, summary = publaynet_results(predictions, gt, rule, where)
    bbox = coco_evaluate(gt, results, iou_types=("bbox",), precedence_only=False)["bbox"]
    return {"format": EVAL_FORMAT, "mAP": bbox["AP"], **{k: bbox[k] for k in ("AP50", "AP75", "APs", "APm", "APl")},
            "per_class": bbox["per_class"], "n_gt_boxes": len(gt["annotations"]), **summary,
            "score_thresh": predictions.get("score_thresh"), "mapping": dict(DOCLAYNET_TO_PUBLAYNET),
            "list_merge": asdict(rule)}
