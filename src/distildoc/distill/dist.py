"""``dist``: DIST (Huang, You, Wang, Qian & Xu, NeurIPS 2022, "Knowledge Distillation from A Stronger Teacher").

    Y^s = softmax(s/τ),  Y^t = softmax(t/τ)                                     ([B, K])
    L = CE(y, s) + β · τ² · (1 − mean_i ρ(Y^s_i,:, Y^t_i,:))        (inter-class: per sample, over classes)
                 + γ · τ² · (1 − mean_k ρ(Y^s_:,k, Y^t_:,k))        (intra-class: per class, over the batch)

ρ is the Pearson correlation (cosine similarity of mean-centred vectors, ε = 1e-8). DIST replaces the KL
with these relations, so a student has to match the teacher's *ranking* of the classes and of the samples,
not its exact probabilities. The paper's classification objective keeps the cross-entropy with weight 1
(the official ``KDLoss`` wrapper: ``ori_loss_weight · CE + kd_loss_weight · DIST``); torchdistill's
``DISTLoss`` is the relation part only and its ImageNet sample adds ``CrossEntropyLoss`` (weight 1).
Defaults β = γ = 1, τ = 1 are the official loss module's and torchdistill's ``DISTLoss`` defaults;
torchdistill's ImageNet sample (ResNet-18 from ResNet-34) weights the DIST term by 2, i.e. β = γ = 2.
The intra-class term depends on the batch: a batch of one sample makes it the constant τ².
See :func:`distildoc.distill.losses.dist_terms`.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import dist_terms
from .registry import register_method


@register_method("dist")
class DIST(DistillMethod):
    """CE + β·inter-class + γ·intra-class Pearson-correlation loss on softmax(·/τ)."""

    needs = frozenset({"logits"})

    def __init__(self, beta: float = 1.0, gamma: float = 1.0, tau: float = 1.0) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if beta < 0 or gamma < 0:
            raise ValueError(f"beta and gamma must be >= 0, got beta={beta}, gamma={gamma}")
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.tau = float(tau)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        s = self._s(student, "logits")
        ce = F.cross_entropy(s, labels)
        inter, intra = dist_terms(s, self._t(teacher, "logits"), tau=self.tau)
        return self._with_total({"ce": ce, "dist_inter": inter, "dist_intra": intra},
                                ce + self.beta * inter + self.gamma * intra)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, gamma={self.gamma}, tau={self.tau}"
