"""PKD for detection (Cao et al., NeurIPS 2022, "PKD: General Distillation Framework for Object Detectors via
Pearson Correlation Coefficient").

Each FPN level of student and teacher is standardised **per channel** over the batch and the spatial
positions (zero mean, unit standard deviation), and the standardised maps are matched with MSE::

    F̂ = (F − μ_c) / (σ_c + ε),  μ_c, σ_c over (N, H, W) of channel c,  ε = 1e-6

    L_pkd(F^s, F^t) = ½ · MSE(F̂^s, F̂^t) = ½ · mean_{c,n,h,w} (F̂^s − F̂^t)²
                    (= 1 − r per channel, up to the (n−1)/n of the sample std)

    L = L_det(student) + λ · Σ_{l ∈ P2..P5} L_pkd(F_l^s, F_l^t),     λ = 6

so the student copies the *relation* between positions and channels of the teacher's features, not their
magnitude (the reason PKD works between heterogeneous detectors). λ = 6 on P2-P5 (P6 not distilled) is
mmrazor's ``pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco`` (``PKDLoss(loss_weight=6)`` on neck outputs
0-3); the ½ and ε follow mmrazor's ``PKDLoss``. A teacher map of another spatial size is bilinearly
resized to the student's (mmrazor's default); here both detectors share the input transform (checked in
:meth:`PKDDet.prepare`), so sizes agree. Both FPNs must have the same width (PKD has no adapter): a mismatch
is an error naming both.

Pure loss math: :func:`distildoc.distill.losses.pkd_loss`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ...models.detection.backbones import FPN_KEYS
from ...models.detection.maskrcnn import check_same_transform
from ..losses import pkd_loss
from .registry import DetectionDistillMethod, freeze_module, register_method

__all__ = ["PKDDet"]

#: the FPN levels PKD distils (mmrazor's config: neck outputs 0-3 = P2..P5)
PKD_LEVELS: tuple[str, ...] = tuple(FPN_KEYS[:4])


@register_method("pkd")
class PKDDet(DetectionDistillMethod):
    """PKD on the FPN levels P2..P5 (formula in the module docstring).

    Args:
        loss_weight: λ (6, mmrazor's two-stage detector config).
        levels: FPN keys distilled (default P2..P5).

    Losses: the five torchvision detection losses, ``pkd_p2`` .. ``pkd_p5`` (unweighted per level),
    ``pkd`` = λ · Σ, ``loss`` = Σ detection + ``pkd``.
    """

    def __init__(self, loss_weight: float = 6.0, levels: Sequence[str] = PKD_LEVELS) -> None:
        super().__init__()
        if loss_weight < 0:
            raise ValueError(f"pkd: loss_weight must be >= 0, got {loss_weight}")
        unknown = [k for k in levels if k not in FPN_KEYS]
        if unknown or not levels:
            raise ValueError(f"pkd: levels must be a non-empty subset of {list(FPN_KEYS)}, got {list(levels)}")
        self.loss_weight = float(loss_weight)
        self.levels = tuple(levels)

    @classmethod
    def from_models(cls, student: nn.Module | None = None, teacher: nn.Module | None = None,
                    **hparams: Any) -> PKDDet:
        if student is not None and teacher is not None:
            s_c, t_c = int(student.backbone.out_channels), int(teacher.backbone.out_channels)
            if s_c != t_c:
                raise ValueError(f"pkd needs equal FPN widths (it has no adapter): student {s_c}, teacher {t_c}")
        return cls(**hparams)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, levels={self.levels}"

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> None:
        freeze_module(self._require_teacher(teacher))
        check_same_transform(student, teacher)

    def forward(self, student_model: nn.Module, teacher_model: nn.Module | None, images: Sequence[Tensor],
                targets: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        losses, s_feats, t_feats = self._features_and_detection_losses(student_model, teacher_model, images, targets)
        per_level = [pkd_loss(s_feats[k], t_feats[k]) for k in self.levels]
        for k, v in zip(self.levels, per_level):
            losses[f"pkd_p{FPN_KEYS.index(k) + 2}"] = v.detach()
        kd = self.loss_weight * torch.stack(per_level).sum()
        losses["pkd"] = kd
        return self._with_detection_total(losses, "pkd")
