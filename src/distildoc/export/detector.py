"""ONNX export of a trained Mask R-CNN layout detector (a model folder of ``distildoc.train.dla.train_dla``).

The whole detector exports, post-processing included (torchvision's transform, RPN, RoI heads, box
decoding, NMS, score threshold), with torch's TorchScript-based exporter, at a **fixed internal size**
``H×W``: the graph takes the page at its own size (``image``: float32 ``1×3×h×w`` RGB in [0, 1], h and w
free), resizes it to ``H×W`` itself (ONNX ``Resize``, bilinear with half-pixel centres: torch's
``interpolate``, the resampling the model's transform applies in training), runs the detector and scales the
boxes back to page pixels. Only that resize is fixed; the detector's own ``min_size`` / ``max_size`` resize
cannot be traced for every aspect ratio, so a page whose aspect ratio differs from ``H:W`` is stretched.
The mask branch is left out (boxes, labels, scores only): its paste-into-image step is a per-detection loop
returning ``N×1×H×W`` float masks, and no consumer of the layout predictions (the CLI, the DocVQA enrichment)
reads masks.

Default size: what the model's own transform resizes a US-letter page to (612×792 -> 512×662 for the
embedded presets' ``min_size 512 / max_size 704``; the ``fixed_size`` of the ViT presets), so letter pages
see the same resize as in PyTorch. parity.json compares PyTorch and onnxruntime on the same pages through
the same graph (boxes, scores, labels), and the ONNX detections against the PyTorch model at the page's own
size (what `distildoc layout` gives for a model folder), matched by IoU >= 0.5 and label.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
import torch.nn.functional as F
from torch import nn

from ..utils.io import read_json, write_json
from .common import OPSET, PARITY_FORMAT, file_record, ort_session, quiet_export, versions
from .pages import detector_page_tensor

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAMES = ("boxes", "labels", "scores")
#: the page the default internal size is computed for (US letter at 72 dpi; only the aspect ratio matters)
LETTER = (612, 792)


class BoxDetector(nn.Module):
    """A Mask R-CNN without its mask branch at a fixed internal size: one page ``1×3×h×w`` (RGB in [0, 1],
    any h, w) -> ``boxes`` (N×4 xyxy, page pixels), ``labels`` (N), ``scores`` (N, descending)."""

    def __init__(self, model: nn.Module, size_hw: tuple[int, int]) -> None:
        super().__init__()
        model = copy.deepcopy(model).eval()
        heads = model.roi_heads
        heads.mask_roi_pool = heads.mask_head = heads.mask_predictor = None  # has_mask() -> False
        self.model = model
        self.size_hw = (int(size_hw[0]), int(size_hw[1]))

    def forward(self, image: torch.Tensor):
        h, w = image.shape[-2], image.shape[-1]
        size_h, size_w = self.size_hw
        x = F.interpolate(image, size=(size_h, size_w), mode="bilinear", align_corners=False)
        out = self.model([x[0]])[0]
        scale = torch.stack([torch.as_tensor(w) / size_w, torch.as_tensor(h) / size_h]).float().repeat(2)
        return out["boxes"] * scale, out["labels"], out["scores"]


def default_input_size(model: nn.Module) -> tuple[int, int]:
    """``(H, W)`` the model's transform gives a US-letter page (its ``fixed_size`` when it has one)."""
    from ..models.detection import final_image_size

    w, h = final_image_size(model, *LETTER)
    return int(h), int(w)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def match_detections(ref_boxes, ref_labels, boxes, labels, iou: float = 0.5) -> int:
    """Greedy one-to-one matches (in `ref` order) with IoU >= `iou` and the same label."""
    ious = _iou(np.asarray(ref_boxes, dtype=np.float64).reshape(-1, 4), np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    used: set[int] = set()
    n = 0
    for i in range(ious.shape[0]):
        for j in np.argsort(-ious[i]):
            if ious[i, j] < iou:
                break
            if j not in used and int(labels[j]) == int(ref_labels[i]):
                used.add(int(j))
                n += 1
                break
    return n


def _parity_pages(pages: Sequence[str | os.PathLike] | None, n_pages: int, h: int, w: int) -> list[tuple[str, Image.Image]]:
    """The first `n_pages` readable pages (RGB), or one seeded random page when none is given or readable."""
    from ..data.images import split_readable

    images: list[tuple[str, Image.Image]] = []
    if pages:
        readable, _ = split_readable(pages)
        for p in readable[:n_pages]:
            with Image.open(p) as im:
                images.append((str(p), im.convert("RGB")))
    if not images:
        g = np.random.default_rng(0)
        images.append(("random page (seed 0)", Image.fromarray(g.integers(0, 256, (h, w, 3), dtype=np.uint8))))
    return images


def _page_parity(name: str, image: Image.Image, wrapper: nn.Module, model: nn.Module, session: Any,
                 score_thresh: float) -> dict[str, Any]:
    """One page through the exported module (PyTorch), ONNX, and PyTorch at the page's own size: detections above
    `score_thresh` compared in order, and the fixed-size ONNX detections matched to the native-size ones."""
    x = detector_page_tensor(image)[None]
    with torch.no_grad():
        tb, tl, ts = (t.numpy() for t in wrapper(x))
        native = model([x[0]])[0]
    ob, ol, os_ = session.run(None, {INPUT_NAME: x.numpy()})
    tk, ok = ts >= score_thresh, os_ >= score_thresh
    n = min(int(tk.sum()), int(ok.sum()))
    rec = {"page": name, "page_size": list(image.size), "n_torch": int(tk.sum()), "n_onnx": int(ok.sum()),
           "max_abs_box_diff": float(np.abs(tb[:n] - ob[:n]).max()) if n else 0.0,
           "max_abs_score_diff": float(np.abs(ts[:n] - os_[:n]).max()) if n else 0.0,
           "labels_equal": bool(tk.sum() == ok.sum() and np.array_equal(tl[tk], ol[ok])),
           "n_all_torch": int(len(ts)), "n_all_onnx": int(len(os_))}
    # the fixed-size ONNX graph vs PyTorch at the page's own size (the model's min_size / max_size resize)
    nk = native["scores"].numpy() >= score_thresh
    m = match_detections(native["boxes"].numpy()[nk], native["labels"].numpy()[nk], ob[ok], ol[ok])
    rec["native_size"] = {"n_torch_native": int(nk.sum()), "matched": m}
    return rec


def _fixed_vs_native(records: list[dict[str, Any]], h: int, w: int, score_thresh: float) -> dict[str, Any]:
    """How many of the native-size PyTorch detections the fixed-size ONNX graph finds again, over all pages."""
    matched = sum(r["native_size"]["matched"] for r in records)
    native_n = sum(r["native_size"]["n_torch_native"] for r in records)
    onnx_n = sum(r["n_onnx"] for r in records)
    return {
        "recall": matched / native_n if native_n else None,
        "precision": matched / onnx_n if onnx_n else None,
        "note": (f"ONNX (pages resized to {w}x{h}) vs PyTorch at each page's own size: {matched} of {native_n} native "
                 f"detections (score >= {score_thresh}) matched (IoU >= 0.5, same label) by the {onnx_n} "
                 "fixed-size ones."),
    }


def export_detector(model_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                    pages: Sequence[str | os.PathLike] | None = None, input_size: tuple[int, int] | None = None,
                    n_pages: int = 2, score_thresh: float = 0.5, opset: int = OPSET, card: bool = True) -> dict[str, Any]:
    """Export a detector model folder to `out_dir` (model.onnx, parity.json, config.json, README.md); returns
    the parity record.

    Args:
        pages: page images for the parity check (the first `n_pages` readable ones); none: one seeded random
            page (no detections worth comparing beyond the runtime check).
        input_size: ``(H, W)`` the graph resizes pages to; default :func:`default_input_size`.
        score_thresh: detections compared in the parity check (and counted in the fixed-vs-native match).
    """
    from ..train.dla import load_detector, model_label_names

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    model = load_detector(model_dir).float()
    h, w = input_size or default_input_size(model)
    wrapper = BoxDetector(model, (h, w)).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    # traced on a page of another size than (h, w), so the page-size axes stay dynamic
    dummy = torch.rand(1, 3, h + 37, w + 23)
    with quiet_export(), torch.no_grad():
        torch.onnx.export(wrapper, (dummy,), str(onnx_path), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes={INPUT_NAME: {2: "page_height", 3: "page_width"}}, opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    log.info("exported %s -> %s (internal size %dx%d)", model_dir, onnx_path, w, h)
    session = ort_session(onnx_path)

    records = [_page_parity(name, image, wrapper, model, session, score_thresh)
               for name, image in _parity_pages(pages, n_pages, h, w)]
    record: dict[str, Any] = {
        "format": PARITY_FORMAT, "model_dir": str(model_dir), "task": "object-detection",
        "exporter": f"torch.onnx.export (TorchScript), opset {opset}", "input_size": [h, w],
        "score_thresh": score_thresh, "pages": records,
        "max_abs_box_diff": max(r["max_abs_box_diff"] for r in records),
        "max_abs_score_diff": max(r["max_abs_score_diff"] for r in records),
        "labels_equal": all(r["labels_equal"] for r in records),
        "fixed_vs_native": _fixed_vs_native(records, h, w, score_thresh),
        "files": {"model.onnx": file_record(onnx_path)},
        "versions": versions("torch", "torchvision", "onnx", "onnxruntime"),
    }
    write_json(out_dir / "parity.json", record)
    if card:
        from .card import write_detector_card

        metrics = read_json(model_dir / "metrics.json") if (model_dir / "metrics.json").is_file() else {}
        write_detector_card(model_dir, out_dir, read_json(model_dir / "spec.json"), metrics, record,
                            model_label_names(model_dir), (h, w))
    return record
