"""``ce_kd``: vanilla knowledge distillation (Hinton, Vinyals & Dean, 2015).

    L = α · CE(y, s) + (1 − α) · τ² · KL(softmax(t/τ) ‖ softmax(s/τ))

KL with ``batchmean`` reduction (summed over classes, averaged over the batch); the CE term uses
τ = 1. Defaults τ = 2.5, α = 0.5 are the paper's (DistilDoc supplementary, "Vanilla [τ=2.5, α=0.5]").
This is torchdistill's ``KDLoss(temperature=τ, alpha=α)`` and DistilDoc's ``CE+KD`` branch.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import kd_kl
from .registry import register_method


@register_method("ce_kd")
class CEKD(DistillMethod):
    """α·CE + (1−α)·τ²·KL (Hinton KD)."""

    needs = frozenset({"logits"})

    def __init__(self, alpha: float = 0.5, tau: float = 2.5) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.alpha = float(alpha)
        self.tau = float(tau)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        s = self._s(student, "logits")
        t = self._t(teacher, "logits")
        ce = F.cross_entropy(s, labels)
        kd = kd_kl(s, t, self.tau)
        return self._with_total({"ce": ce, "kd": kd}, self.alpha * ce + (1.0 - self.alpha) * kd)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, tau={self.tau}"
