"""``fitnet``: FitNets hint learning (Romero et al., ICLR 2015) as used by DistilDoc ("FitNet [middle]").

    L = w_hint · MSE(R(f_s^mid), f_t^mid) + w_ce · CE(y, s),      w_hint = w_ce = 1

``f^mid`` are middle-layer feature maps ``[B, C, H, W]`` (ViT: middle hidden tokens reshaped to the
patch grid). ``R`` is a convolutional regressor student channels -> teacher channels
(:class:`ConvReg`: conv + BatchNorm + ReLU) whose conv is chosen from the two spatial sizes, following
FitNets as implemented in RepDistiller/mdistiller/SimKD (``ConvReg``):

=====================================  ============================================================
student (H, W) vs teacher (H', W')      conv
=====================================  ============================================================
equal                                   1×1 conv
(2H', 2W')                              3×3 conv, stride 2, padding 1   (shrink by 2)
(H'/2, W'/2)                            4×4 transposed conv, stride 2, padding 1   (grow by 2)
H ≥ H' and W ≥ W'                       (1+H−H')×(1+W−W') conv, no padding   (shrink)
otherwise (student smaller)             3×3 conv, padding 1, and the teacher map is adaptive-avg-
                                        pooled to the student's size (SimKD / DistilDoc fallback;
                                        mdistiller raises here)
=====================================  ============================================================

The regressor is only needed for training; student predictions are the student's own logits.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillMethod, ModelDims, ModelOutputs
from .losses import feature_mse
from .registry import register_method

__all__ = ["ConvReg", "FitNet"]


def _hw(value: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


class ConvReg(nn.Module):
    """Convolutional regressor student map -> teacher map (see the module docstring for the rules).

    Sub-module names ``conv`` / ``bn`` match torchdistill's ``ConvReg`` so weights can be exchanged.
    """

    def __init__(
        self,
        student_channels: int,
        teacher_channels: int,
        student_hw: int | tuple[int, int] | None = None,
        teacher_hw: int | tuple[int, int] | None = None,
        use_relu: bool = True,
    ) -> None:
        super().__init__()
        s_hw, t_hw = _hw(student_hw), _hw(teacher_hw)
        if s_hw is None or t_hw is None:
            if s_hw != t_hw:
                raise ValueError("give both student_hw and teacher_hw, or neither (equal sizes assumed)")
        self.student_hw = s_hw
        self.teacher_hw = t_hw
        self.pool_teacher_to: tuple[int, int] | None = None
        if s_hw == t_hw:
            self.mode = "1x1"
            conv: nn.Module = nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
        else:
            (sh, sw), (th, tw) = s_hw, t_hw
            if (sh, sw) == (2 * th, 2 * tw):
                self.mode = "stride2"
                conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=3, stride=2, padding=1)
            elif (2 * sh, 2 * sw) == (th, tw):
                self.mode = "transpose2"
                conv = nn.ConvTranspose2d(student_channels, teacher_channels, kernel_size=4, stride=2, padding=1)
            elif sh >= th and sw >= tw:
                self.mode = "shrink"
                conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=(1 + sh - th, 1 + sw - tw))
            else:
                self.mode = "pool_teacher"
                conv = nn.Conv2d(student_channels, teacher_channels, kernel_size=3, padding=1)
                self.pool_teacher_to = (sh, sw)
        self.conv = conv
        self.bn = nn.BatchNorm2d(teacher_channels)
        self.use_relu = use_relu
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return self.relu(x) if self.use_relu else x

    def align_target(self, teacher_map: Tensor) -> Tensor:
        """The teacher map the regressed student map is compared with."""
        if self.pool_teacher_to is not None and tuple(teacher_map.shape[-2:]) != self.pool_teacher_to:
            return F.adaptive_avg_pool2d(teacher_map, self.pool_teacher_to)
        return teacher_map

    def extra_repr(self) -> str:
        return f"mode={self.mode}, student_hw={self.student_hw}, teacher_hw={self.teacher_hw}"


@register_method("fitnet")
class FitNet(DistillMethod):
    """MSE between the regressed student middle map and the teacher middle map, plus CE."""

    needs = frozenset({"middle_map"})
    student_needs = frozenset({"logits", "middle_map"})

    def __init__(
        self,
        student_channels: int,
        teacher_channels: int,
        student_hw: int | tuple[int, int] | None = None,
        teacher_hw: int | tuple[int, int] | None = None,
        hint_weight: float = 1.0,
        ce_weight: float = 1.0,
        use_relu: bool = True,
    ) -> None:
        super().__init__()
        self.student_channels = int(student_channels)
        self.teacher_channels = int(teacher_channels)
        self.regressor = ConvReg(student_channels, teacher_channels, student_hw, teacher_hw, use_relu=use_relu)
        self.hint_weight = float(hint_weight)
        self.ce_weight = float(ce_weight)

    @classmethod
    def from_dims(cls, student: ModelDims | None = None, teacher: ModelDims | None = None,
                  teacher_head: nn.Module | None = None, **hparams) -> FitNet:
        if student is None or teacher is None:
            raise ValueError("fitnet needs student and teacher dims (middle_channels, middle_hw)")
        return cls(
            student_channels=student.require("middle_channels", "fitnet", "student"),
            teacher_channels=teacher.require("middle_channels", "fitnet", "teacher"),
            student_hw=student.middle_hw,
            teacher_hw=teacher.middle_hw,
            **hparams,
        )

    def _check(self, s_map: Tensor, t_map: Tensor) -> None:
        reg = self.regressor
        if s_map.dim() != 4 or s_map.shape[1] != self.student_channels:
            raise ValueError(f"fitnet: student middle map must be [B, {self.student_channels}, H, W], "
                             f"got {tuple(s_map.shape)}")
        if t_map.dim() != 4 or t_map.shape[1] != self.teacher_channels:
            raise ValueError(f"fitnet: teacher middle map must be [B, {self.teacher_channels}, H, W], "
                             f"got {tuple(t_map.shape)}")
        if reg.student_hw is not None and (tuple(s_map.shape[-2:]) != reg.student_hw
                                           or tuple(t_map.shape[-2:]) != reg.teacher_hw):
            raise ValueError(f"fitnet: regressor built for student {reg.student_hw} -> teacher {reg.teacher_hw}, "
                             f"got student {tuple(s_map.shape[-2:])} and teacher {tuple(t_map.shape[-2:])}")

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        s_map = self._s(student, "middle_map")
        t_map = self._t(teacher, "middle_map")
        self._check(s_map, t_map)
        hint = feature_mse(self.regressor(s_map), self.regressor.align_target(t_map))
        ce = F.cross_entropy(self._s(student, "logits"), labels)
        return self._with_total({"hint": hint, "ce": ce}, self.hint_weight * hint + self.ce_weight * ce)

    def extra_repr(self) -> str:
        return f"hint_weight={self.hint_weight}, ce_weight={self.ce_weight}"
