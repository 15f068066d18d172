"""Layout-detection evaluation: COCO AP with pycocotools, predictions, exports and efficiency numbers.

* :func:`coco_evaluate` — pycocotools ``COCOeval`` for ``bbox`` and / or ``segm``: AP (IoU .50:.05:.95),
  AP50, AP75, APs / APm / APl (all area, 100 detections) and per-class AP, on the paper's **0-100 scale**
  (pycocotools' 0-1 values × 100). Undefined values (no ground truth in an area range / for a class;
  pycocotools' ``-1``) are reported as ``None``.
* :func:`predict` / :func:`predict_dataset` — run a torchvision detector and return COCO result dicts
  (``image_id``, ``category_id``, ``bbox`` xywh, ``score``, ``segmentation`` RLE), with boxes and masks
  rescaled to the *original* image size when the images fed to the model were resized.
* :func:`export_predictions` — the per-page DLA JSON consumed by the DocVQA enrichment stage.
* :func:`count_params`, :func:`count_flops`, :func:`images_per_second` — the efficiency columns;
  :func:`measure_efficiency` measures several models side by side on real pages (the models interleaved
  page by page, median of rounds).

Labels: the detector's class index is the COCO category id (see ``distildoc.models.detection``); a
``label_to_category`` mapping can translate otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torch import Tensor, nn

from ..data.coco import filter_doclaynet_precedence
from ..data.images import split_readable
from ..data.labels import DOCLAYNET_CATEGORIES
from ..utils.io import read_json, write_json

log = logging.getLogger(__name__)

__all__ = [
    "STAT_NAMES",
    "coco_evaluate",
    "predict",
    "predict_dataset",
    "export_predictions",
    "load_image",
    "count_params",
    "count_flops",
    "images_per_second",
]

#: the first six COCOeval stats (area "all"/"small"/"medium"/"large", maxDets 100)
STAT_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APs", "APm", "APl")
EXPORT_FORMAT = "distildoc-dla-predictions/v1"


# ------------------------------------------------------------------------------------------------ COCO AP
def _load_gt(coco_gt: str | os.PathLike | Mapping[str, Any], precedence_only: bool = True) -> dict[str, Any]:
    """A copy of the ground truth with what COCOeval needs filled in: ``iscrowd`` (0), ``area`` (the box
    area when missing) and ``segmentation`` (the box polygon when missing or empty); with
    ``precedence_only`` DocLayNet's non-primary annotations (``precedence != 0``) are dropped."""
    data = copy.deepcopy(dict(coco_gt)) if isinstance(coco_gt, Mapping) else read_json(coco_gt)
    if precedence_only:
        data = filter_doclaynet_precedence(data)
    for ann in data["annotations"]:
        x, y, w, h = (float(v) for v in ann["bbox"])
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            ann["area"] = w * h
        if not ann.get("segmentation"):
            ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    data.setdefault("info", {})
    data.setdefault("licenses", [])
    return data


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _pct(v: float) -> float | None:
    return None if v is None or v < 0 or (isinstance(v, float) and math.isnan(v)) else float(v) * 100.0


