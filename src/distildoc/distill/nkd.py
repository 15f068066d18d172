"""``nkd``: Normalized Knowledge Distillation (Yang et al., ICCV 2023, "From Knowledge Distillation
to Self-Knowledge Distillation: A Unified Approach with Normalized Loss and Customized Soft Labels").

    L = −mean_i p_t[y_i] · log p_s[y_i]                                   (target, τ = 1)
        − γ · τ² · mean_i Σ_{k≠y_i} N(p_t^τ)_k · log N(p_s^τ)_k            (non-target)

``N(p^τ)`` renormalises the non-target probabilities at temperature τ (softmax over the logits with
the target logit removed). No separate CE term. Defaults τ = 1, γ = 1.5 (paper: "NKD [τ=1, γ=1.5]";
also the official code's defaults). See :func:`distildoc.distill.losses.nkd_loss`.
"""

from __future__ import annotations

from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import nkd_terms
from .registry import register_method


@register_method("nkd")
class NKD(DistillMethod):
    """NKD target + non-target loss."""

    needs = frozenset({"logits"})

    def __init__(self, tau: float = 1.0, gamma: float = 1.5) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = float(tau)
        self.gamma = float(gamma)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        target, non_target = nkd_terms(
            self._s(student, "logits"), self._t(teacher, "logits"), labels, tau=self.tau, gamma=self.gamma
        )
        return self._with_total({"nkd_target": target, "nkd_non_target": non_target}, target + non_target)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, gamma={self.gamma}"
