"""COCO instance files (DocLayNet, PubLayNet, PRImA-converted, synthetic) for torchvision detection.

:func:`load_coco` validates a COCO file; :func:`coco_to_targets` turns the annotations of one image into
torchvision's detection target (``boxes`` xyxy float, ``labels`` int64, ``masks`` uint8 N×H×W rasterised
from the polygons / RLE with ``pycocotools.mask``); :class:`CocoDetectionDataset` pairs targets with the
page images. An unreadable page raises :class:`UnreadableImageError` (a missing one FileNotFoundError),
naming it; :meth:`CocoDetectionDataset.drop_unreadable` and the detector's pre-decoding skip and count them.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pycocotools import mask as mask_utils
from torch.utils.data import Dataset

from ..utils.io import read_json, write_json
from .images import UNREADABLE_ERRORS, unreadable_reason

log = logging.getLogger(__name__)

_TOP_KEYS = ("images", "annotations", "categories")
_IMAGE_KEYS = ("id", "file_name", "width", "height")
_ANN_KEYS = ("id", "image_id", "category_id", "bbox")
_CAT_KEYS = ("id", "name")

Size = int | tuple[int, int]


class UnreadableImageError(OSError):
    """A page image that exists but cannot be decoded (empty, truncated, not an image); names the file."""


def _check_keys(path: Path, what: str, index: int, obj: Any, keys: Sequence[str]) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: {what}[{index}] is a {type(obj).__name__}, expected an object")
    missing = [k for k in keys if k not in obj]
    if missing:
        ident = f" (id={obj['id']})" if "id" in obj else ""
        raise ValueError(f"{path}: {what}[{index}]{ident} is missing key(s) {', '.join(repr(k) for k in missing)}")


def load_coco(path: str | os.PathLike) -> dict:
    """Read and validate a COCO instances file.

    Checks: the top-level ``images`` / ``annotations`` / ``categories`` lists exist; every image has
    ``id, file_name, width, height``, every annotation ``id, image_id, category_id, bbox`` (4 numbers),
    every category ``id, name``; ids are unique; annotations refer to known images and categories.

    Raises:
        ValueError: naming the file, the list, the index / id and the offending key.
    """
    path = Path(path)
    coco = read_json(path)
    if not isinstance(coco, dict):
        raise ValueError(f"{path}: top level is a {type(coco).__name__}, expected a COCO object")
    for key in _TOP_KEYS:
        if key not in coco:
            raise ValueError(f"{path}: missing top-level key {key!r}")
        if not isinstance(coco[key], list):
            raise ValueError(f"{path}: top-level key {key!r} is a {type(coco[key]).__name__}, expected a list")
    for what, keys in (("images", _IMAGE_KEYS), ("annotations", _ANN_KEYS), ("categories", _CAT_KEYS)):
        seen: set = set()
        for i, obj in enumerate(coco[what]):
            _check_keys(path, what, i, obj, keys)
            if obj["id"] in seen:
                raise ValueError(f"{path}: {what}[{i}] repeats id {obj['id']!r}")
            seen.add(obj["id"])
    image_ids = {im["id"] for im in coco["images"]}
    cat_ids = {c["id"] for c in coco["categories"]}
    for i, ann in enumerate(coco["annotations"]):
        bbox = ann["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{path}: annotations[{i}] (id={ann['id']}) key 'bbox' must be 4 numbers, got {bbox!r}")
        if ann["image_id"] not in image_ids:
            raise ValueError(f"{path}: annotations[{i}] (id={ann['id']}) key 'image_id' = {ann['image_id']!r} "
                             "is not an image id")
        if ann["category_id"] not in cat_ids:
            raise ValueError(f"{path}: annotations[{i}] (id={ann['id']}) key 'category_id' = "
                             f"{ann['category_id']!r} is not a category id")
    log.info("read %s: %d images, %d annotations, %d categories", path, len(coco["images"]),
             len(coco["annotations"]), len(coco["categories"]))
    return coco


def filter_doclaynet_precedence(coco: dict) -> dict:
    """Keep only annotations with ``precedence == 0`` (DocLayNet's primary annotator); others unchanged.

    DocLayNet stores several annotators' boxes for some pages and marks the primary one with
    ``precedence`` 0. Annotations without a ``precedence`` key are kept. Returns a new dict (the input
    is not modified).
    """
    kept = [a for a in coco["annotations"] if a.get("precedence", 0) == 0]
    dropped = len(coco["annotations"]) - len(kept)
    if dropped:
        log.info("dropped %d annotations with precedence != 0 (kept %d)", dropped, len(kept))
    return {**coco, "annotations": kept}


def annotations_by_image(coco: dict) -> dict[Any, list[dict]]:
    """``image id -> [annotation, ...]`` in file order (images without annotations are absent)."""
    index: dict[Any, list[dict]] = defaultdict(list)
    for ann in coco["annotations"]:
        index[ann["image_id"]].append(ann)
    return dict(index)


def _target_size(size: Size | None, width: int, height: int) -> tuple[int, int]:
    if size is None:
        return width, height
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _ann_mask(ann: dict, width: int, height: int, sx: float, sy: float, out_w: int, out_h: int) -> np.ndarray:
    """Rasterise one annotation at the output size: polygons are scaled before rasterising, RLE masks
    are decoded at the image size and resized (nearest); no segmentation -> the filled box."""
    seg = ann.get("segmentation")
    if isinstance(seg, list) and seg:
        polys = [[v * (sx if k % 2 == 0 else sy) for k, v in enumerate(poly)] for poly in seg if len(poly) >= 6]
        if polys:
            return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, out_h, out_w)))
    if isinstance(seg, dict) and "counts" in seg:
        rle = mask_utils.frPyObjects(seg, height, width) if isinstance(seg["counts"], list) else seg
        m = mask_utils.decode(rle)
        if (out_w, out_h) != (width, height):
            m = np.asarray(Image.fromarray(m).resize((out_w, out_h), Image.Resampling.NEAREST))
        return m
    x, y, w, h = ann["bbox"]
    m = np.zeros((out_h, out_w), dtype=np.uint8)
    m[int(round(y * sy)):int(round((y + h) * sy)), int(round(x * sx)):int(round((x + w) * sx))] = 1
    return m


def coco_to_targets(
    coco: dict, image_id: Any, size: Size | None = None, anns: list[dict] | None = None
) -> dict[str, torch.Tensor]:
    """torchvision detection target of one image.

    Args:
        coco: a COCO dict (e.g. from :func:`load_coco`).
        image_id: the image's COCO id.
        size: rescale to this square side or ``(width, height)``; boxes and masks follow the image.
        anns: the image's annotations if already grouped (:func:`annotations_by_image`); else found here.

    Returns:
        ``boxes`` float32 N×4 (x1, y1, x2, y2 in output pixels), ``labels`` int64 N (COCO category ids),
        ``masks`` uint8 N×H×W, ``area`` float32 N (mask pixels), ``iscrowd`` int64 N and ``image_id``.
        Boxes of zero width or height are dropped (torchvision's detectors reject them; logged).
    """
    image = next((im for im in coco["images"] if im["id"] == image_id), None)
    if image is None:
        raise KeyError(f"image id {image_id!r} not in the COCO file")
    if anns is None:
        anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
    return image_targets(image, anns, size)


def image_targets(image: dict, anns: Sequence[dict], size: Size | None = None) -> dict[str, torch.Tensor]:
    """:func:`coco_to_targets` for an image entry and its annotations already at hand."""
    image_id = image["id"]
    width, height = int(image["width"]), int(image["height"])
    out_w, out_h = _target_size(size, width, height)
    sx, sy = out_w / width, out_h / height
    boxes, labels, masks, crowd = [], [], [], []
    for ann in anns:
        x, y, w, h = (float(v) for v in ann["bbox"])
        x1, y1 = max(0.0, x * sx), max(0.0, y * sy)
        x2, y2 = min(float(out_w), (x + w) * sx), min(float(out_h), (y + h) * sy)
        if x2 <= x1 or y2 <= y1:
            log.warning("image %s: dropped degenerate box of annotation %s: %s", image_id, ann.get("id"), ann["bbox"])
            continue
        boxes.append([x1, y1, x2, y2])
        labels.append(int(ann["category_id"]))
        masks.append(_ann_mask(ann, width, height, sx, sy, out_w, out_h))
        crowd.append(int(ann.get("iscrowd", 0)))
    masks_t = torch.from_numpy(np.stack(masks)) if masks else torch.zeros((0, out_h, out_w), dtype=torch.uint8)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": masks_t,
        "area": masks_t.flatten(1).sum(1).to(torch.float32),
        "iscrowd": torch.tensor(crowd, dtype=torch.int64),
        "image_id": image_id,
    }


class CocoDetectionDataset(Dataset):
    """Page images + COCO targets for torchvision detection models.

    Item ``i`` is ``(image, target)``: ``image`` float32 3×H×W in [0, 1] (RGB; grayscale pages are
    replicated), ``target`` as :func:`coco_to_targets` (boxes, labels, masks, area, iscrowd, image_id).
    With `size` (a square side or ``(width, height)``) the image is resized bilinearly and boxes / masks
    follow it. Images are listed in the COCO file's order; ``file_name`` is relative to `images_dir`.
    """

    def __init__(self, images_dir: str | os.PathLike, ann_file: str | os.PathLike | dict, size: Size | None = None,
                 precedence_only: bool = True) -> None:
        self.images_dir = Path(images_dir)
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"missing image folder of the detection dataset: {self.images_dir}")
        coco = ann_file if isinstance(ann_file, dict) else load_coco(ann_file)
        self.coco = filter_doclaynet_precedence(coco) if precedence_only else coco
        self.size = size
        self.images = list(self.coco["images"])
        self._anns = annotations_by_image(self.coco)
        self.categories = {c["id"]: c["name"] for c in self.coco["categories"]}

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        return self.images_dir / self.images[index]["file_name"]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        info = self.images[index]
        path = self.image_path(index)
        if not path.is_file():
            raise FileNotFoundError(f"image {info['file_name']!r} (id {info['id']}) not found at {path}")
        try:
            with Image.open(path) as im:
                rgb = im.convert("RGB")
        except UNREADABLE_ERRORS as err:
            raise UnreadableImageError(f"unreadable image {path} (id {info['id']}): {err}") from err
        if rgb.size != (info["width"], info["height"]):
            log.warning("%s is %dx%d but the COCO file says %dx%d", path, *rgb.size, info["width"], info["height"])
        out_w, out_h = _target_size(self.size, int(info["width"]), int(info["height"]))
        if rgb.size != (out_w, out_h):
            rgb = rgb.resize((out_w, out_h), Image.Resampling.BILINEAR)
        image = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255.0)
        target = image_targets(info, self._anns.get(info["id"], []), self.size)
        return image, target

    def drop_unreadable(self) -> list[str]:
        """Decode every page once; drop the missing / unreadable ones (logged) and return their paths
        (relative ``file_name``). ``self.coco`` keeps only the readable images and their annotations."""
        skipped = []
        for i in range(len(self.images)):
            path = self.image_path(i)
            reason = unreadable_reason(path)
            if reason is not None:
                log.warning("skipping unreadable image %s: %s", path, reason)
                skipped.append(self.images[i]["file_name"])
        if skipped:
            bad = set(skipped)
            self.images = [im for im in self.images if im["file_name"] not in bad]
            keep = {im["id"] for im in self.images}
            self.coco = {**self.coco, "images": self.images,
                         "annotations": [a for a in self.coco["annotations"] if a["image_id"] in keep]}
            log.warning("%s: skipped %d unreadable image(s): %s", self.images_dir, len(skipped), ", ".join(skipped))
        return skipped


def find_doclaynet_coco(root: str | os.PathLike, split: str = "train", max_depth: int = 3) -> Path:
    """The ``COCO/<split>.json`` of a DocLayNet core download under `root` (the archive may wrap it in a
    top-level folder such as ``DocLayNet_core/``); FileNotFoundError naming `root` when absent."""
    root = Path(root)
    for depth in range(max_depth + 1):
        hits = sorted(root.glob("/".join(["*"] * depth + ["COCO", f"{split}.json"])))
        if hits:
            return hits[0]
    raise FileNotFoundError(f"no DocLayNet COCO/{split}.json under {root} (searched {max_depth} levels down)")


def convert_doclaynet(root: str | os.PathLike, out_dir: str | os.PathLike,
                      splits: Sequence[str] = ("train", "val")) -> dict[str, Path]:
    """DocLayNet core -> the pipeline's layout files ``<out_dir>/<split>.json``.

    For each split: read ``COCO/<split>.json`` (:func:`find_doclaynet_coco`), keep the annotations with
    ``precedence == 0`` (:func:`filter_doclaynet_precedence`), and rewrite every ``file_name`` to be
    relative to `root` (``PNG/<page hash>.png``, or ``<wrapper>/PNG/...``), so that `root` is the images
    root the detectors read from. Everything else (ids, categories, extra keys) is kept.
    """
    root = Path(root)
    written = {}
    for split in splits:
        src = find_doclaynet_coco(root, split)
        png = src.parent.parent / "PNG"
        prefix = png.relative_to(root).as_posix()
        coco = filter_doclaynet_precedence(load_coco(src))
        coco = {**coco, "images": [{**im, "file_name": f"{prefix}/{im['file_name']}"} for im in coco["images"]]}
        written[split] = write_json(Path(out_dir) / f"{split}.json", coco, indent=None)
        log.info("DocLayNet %s: %d pages, %d annotations (precedence 0) -> %s", split, len(coco["images"]),
                 len(coco["annotations"]), written[split])
    return written