def coco_evaluate(
    coco_gt: str | os.PathLike | Mapping[str, Any],
    predictions: Sequence[Mapping[str, Any]],
    iou_types: Sequence[str] = ("bbox", "segm"),
    precedence_only: bool = True,
) -> dict[str, Any]:
    """COCO AP of ``predictions`` against ``coco_gt`` (a COCO file path or dict), per IoU type.

    Args:
        coco_gt: ground truth; every image listed is evaluated (images without predictions count as misses).
        predictions: COCO result dicts ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}`` plus
            ``"segmentation"`` (RLE or polygons) for ``segm``.
        iou_types: any of ``"bbox"``, ``"segm"``.
        precedence_only: keep only DocLayNet's primary annotations (``precedence == 0``; annotations
            without the key are kept), as :class:`~distildoc.data.coco.CocoDetectionDataset` does.

    Returns:
        ``{iou_type: {"AP", "AP50", "AP75", "APs", "APm", "APl": float 0-100 or None,
        "per_class": {category name: AP 0-100 or None}, "num_predictions": int}}``.
        With no predictions at all every defined value is 0.0.
    """
    gt = _load_gt(coco_gt, precedence_only)
    for t in iou_types:
        if t not in ("bbox", "segm"):
            raise ValueError(f"iou type must be 'bbox' or 'segm', got {t!r}")
    coco = COCO()
    coco.dataset = gt
    _quiet(coco.createIndex)
    cats = sorted(coco.getCatIds())
    names = {c["id"]: c["name"] for c in gt["categories"]}
    image_ids = {im["id"] for im in gt["images"]}
    preds = [dict(p) for p in predictions]
    unknown = {p["image_id"] for p in preds} - image_ids
    if unknown:
        raise ValueError(f"predictions refer to image ids not in the ground truth: {sorted(unknown)[:10]}")
    cats_with_gt = {a["category_id"] for a in gt["annotations"]}
    results: dict[str, Any] = {}
    for iou_type in iou_types:
        if iou_type == "segm" and any("segmentation" not in p for p in preds):
            raise ValueError("segm evaluation needs a 'segmentation' in every prediction")
        if not preds:
            results[iou_type] = {**{k: 0.0 for k in STAT_NAMES},
                                 "per_class": {names[c]: (0.0 if c in cats_with_gt else None) for c in cats},
                                 "num_predictions": 0}
            continue
        dt_input = preds if iou_type == "segm" else [{k: v for k, v in p.items() if k != "segmentation"} for p in preds]
        coco_dt = _quiet(coco.loadRes, copy.deepcopy(dt_input))
        ev = COCOeval(coco, coco_dt, iouType=iou_type)
        ev.params.imgIds = sorted(image_ids)
        _quiet(ev.evaluate)
        _quiet(ev.accumulate)
        _quiet(ev.summarize)
        out: dict[str, Any] = {name: _pct(float(ev.stats[i])) for i, name in enumerate(STAT_NAMES)}
        precision = ev.eval["precision"]  # [T, R, K, A, M]
        per_class = {}
        for k, cat in enumerate(ev.params.catIds):
            p = precision[:, :, k, 0, -1]
            p = p[p > -1]
            per_class[names[cat]] = float(p.mean()) * 100.0 if p.size else None
        out["per_class"] = per_class
        out["num_predictions"] = len(preds)
        results[iou_type] = out
    return results


