"""``nkd``: Normalized Knowledge Distillation (Yang et al., ICCV 2023, "From Knowledge Distillation
to Self-Knowledge Distillation: A Unified Approach with Normalized Loss and Customized Soft Labels").

    L = −mean_i p_t[y_i] · log p_s[y_i]                                   (target, τ = 1)
        − γ · τ² · mean_i Σ_{k≠y_i} N(p_t^τ)_k · log N(p_s^τ)_k            (non-target)

``N(p^τ)`` renormalises the non-target probabilities at temperature τ (softmax over the logits with
the target logit removed). No separate CE term. Defaults τ = 1, γ = 1.5 (paper: "NKD [τ=1, γ=1.5]";
also the official code's defaults). See :func:`distildoc.distill.losses.nkd_loss`.

``logit_standardization=True`` (default False: the loss above bit-for-bit) computes the non-target term on
z-scored logits Z(z) = (z − mean z) / (std z + 1e-7) (Sun et al., CVPR 2024, "Logit Standardization in
Knowledge Distillation"); see ``nkd_ls``.

``nkd_ls``: NKD with logit standardisation,

    L = −mean_i p_t[y_i] · log p_s[y_i]  −  γ · τ² · mean_i Σ_{k≠y_i} N(Z(t)/τ)_k · log N(Z(s)/τ)_k

The target term keeps the raw logits: it is NKD's stand-in for the cross-entropy, and the LS paper leaves
the CE unstandardised (standardising it would cap the student's target probability, since a z-scored row of
K logits is at most (K−1)/√K above its mean). The LS paper has no NKD experiment, so there is no published
setting: the defaults stay NKD's own τ = 1, γ = 1.5 (for KD the LS paper lowered τ and raised the KD weight,
so τ and γ are the first things to tune).
"""

from __future__ import annotations

from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import nkd_terms
from .registry import register_method


@register_method("nkd")
class NKD(DistillMethod):
    """NKD target + non-target loss (optionally with logit standardisation of the non-target term)."""

    needs = frozenset({"logits"})

    def __init__(self, tau: float = 1.0, gamma: float = 1.5, logit_standardization: bool = False) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = float(tau)
        self.gamma = float(gamma)
        self.logit_standardization = bool(logit_standardization)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        target, non_target = nkd_terms(
            self._s(student, "logits"), self._t(teacher, "logits"), labels, tau=self.tau, gamma=self.gamma,
            standardize=self.logit_standardization,
        )
        return self._with_total({"nkd_target": target, "nkd_non_target": non_target}, target + non_target)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, gamma={self.gamma}, logit_standardization={self.logit_standardization}"


@register_method("nkd_ls")
class NKDLogitStd(NKD):
    """NKD with logit standardisation of the non-target term (Sun et al., CVPR 2024); τ = 1, γ = 1.5."""

    def __init__(self, tau: float = 1.0, gamma: float = 1.5) -> None:
        super().__init__(tau=tau, gamma=gamma, logit_standardization=True)
