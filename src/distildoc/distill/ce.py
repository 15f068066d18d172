"""``ce``: plain cross-entropy fine-tuning of the student (no teacher).

    L = CE(y, s)

The "no distillation" baseline. Note that DistilDoc's released code did *not* train this for its
"CE" rows; see :mod:`distildoc.distill.ce_distildoc`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .registry import register_method


@register_method("ce")
class CrossEntropy(DistillMethod):
    """Cross-entropy on the student logits; ``needs`` is empty, so no teacher forward is required."""

    needs = frozenset()

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(self._s(student, "logits"), labels, label_smoothing=self.label_smoothing)
        return self._with_total({"ce": ce}, ce)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"