# ------------------------------------------------------------------------------------------------ prediction
def _encode_mask(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


@torch.no_grad()
def _run(model: nn.Module, images: Sequence[Tensor]) -> list[dict[str, Tensor]]:
    device = next(model.parameters()).device
    return model([img.to(device) for img in images])


def _postprocess_one(
    out: Mapping[str, Tensor], image_id: Any, in_size: tuple[int, int], orig_size: tuple[int, int] | None,
    label_to_category: Mapping[int, int] | None, with_masks: bool, mask_threshold: float, score_thresh: float | None,
) -> list[dict[str, Any]]:
    boxes, scores, labels = out["boxes"].cpu().float(), out["scores"].cpu().float(), out["labels"].cpu()
    keep = torch.ones_like(scores, dtype=torch.bool) if score_thresh is None else scores >= score_thresh
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    in_w, in_h = in_size
    out_w, out_h = orig_size if orig_size is not None else in_size
    if (out_w, out_h) != (in_w, in_h):
        sx, sy = out_w / in_w, out_h / in_h
        boxes = boxes * torch.tensor([sx, sy, sx, sy])
    masks = None
    if with_masks and "masks" in out:
        m = out["masks"][keep].cpu().float()  # [N, 1, in_h, in_w] probabilities
        if m.numel() and (out_w, out_h) != (in_w, in_h):
            m = F.interpolate(m, size=(out_h, out_w), mode="bilinear", align_corners=False)
        masks = (m[:, 0] >= mask_threshold).numpy() if m.numel() else np.zeros((0, out_h, out_w), dtype=bool)
    results = []
    for i in range(len(scores)):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        label = int(labels[i])
        rec = {
            "image_id": image_id,
            "category_id": int(label_to_category[label]) if label_to_category is not None else label,
            "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
            "score": round(float(scores[i]), 5),
        }
        if masks is not None:
            rec["segmentation"] = _encode_mask(masks[i])
        results.append(rec)
    return results


def predict(
    model: nn.Module,
    images: Sequence[Tensor],
    image_ids: Sequence[Any] | None = None,
    orig_sizes: Sequence[tuple[int, int]] | None = None,
    batch_size: int = 2,
    label_to_category: Mapping[int, int] | None = None,
    masks: bool = True,
    mask_threshold: float = 0.5,
    score_thresh: float | None = None,
) -> list[dict[str, Any]]:
    """COCO result dicts of ``model`` (switched to eval mode) on ``images``.

    Args:
        images: float ``3×H×W`` tensors in [0, 1] (or uint8), as fed to the model.
        image_ids: COCO image ids (default 0..N-1).
        orig_sizes: ``(width, height)`` of each *original* image when ``images`` were resized; boxes are
            scaled per axis and mask probabilities resized bilinearly to it before thresholding.
        label_to_category: model label → COCO category id (default: identity).
        masks: add RLE ``segmentation`` (mask probability ≥ ``mask_threshold``).
        score_thresh: extra score filter on top of the model's own ``box_score_thresh``.
    """
    model.eval()
    n = len(images)
    image_ids = list(range(n)) if image_ids is None else list(image_ids)
    if len(image_ids) != n or (orig_sizes is not None and len(orig_sizes) != n):
        raise ValueError("images, image_ids and orig_sizes must have the same length")
    results: list[dict[str, Any]] = []
    for start in range(0, n, max(1, batch_size)):
        batch = [img.float().div(255.0) if img.dtype == torch.uint8 else img for img in images[start:start + batch_size]]
        outs = _run(model, batch)
        for j, out in enumerate(outs):
            i = start + j
            in_size = (int(batch[j].shape[-1]), int(batch[j].shape[-2]))
            orig = None if orig_sizes is None else (int(orig_sizes[i][0]), int(orig_sizes[i][1]))
            results.extend(_postprocess_one(out, image_ids[i], in_size, orig, label_to_category, masks,
                                            mask_threshold, score_thresh))
    return results


def predict_dataset(model: nn.Module, dataset: Any, batch_size: int = 2, **kwargs: Any) -> list[dict[str, Any]]:
    """:func:`predict` over a :class:`~distildoc.data.coco.CocoDetectionDataset` (ids and original sizes
    from its COCO ``images``; works whatever ``size`` the dataset resizes to)."""
    results: list[dict[str, Any]] = []
    for start in range(0, len(dataset), max(1, batch_size)):
        idx = list(range(start, min(len(dataset), start + batch_size)))
        images = [dataset[i][0] for i in idx]
        infos = [dataset.images[i] for i in idx]
        results.extend(predict(model, images, [im["id"] for im in infos],
                               [(int(im["width"]), int(im["height"])) for im in infos], batch_size=batch_size,
                               **kwargs))
    return results


def load_image(path: str | os.PathLike) -> Tensor:
    """An image file as a float ``3×H×W`` tensor in [0, 1] (grayscale replicated to RGB)."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)


def export_predictions(
    model: nn.Module,
    image_paths: Sequence[str | os.PathLike],
    out_json: str | os.PathLike,
    score_thresh: float = 0.0,
    label_names: Sequence[str] | Mapping[int, str] = DOCLAYNET_CATEGORIES,
    batch_size: int = 1,
) -> dict[str, Any]:
    """Detect layout regions on page images and write one JSON for the page set (atomically).

    Format (``"format": "distildoc-dla-predictions/v1"``)::

        {
          "format": "distildoc-dla-predictions/v1",
          "box_format": "xyxy",                 # absolute pixels of the image file, origin top-left
          "score_thresh": 0.0,                  # detections with score < this were dropped
          "label_names": ["Caption", ...],      # model label k -> label_names[k - 1] (DocLayNet order)
          "images": [
            {"file_name": "page.png",           # base name of the image file
             "path": "data/.../page.png",       # the path as given
             "image_size": [612, 792],          # (width, height) of the image file
             "boxes": [[x1, y1, x2, y2], ...],  # float, in image_size pixels
             "labels": ["Text", ...],           # category names
             "scores": [0.98, ...]},            # descending
            ...
          ],
          "skipped_inputs": ["data/.../bad.png"] # unreadable page images (logged), absent from images
        }

    Each ``images`` record is exactly the ``predictions`` argument of
    :func:`distildoc.docvqa.enrich.enrich_page` (``boxes`` / ``labels`` / ``scores`` / ``image_size``).
    Images are fed at their file size (the model's transform resizes internally and maps boxes back).

    Args:
        label_names: names by label: a sequence (label ``k`` → ``label_names[k-1]``, COCO ids 1..K) or a
            mapping ``{label: name}``.
    Returns the written object.
    """
    names = dict(label_names) if isinstance(label_names, Mapping) else {i + 1: n for i, n in enumerate(label_names)}
    model.eval()
    records = []
    # a missing page is an error; an unreadable one is skipped, named and counted
    paths, skipped = split_readable(image_paths)
    for start in range(0, len(paths), max(1, batch_size)):
        chunk = paths[start:start + batch_size]
        images = [load_image(p) for p in chunk]
        outs = _run(model, images)
        for path, img, out in zip(chunk, images, outs):
            scores = out["scores"].cpu().float()
            keep = scores >= score_thresh
            order = torch.argsort(scores[keep], descending=True, stable=True)
            boxes = out["boxes"].cpu().float()[keep][order]
            labels = out["labels"].cpu()[keep][order]
            unknown = sorted({int(lab) for lab in labels} - set(names))
            if unknown:
                raise KeyError(f"model labels {unknown} have no name in label_names")
            records.append({
                "file_name": path.name,
                "path": str(path),
                "image_size": [int(img.shape[-1]), int(img.shape[-2])],
                "boxes": [[round(float(v), 2) for v in b] for b in boxes],
                "labels": [names[int(lab)] for lab in labels],
                "scores": [round(float(s), 5) for s in scores[keep][order]],
            })
    obj = {
        "format": EXPORT_FORMAT,
        "box_format": "xyxy",
        "score_thresh": float(score_thresh),
        "label_names": [names[k] for k in sorted(names)],
        "images": records,
        "skipped_inputs": skipped,
    }
    write_json(out_json, obj, indent=None)
    return obj


# ------------------------------------------------------------------------------------------------ efficiency
def count_params(model: nn.Module, trainable_only: bool = False) -> float:
    """Number of parameters in millions (shared tensors counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total / 1e6


def _dummy_images(size: tuple[int, int], batch: int, seed: int = 0) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    return [torch.rand(3, h, w, generator=g) for _ in range(batch)]


def _flops_image(input_size: tuple[int, int], page: Tensor | None) -> Tensor:
    """The one image FLOPs are counted on: `page` resized to ``input_size = (H, W)``, or a seeded random one."""
    if page is None:
        return _dummy_images(input_size, 1)[0]
    if tuple(page.shape[-2:]) == tuple(input_size):
        return page
    return torch.nn.functional.interpolate(page[None], size=tuple(input_size), mode="bilinear",
                                           align_corners=False)[0]


def count_flops(model: nn.Module, input_size: tuple[int, int] = (792, 612), part: str = "all",
                page: Tensor | None = None) -> float:
    """GFLOPs of one eval-mode forward pass on a single ``input_size = (height, width)`` image.

    Counted with ``torch.utils.flop_counter.FlopCounterMode``, which counts **2 FLOPs per
    multiply-accumulate** (so GFLOPs = 2 × GMACs; halve to compare with MAC-based "FLOPs" tables) for
    convolutions, matrix products and attention; element-wise ops, normalisation, RoIAlign, NMS and
    interpolation are not counted. ``input_size`` is the image handed to the model; its transform resizes
    it first (e.g. a 792×612 page → 331×256 for the embedded ResNets, 256×256 for the embedded ViTs), so the
    count is for the detector's own input resolution. The image is `page` (a real page, 3×H×W in [0, 1])
    resized to ``input_size``, or without one a fixed random image (seed 0).

    ``part``: ``"all"`` (transform + backbone + FPN + RPN + RoI heads; the box head runs on the
    ``rpn_post_nms_top_n_test`` proposals and the mask head only on the detections, so this part depends on
    the weights and the page: a random image may give a trained model no detection at all, hence a real
    page) or ``"backbone"`` (backbone + FPN on the transformed image; weight-independent).
    """
    from torch.utils.flop_counter import FlopCounterMode

    if part not in ("all", "backbone"):
        raise ValueError(f"part must be 'all' or 'backbone', got {part!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    images = [_flops_image(input_size, page).to(device)]
    try:
        with torch.no_grad():
            if part == "backbone":
                tensor = model.transform(images)[0].tensors
                with FlopCounterMode(display=False) as counter:
                    model.backbone(tensor)
            else:
                with FlopCounterMode(display=False) as counter:
                    model(images)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


def _timed_call(model: nn.Module, images: Sequence[Tensor], part: str = "all") -> float:
    """Seconds of one eval-mode, ``no_grad`` call of `model` on `images` (``part="backbone"``: backbone + FPN on
    the transformed batch; the transform itself is not timed)."""
    device = next(model.parameters()).device
    images = [im.to(device) for im in images]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *_: None)  # CUDA kernels are async
    with torch.no_grad():
        if part == "backbone":
            tensor = model.transform(images)[0].tensors
            sync(device)
            t0 = time.perf_counter()
            model.backbone(tensor)
        else:
            sync(device)
            t0 = time.perf_counter()
            model(images)
        sync(device)
    return time.perf_counter() - t0


def _chunk(pool: Sequence[Tensor], call: int, batch: int) -> list[Tensor]:
    """The images of timing call number `call`: the next `batch` of `pool`, cycled in order."""
    return [pool[(call * batch + k) % len(pool)] for k in range(batch)]


def images_per_second(model: nn.Module, size: tuple[int, int] = (792, 612), warmup: int = 2, iters: int = 10,
                      batch: int = 1, pages: Sequence[Tensor] | None = None, part: str = "all") -> float:
    """Eval-mode inference throughput (images/s, ``torch.no_grad``) after ``warmup`` untimed calls.

    Each of the ``iters`` timed calls takes ``batch`` images: the next ones of `pages` (real pages,
    3×H×W in [0, 1], cycled in order; the paper times its validation pages) or else ``batch`` fixed random
    ``size = (H, W)`` images. ``part="all"``: the whole detector (transform, backbone, heads and
    post-processing, masks pasted at page size); ``part="backbone"``: backbone + FPN on the transformed
    images only. Uses the current ``torch.get_num_threads()``.
    """
    if part not in ("all", "backbone"):
        raise ValueError(f"part must be 'all' or 'backbone', got {part!r}")
    was_training = model.training
    model.eval()
    pool = list(pages) if pages else _dummy_images(size, batch)
    try:
        for i in range(max(0, warmup)):
            _timed_call(model, _chunk(pool, i, batch), part)
        elapsed = sum(_timed_call(model, _chunk(pool, warmup + i, batch), part) for i in range(max(1, iters)))
    finally:
        model.train(was_training)
    return batch * max(1, iters) / elapsed


def measure_efficiency(models: Mapping[str, nn.Module], size: tuple[int, int] = (792, 612), warmup: int = 2,
                       iters: int = 10, rounds: int = 3, pages: Sequence[Tensor] | None = None,
                       ) -> dict[str, dict[str, float | list[float]]]:
    """The efficiency columns of Table 3 for several detectors, measured side by side in one process.

    Parameters and GFLOPs (:func:`count_params`, :func:`count_flops` at ``size``, on the first of `pages`
    resized to it) are exact. Throughput is timed at batch 1 on `pages` (the evaluation pages, cycled; a
    random image without them), because the heads' and post-processing's cost grows with the number of
    detections and a random image gives a trained detector few or none (on the embedded benchmark that
    made a teacher look faster than its student).

    A shared CPU's speed drifts within seconds, so the models are interleaved **per image**: each page is
    run through model A, B, … in turn, and every model sees the same pages under the same conditions. Each
    of ``rounds`` rounds times ``iters`` pages per model (after ``warmup`` untimed pages per model); a
    round's images/s is ``iters`` / the model's summed time, and the **median** round is reported
    (``images_per_second``; all rounds in ``images_per_second_rounds``). ``backbone_images_per_second`` is
    the same for backbone + FPN alone (the part a teacher / student pair differs in; the heads are alike).
    Uses the current ``torch.get_num_threads()``.
    """
    pool = list(pages) if pages else _dummy_images(size, 1)
    page = pages[0] if pages else None
    out: dict[str, dict[str, float | list[float]]] = {
        name: {"params_M": count_params(m), "gflops": count_flops(m, size, part="all", page=page),
               "gflops_backbone": count_flops(m, size, part="backbone", page=page),
               "images_per_second_rounds": [], "backbone_images_per_second_rounds": []}
        for name, m in models.items()}
    was_training = {name: m.training for name, m in models.items()}
    for m in models.values():
        m.eval()
    parts = {"all": "images_per_second_rounds", "backbone": "backbone_images_per_second_rounds"}
    try:
        for i in range(max(0, warmup)):
            for m in models.values():
                for part in parts:
                    _timed_call(m, _chunk(pool, i, 1), part)
        call = warmup
        for _ in range(max(1, rounds)):
            spent = {(name, part): 0.0 for name in models for part in parts}
            for _ in range(max(1, iters)):
                chunk = _chunk(pool, call, 1)
                call += 1
                for name, m in models.items():
                    for part in parts:
                        spent[name, part] += _timed_call(m, chunk, part)
            for (name, part), seconds in spent.items():
                out[name][parts[part]].append(max(1, iters) / seconds)
    finally:
        for name, m in models.items():
            m.train(was_training[name])
    for rec in out.values():
        rec["images_per_second"] = float(np.median(rec["images_per_second_rounds"]))
        rec["backbone_images_per_second"] = float(np.median(rec["backbone_images_per_second_rounds"]))
    return out


# ------------------------------------------------------------------------------------------------ page bootstrap
# The per-page detections a model was evaluated with, saved beside its metrics.json, let the report recompute
# the bbox mAP on resampled validation pages (a paired bootstrap of the mAP difference of two models).
from .stats import Interval, bootstrap_interval  # noqa: E402

EVAL_PREDICTIONS_FILE = "eval_predictions.json"
EVAL_PREDICTIONS_FORMAT = "distildoc-dla-eval-predictions/v1"


def write_eval_predictions(path: str | os.PathLike, predictions: Sequence[Mapping[str, Any]],
                           image_ids: Sequence[Any], ground_truth: str | os.PathLike | None = None) -> dict[str, Any]:
    """Save the detections a model was evaluated with (bbox only: ``image_id``, ``category_id``, ``bbox`` xywh,
    ``score``; masks dropped) and the evaluated image ids, atomically, as::

        {"format": "distildoc-dla-eval-predictions/v1", "iou_type": "bbox",
         "ground_truth": "results/.../val.json" | null, "image_ids": [...], "predictions": [...]}

    :func:`read_eval_predictions` reads it back; :func:`bootstrap_map_difference` uses it. Returns the object."""
    obj = {"format": EVAL_PREDICTIONS_FORMAT, "iou_type": "bbox",
           "ground_truth": None if ground_truth is None else str(ground_truth),
           "image_ids": sorted(image_ids),
           "predictions": [{"image_id": p["image_id"], "category_id": int(p["category_id"]),
                            "bbox": [float(v) for v in p["bbox"]], "score": float(p["score"])} for p in predictions]}
    write_json(path, obj, indent=None)
    return obj


def read_eval_predictions(path: str | os.PathLike) -> dict[str, Any]:
    """A file of :func:`write_eval_predictions`; a wrong format or missing key is an error naming the file."""
    obj = read_json(path)
    if not isinstance(obj, dict) or obj.get("format") != EVAL_PREDICTIONS_FORMAT:
        got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{path}: not a {EVAL_PREDICTIONS_FORMAT} file (format {got!r})")
    missing = [k for k in ("image_ids", "predictions") if k not in obj]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    return obj


class PageResampledAP:
    """COCO bbox AP (IoU .50:.95, all areas, 100 detections; 0-100, the number :func:`coco_evaluate` reports as
    ``AP``) of one model on any multiset of the ground truth's pages, e.g. a bootstrap resample.

    pycocotools matches detections to ground truth per (page, category) in ``COCOeval.evaluate``; AP is then
    accumulated over those per-page records. So ``evaluate`` runs once, and a resample re-runs only
    ``accumulate`` on the per-page records of the drawn pages (a page drawn twice counts twice, exactly as if the
    page were a second, identical page). Call with an index array into :attr:`image_ids` (sorted ids of the
    pages evaluated); NaN when the drawn pages hold no ground truth.
    """

    def __init__(self, coco_gt: str | os.PathLike | Mapping[str, Any], predictions: Sequence[Mapping[str, Any]],
                 image_ids: Sequence[Any] | None = None, precedence_only: bool = True) -> None:
        gt = _load_gt(coco_gt, precedence_only)
        if image_ids is not None:
            keep = set(image_ids)
            unknown = keep - {im["id"] for im in gt["images"]}
            if unknown:
                raise ValueError(f"image ids not in the ground truth: {sorted(unknown)[:10]}")
            gt["images"] = [im for im in gt["images"] if im["id"] in keep]
            gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
        ids = {im["id"] for im in gt["images"]}
        preds = [{k: v for k, v in p.items() if k != "segmentation"} for p in predictions if p["image_id"] in ids]
        coco = COCO()
        coco.dataset = gt
        _quiet(coco.createIndex)
        self.image_ids: list[Any] = sorted(ids)
        self._ev: COCOeval | None = None
        if preds:
            ev = COCOeval(coco, _quiet(coco.loadRes, copy.deepcopy(preds)), iouType="bbox")
            ev.params.imgIds = self.image_ids
            _quiet(ev.evaluate)
            self.image_ids = list(ev._paramsEval.imgIds)
            self._ev = ev

    def __call__(self, idx: Sequence[int] | np.ndarray) -> float:
        idx = np.asarray(idx, dtype=np.int64)
        if self._ev is None:  # no detection at all: AP 0 (as coco_evaluate)
            return 0.0
        ev = self._ev
        pe = ev._paramsEval
        n_img, n_area = len(pe.imgIds), len(pe.areaRng)
        a_all = list(pe.areaRngLbl).index("all")
        n_cat = len(pe.catIds) if pe.useCats else 1
        records = [ev.evalImgs[k * n_area * n_img + a_all * n_img + int(i)] for k in range(n_cat) for i in idx]
        params = copy.copy(pe)
        params.imgIds = list(range(len(idx)))
        params.areaRng = [pe.areaRng[a_all]]
        params.areaRngLbl = ["all"]
        params.maxDets = [pe.maxDets[-1]]
        sub = copy.copy(ev)
        sub.params, sub._paramsEval, sub.evalImgs = params, params, records
        _quiet(sub.accumulate)
        precision = sub.eval["precision"][:, :, :, 0, 0]
        valid = precision[precision > -1]
        return float(valid.mean()) * 100.0 if valid.size else math.nan


def bootstrap_map_difference(coco_gt: str | os.PathLike | Mapping[str, Any], predictions_a: Sequence[Mapping[str, Any]],
                             predictions_b: Sequence[Mapping[str, Any]], image_ids: Sequence[Any] | None = None,
                             n_resamples: int = 200, seed: int = 0, confidence: float = 0.95,
                             precedence_only: bool = True) -> Interval:
    """Paired bootstrap interval of bbox mAP(a) − mAP(b) (0-100) over the evaluation pages (`image_ids`, default
    every ground-truth page): the same resampled pages for both models (:class:`PageResampledAP`,
    :func:`distildoc.evaluate.stats.bootstrap_interval`). The estimate is the difference on all pages."""
    ap_a = PageResampledAP(coco_gt, predictions_a, image_ids, precedence_only)
    ap_b = PageResampledAP(coco_gt, predictions_b, image_ids, precedence_only)
    if ap_a.image_ids != ap_b.image_ids:
        raise ValueError("bootstrap_map_difference: the two models were evaluated on different pages")
    return bootstrap_interval(lambda idx: ap_a(idx) - ap_b(idx), len(ap_a.image_ids), n_resamples=n_resamples,
                              seed=seed, confidence=confidence)
