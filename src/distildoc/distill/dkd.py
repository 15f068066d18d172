"""``dkd``: Decoupled Knowledge Distillation (Zhao, Cui, Song, Qiu & Liang, CVPR 2022).

    b = [p_y, 1 − p_y] of softmax(z/τ)           binary target / non-target probabilities
    p̂ = softmax(z_k/τ), k ≠ y                    the non-target classes among themselves
    TCKD = τ² · mean_i KL(b^t ‖ b^s),  NCKD = τ² · mean_i KL(p̂^t ‖ p̂^s)
    L = CE(y, s) + w(e) · (α · TCKD + β · NCKD),   w(e) = min(e / W, 1)  for the 1-based epoch e

Hinton's KD is TCKD + (1 − p^t_y)·NCKD; DKD decouples the two so the non-target term is not suppressed
when the teacher is confident. Defaults α = 1, β = 8, τ = 4 are the paper's CIFAR-100 setting (mdistiller's
``CFG.DKD``: CE weight 1, ALPHA 1, BETA 8, T 4; its ImageNet configs use α = 0.5, β = 0.5, τ = 1).
See :func:`distildoc.distill.losses.dkd_terms`.

Warm-up: the distillation weight rises linearly per epoch, w = min(e / W, 1) as mdistiller's
``min(kwargs["epoch"] / self.warmup, 1.0)`` with its epochs counted from 1, so the first epoch already has
w = 1/W and every epoch from the W-th on has w = 1. The paper warms up over W = 20 of 240 CIFAR epochs.
DistilDoc's students train for 3-50 epochs, so by default W is the same *fraction* of the schedule,
``warmup_frac = 20/240`` (W = 1.67 of 20 epochs: w = 0.6, 1, 1, ...; W = 4.17 of 50: w = 0.24, 0.48, 0.72,
0.96, 1, ...; W <= 1, i.e. no warm-up, for schedules of 12 epochs or fewer); ``warmup_epochs`` sets W in epochs instead, 0 turns the warm-up
off. The training loop sets w through :meth:`DKD.on_epoch_start` (from the epoch index alone, so a resumed run
gets the same w); before the first call w = 1. The warm-up applies in training mode only: in eval mode the loss
is the full objective (w = 1), so validation losses of different epochs compare (best-epoch selection on
``val_loss`` would otherwise favour the down-weighted warm-up epochs).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import dkd_terms
from .registry import register_method

#: mdistiller's CIFAR-100 warm-up (20 epochs) as a fraction of its schedule (240 epochs)
PAPER_WARMUP_FRAC = 20 / 240


def dkd_warmup_weight(epoch: int, warmup_epochs: float) -> float:
    """DKD's distillation weight ``min((epoch + 1) / W, 1)`` at the 0-based ``epoch`` (mdistiller's
    ``min(e / W, 1)`` for its 1-based epoch ``e``); ``W <= 0`` means no warm-up (weight 1)."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if warmup_epochs <= 0:
        return 1.0
    return min((epoch + 1) / warmup_epochs, 1.0)


@register_method("dkd")
class DKD(DistillMethod):
    """CE + w·(α·TCKD + β·NCKD) with a linear per-epoch warm-up of w."""

    needs = frozenset({"logits"})

    def __init__(self, alpha: float = 1.0, beta: float = 8.0, tau: float = 4.0, warmup_epochs: float | None = None,
                 warmup_frac: float = PAPER_WARMUP_FRAC) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        if warmup_epochs is not None and warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0 (0: no warm-up), got {warmup_epochs}")
        if not 0.0 <= warmup_frac <= 1.0:
            raise ValueError(f"warmup_frac must be in [0, 1], got {warmup_frac}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.tau = float(tau)
        self.warmup_epochs = None if warmup_epochs is None else float(warmup_epochs)
        self.warmup_frac = float(warmup_frac)
        #: the current distillation weight w (training mode); set by :meth:`on_epoch_start`
        self.warmup_weight = 1.0

    def warmup_length(self, epochs: int) -> float:
        """W in epochs: ``warmup_epochs`` when given, else ``warmup_frac · epochs``."""
        return self.warmup_epochs if self.warmup_epochs is not None else self.warmup_frac * epochs

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.warmup_weight = dkd_warmup_weight(epoch, self.warmup_length(epochs))

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        s = self._s(student, "logits")
        ce = F.cross_entropy(s, labels)
        tckd, nckd = dkd_terms(s, self._t(teacher, "logits"), labels, tau=self.tau)
        w = self.warmup_weight if self.training else 1.0
        return self._with_total({"ce": ce, "tckd": tckd, "nckd": nckd},
                                ce + w * (self.alpha * tckd + self.beta * nckd))

    def extra_repr(self) -> str:
        warmup = f"warmup_epochs={self.warmup_epochs}" if self.warmup_epochs is not None \
            else f"warmup_frac={self.warmup_frac:.4g}"
        return f"alpha={self.alpha}, beta={self.beta}, tau={self.tau}, {warmup}"
