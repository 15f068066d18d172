"""ReviewKD for detection (Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021).

The official detection recipe (``dvlab-research/ReviewKD``, ``Detection/``; detectron2 Mask R-CNN,
config ``ReviewKD-R50-R101-Mask.yaml``) distils the five FPN levels P2..P6:

1. *Review* the student's FPN features with attention-based fusion (ABF) modules, from the coarsest level
   to the finest. For level ``l`` (coarse → fine)::

       x_l   = BN(conv1×1(F_l^s))                                          (mid channels)
       r     = nearest-upsample(x_{l+1}', size of x_l)                     (residual from the coarser level)
       a     = sigmoid(conv1×1([x_l, r]))      two maps a_0, a_1 ∈ (0,1)^{H×W}
       x_l'  = a_0 · x_l + a_1 · r                                         (the coarsest level: x_l' = x_l)
       G_l^s = BN(conv3×3(x_l'))                                           (teacher channels)

   (convs without bias; conv1/conv3×3 weights ``kaiming_uniform_(a=1)``, as the official ``ABF``).
2. Hierarchical context loss against the teacher's FPN maps (``hcl_loss`` of
   :mod:`distildoc.distill.losses`: per level MSE plus 4×4 / 2×2 / 1×1 average-pooled MSEs weighted
   1/2, 1/4, 1/8 and normalised, pooling sizes ≥ the map height skipped; summed over levels)::

       L = L_det(student) + λ · Σ_l HCL(G_l^s, F_l^t),      λ = 0.8 (``REVIEWKD_LOSS_WEIGHT`` of the
                                                             official R50←R101 Mask R-CNN config)

The student's detection losses use its *raw* FPN features (the ABF path only feeds the distillation
loss), exactly as the official ``ReviewKD.forward``; the ABF modules are discarded after training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...models.detection.backbones import FPN_KEYS
from ...models.detection.maskrcnn import check_same_transform
from ..losses import hcl_loss
from .registry import DetectionDistillMethod, freeze_module, register_method

__all__ = ["ABF", "ReviewFusion", "ReviewKDDet"]


class ABF(nn.Module):
    """Attention-based fusion of one level (see the module docstring).

    ``forward(x, residual=None) -> (out, fused)``: ``out`` is the teacher-channel map compared with the
    teacher, ``fused`` (mid channels) is passed on to the next finer level as its residual.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False),
                                   nn.BatchNorm2d(mid_channels))
        self.conv2 = nn.Sequential(nn.Conv2d(mid_channels, out_channels, kernel_size=3, stride=1, padding=1,
                                             bias=False),
                                   nn.BatchNorm2d(out_channels))
        self.att_conv = (nn.Sequential(nn.Conv2d(mid_channels * 2, 2, kernel_size=1), nn.Sigmoid())
                         if fuse else None)
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, x: Tensor, residual: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, _, h, w = x.shape
        x = self.conv1(x)
        if self.att_conv is not None:
            if residual is None:
                raise ValueError("a fusing ABF needs the residual of the coarser level")
            residual = F.interpolate(residual, size=(h, w), mode="nearest")
            z = self.att_conv(torch.cat([x, residual], dim=1))
            x = x * z[:, 0].view(n, 1, h, w) + residual * z[:, 1].view(n, 1, h, w)
        return self.conv2(x), x


class ReviewFusion(nn.Module):
    """The chain of ABFs over a fine→coarse list of student maps; returns the reviewed maps fine→coarse.

    ``abfs[0]`` handles the coarsest level (no fusion), ``abfs[i]`` the ``i``-th level from the top.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], mid_channels: int) -> None:
        super().__init__()
        if len(in_channels) != len(out_channels) or not in_channels:
            raise ValueError(f"in/out channel lists must be equally long and non-empty: {in_channels} / {out_channels}")
        n = len(in_channels)
        abfs = [ABF(c_in, mid_channels, c_out, fuse=i < n - 1)
                for i, (c_in, c_out) in enumerate(zip(in_channels, out_channels))]
        self.abfs = nn.ModuleList(abfs[::-1])

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != len(self.abfs):
            raise ValueError(f"expected {len(self.abfs)} feature levels, got {len(feats)}")
        x = list(feats)[::-1]
        out, res = self.abfs[0](x[0])
        results = [out]
        for f, abf in zip(x[1:], self.abfs[1:]):
            out, res = abf(f, res)
            results.insert(0, out)
        return results


@register_method("reviewkd")
class ReviewKDDet(DetectionDistillMethod):
    """ReviewKD on the FPN levels P2..P6 (formula in the module docstring).

    Args:
        student_channels / teacher_channels: FPN widths per level (five entries, P2..P6).
        mid_channels: ABF width (the official detection config: 256 = the FPN width). ``None`` in
            :meth:`from_models` means the student's FPN width.
        loss_weight: λ (0.8).
        pool_sizes: HCL pooling sizes ((4, 2, 1)).

    Losses: the five torchvision detection losses, ``hcl_p2`` .. ``hcl_p6`` (unweighted per level),
    ``reviewkd`` = λ · Σ HCL, ``loss`` = Σ detection + ``reviewkd``.
    """

    def __init__(self, student_channels: Sequence[int] = (256,) * 5, teacher_channels: Sequence[int] = (256,) * 5,
                 mid_channels: int = 256, loss_weight: float = 0.8, pool_sizes: Sequence[int] = (4, 2, 1)) -> None:
        super().__init__()
        self.student_channels = tuple(int(c) for c in student_channels)
        self.teacher_channels = tuple(int(c) for c in teacher_channels)
        self.mid_channels = int(mid_channels)
        self.loss_weight = float(loss_weight)
        self.pool_sizes = tuple(int(p) for p in pool_sizes)
        self.fusion = ReviewFusion(self.student_channels, self.teacher_channels, self.mid_channels)

    @classmethod
    def from_models(cls, student: nn.Module | None = None, teacher: nn.Module | None = None,
                    mid_channels: int | None = None, **hparams: Any) -> ReviewKDDet:
        if student is None or teacher is None:
            raise ValueError("reviewkd.from_models needs the student and the teacher detector")
        s_c, t_c = int(student.backbone.out_channels), int(teacher.backbone.out_channels)
        return cls(student_channels=(s_c,) * len(FPN_KEYS), teacher_channels=(t_c,) * len(FPN_KEYS),
                   mid_channels=s_c if mid_channels is None else mid_channels, **hparams)

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, mid_channels={self.mid_channels}, pool_sizes={self.pool_sizes}"

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> None:
        freeze_module(self._require_teacher(teacher))
        check_same_transform(student, teacher)

    def forward(self, student_model: nn.Module, teacher_model: nn.Module | None, images: Sequence[Tensor],
                targets: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        losses, s_feats, t_feats = self._features_and_detection_losses(student_model, teacher_model, images, targets)
        reviewed = self.fusion([s_feats[k] for k in FPN_KEYS])
        per_level = [hcl_loss(r, t_feats[k], self.pool_sizes) for r, k in zip(reviewed, FPN_KEYS)]
        for k, v in zip(FPN_KEYS, per_level):
            losses[f"hcl_p{FPN_KEYS.index(k) + 2}"] = v.detach()
        kd = self.loss_weight * torch.stack(per_level).sum()
        losses["reviewkd"] = kd
        return self._with_detection_total(losses, "reviewkd")
