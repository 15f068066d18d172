"""``ce_kd``: vanilla knowledge distillation (Hinton, Vinyals & Dean, 2015).

    L = α · CE(y, s) + (1 − α) · τ² · KL(softmax(t/τ) ‖ softmax(s/τ))

KL with ``batchmean`` reduction (summed over classes, averaged over the batch); the CE term uses
τ = 1. Defaults τ = 2.5, α = 0.5 are the paper's (DistilDoc supplementary, "Vanilla [τ=2.5, α=0.5]").
This is torchdistill's ``KDLoss(temperature=τ, alpha=α)`` and DistilDoc's ``CE+KD`` branch.

Options (defaults keep the loss above bit-for-bit): ``beta`` replaces the KD weight ``1 − α`` (torchdistill's
``KDLoss(alpha, beta)``); ``logit_standardization=True`` z-scores both logit rows before the KL
(:func:`~distildoc.distill.losses.logit_standardize`; the CE keeps the raw logits), see ``ce_kd_ls``.

``ce_kd_ls``: KD with logit standardisation (Sun et al., CVPR 2024, "Logit Standardization in Knowledge
Distillation"):

    L = α · CE(y, s) + β · τ² · KL(softmax(Z(t)/τ) ‖ softmax(Z(s)/τ)),   Z(z) = (z − mean z) / (std z + 1e-7)

Defaults α = 1, β = 9, τ = 2: the official code's "KD+Ours" recipe (``tools/train.py --logit-stand
--base-temp 2 --kd-weight 9`` with ``CFG.KD.LOSS.CE_WEIGHT = 1``; README of sunshangquan/logit-standardization-KD,
CIFAR-100), i.e. torchdistill's ``LogitStdKDLoss(temperature=2, alpha=1, beta=9)``. The paper's τ is a "base
temperature": the effective temperature on the raw logits is τ·std(z) per sample. torchdistill's docstring
example uses α = 0.5 with β = 9 and τ = 2; the official ImageNet runs used other recipes (CE 0.5, KD 0.5).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import kd_kl, logit_standardize
from .registry import register_method


@register_method("ce_kd")
class CEKD(DistillMethod):
    """α·CE + (1−α)·τ²·KL (Hinton KD); optional KD weight β and logit standardisation."""

    needs = frozenset({"logits"})

    def __init__(self, alpha: float = 0.5, tau: float = 2.5, beta: float | None = None,
                 logit_standardization: bool = False) -> None:
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if beta is not None and beta < 0:
            raise ValueError(f"beta (the KD weight) must be >= 0, got {beta}")
        self.alpha = float(alpha)
        self.tau = float(tau)
        self.beta = None if beta is None else float(beta)
        self.logit_standardization = bool(logit_standardization)

    @property
    def kd_weight(self) -> float:
        """Weight of the τ²·KL term: ``beta`` when given, else ``1 − alpha``."""
        return 1.0 - self.alpha if self.beta is None else self.beta

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        s = self._s(student, "logits")
        t = self._t(teacher, "logits")
        ce = F.cross_entropy(s, labels)
        if self.logit_standardization:
            kd = kd_kl(logit_standardize(s), logit_standardize(t), self.tau)
        else:
            kd = kd_kl(s, t, self.tau)
        return self._with_total({"ce": ce, "kd": kd}, self.alpha * ce + self.kd_weight * kd)

    def extra_repr(self) -> str:
        extra = "" if self.beta is None else f", beta={self.beta}"
        return f"alpha={self.alpha}, tau={self.tau}{extra}, logit_standardization={self.logit_standardization}"


@register_method("ce_kd_ls")
class CEKDLogitStd(CEKD):
    """KD with logit standardisation (Sun et al., CVPR 2024): α·CE + β·τ²·KL of z-scored logits, α=1, β=9, τ=2."""

    def __init__(self, alpha: float = 1.0, tau: float = 2.0, beta: float = 9.0) -> None:
        super().__init__(alpha=alpha, tau=tau, beta=beta, logit_standardization=True)
