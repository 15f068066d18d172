"""Pre-decoded image splits: every image decoded once to uint8 at the final size, kept as one tensor.

Training then never touches JPEG/PNG/TIFF decoding or DataLoader workers (on 2-core CPUs decoding
dominated the small models' steps: docs/tuning.md). A split file holds ``images`` (N×H×W uint8, grayscale),
``labels`` (N int64), ``ids`` (relative paths) and ``skipped`` (unreadable inputs, named).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..utils.io import atomic_path
from .rvlcdip import decode_split, read_label_file, subset_per_class

log = logging.getLogger(__name__)

#: pixel normalisation of grayscale pages: (x / 255 - 0.5) / 0.5, as BEiT/DiT and the HF ViTs use
MEAN, STD = 0.5, 0.5


@dataclass
class TensorSplit:
    images: torch.Tensor  # N×H×W uint8
    labels: torch.Tensor  # N int64
    ids: list[str]
    skipped: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def fingerprint(self) -> str:
        """Content hash of the pixels and labels (keys the teacher-output cache)."""
        h = hashlib.sha256()
        h.update(self.images.numpy().tobytes())
        h.update(self.labels.numpy().tobytes())
        return h.hexdigest()[:16]

    def take(self, rows: torch.Tensor) -> TensorSplit:
        """The split restricted to `rows` (in that order); the skipped inputs stay named."""
        return TensorSplit(self.images[rows], self.labels[rows], [self.ids[i] for i in rows.tolist()],
                           list(self.skipped))

    def batch(self, index: torch.Tensor | slice, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images normalised to [-1, 1], grayscale replicated to `channels`, and labels."""
        x = self.images[index].float().div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1)
        if channels != 1:
            x = x.expand(-1, channels, -1, -1)
        return x, self.labels[index]


def per_class_rows(labels: torch.Tensor, n_per_class: int, seed: int) -> torch.Tensor:
    """The rows of the first `n_per_class` examples of every class after a seeded shuffle, in ascending order: the
    student subset's rule (:func:`distildoc.data.rvlcdip.subset_per_class`) applied to a decoded split's rows. On a
    split decoded without skipped pages, the subset's N and seed choose exactly the subset's pages, and a larger N
    chooses a superset of them (`dic.student_pages` N)."""
    chosen = subset_per_class([(i, int(y)) for i, y in enumerate(labels.tolist())], n_per_class, seed)
    return torch.tensor(sorted(i for i, _ in chosen), dtype=torch.long)


def build_split(label_file: str | Path, image_root: str | Path, size: int, out_path: str | Path) -> TensorSplit:
    """Decode every image listed in `label_file` (paths relative to `image_root`) and save the split."""
    entries = read_label_file(label_file)
    images, labels, ids, skipped = decode_split(entries, image_root, size)
    if skipped:
        log.warning("%s: skipped %d unreadable image(s): %s", label_file, len(skipped), ", ".join(skipped[:20]))
    split = TensorSplit(torch.from_numpy(np.ascontiguousarray(images)), torch.as_tensor(labels, dtype=torch.int64),
                        list(ids), list(skipped))
    save_split(split, out_path)
    log.info("decoded %d images (%dx%d) from %s -> %s", len(split), size, size, label_file, out_path)
    return split


def save_split(split: TensorSplit, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        torch.save({"images": split.images, "labels": split.labels, "ids": split.ids, "skipped": split.skipped}, tmp)


def load_split(path: str | Path) -> TensorSplit:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing decoded split: {path}")
    d = torch.load(path, weights_only=True)
    return TensorSplit(d["images"], d["labels"], list(d["ids"]), list(d["skipped"]))
