"""SimKD: "Knowledge Distillation with the Reused Teacher Classifier" (Chen et al., CVPR 2022).

The student's penultimate features are projected into the teacher's feature space and aligned with
an MSE loss (no CE, no KL); predictions reuse the *frozen* teacher classifier on the projected
features, so the projector and the teacher head are part of the deployed student:

    L = MSE(P(f_s), f_t),        ŷ = h_t(pool(P(f_s)))

Three variants (DistilDoc Sec. 3.3 (vi) and result tables):

``simkd_cls_mlp``  DistilDoc's transformer variant "SimKD [CLS+MLP]": P is a bottleneck MLP on the
                   pooled/[CLS] embedding, Linear(d_s→d_s/2)–ReLU–Linear(d_s/2→d_s/2)–ReLU–
                   Linear(d_s/2→d_t)–ReLU (DistilDoc ``BottleneckMLP``, factor 2); f_t is the teacher
                   embedding; ŷ = h_t(P(e_s)). (The final ReLU follows the released code; it makes
                   negative teacher-embedding entries, e.g. after a ViT LayerNorm, unreachable.)
``simkd_cnn``      SimKD's original projector "SimKD [CNN]" on the last feature map ``[B, C, H, W]``:
                   conv1×1(C_s→C_t/2)–BN–ReLU, conv3×3(C_t/2→C_t/2, pad 1)–BN–ReLU,
                   conv1×1(C_t/2→C_t)–BN–ReLU, convs without bias (official ``models/util.py``).
                   Spatial alignment as the official code: the *larger* of the two maps is
                   adaptive-average-pooled to the smaller one's size (student pooled *before* the
                   projector when it is larger; teacher target pooled when the student is smaller).
                   ŷ = h_t(GAP(P(f_s))). ViTs use the patch tokens reshaped to the grid.
``simkd_identity`` "SimKD [∅ projector]" (ResNet-50 student of ResNet-101, both 2048 channels):
                   MSE between the raw student and teacher last maps; ŷ = h_t(GAP(f_s)).

``teacher_head`` is the teacher's classifier taking a pooled ``[B, D_t]`` embedding (e.g. the
``fc`` of a ResNet or the ``head`` of a ViT). It is deep-copied, frozen (``requires_grad=False``) and
kept in eval mode, and stored in the method's state dict so that :meth:`predict` works from student
outputs alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillMethod, ModelDims, ModelOutputs, _align_spatial, _frozen_copy, require_output
from .losses import feature_mse
from .registry import register_method

__all__ = ["SimKDClsMLP", "SimKDCNN", "SimKDIdentity", "BottleneckMLP", "SimKDProjector"]


class BottleneckMLP(nn.Sequential):
    """Linear(d_in→d_in/f)–ReLU–Linear(d_in/f→d_in/f)–ReLU–Linear(d_in/f→d_out)–ReLU."""

    def __init__(self, in_dim: int, out_dim: int, factor: int = 2) -> None:
        hidden = max(1, int(in_dim // factor))
        super().__init__(
            nn.Linear(in_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out_dim), nn.ReLU(),
        )


class SimKDProjector(nn.Sequential):
    """SimKD's bottleneck CNN projector (official ``SimKD.transfer``)."""

    def __init__(self, student_channels: int, teacher_channels: int, factor: int = 2) -> None:
        mid = max(1, teacher_channels // factor)
        super().__init__(
            nn.Conv2d(student_channels, mid, kernel_size=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, teacher_channels, kernel_size=1, bias=False), nn.BatchNorm2d(teacher_channels), nn.ReLU(),
        )


def _global_pool(x: Tensor) -> Tensor:
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


class _SimKDBase(DistillMethod):
    uses_teacher_head = True

    def __init__(self, teacher_head: nn.Module | None) -> None:
        super().__init__()
        if teacher_head is None or not isinstance(teacher_head, nn.Module):
            raise ValueError(f"{type(self).__name__} reuses the teacher classifier: pass teacher_head (an nn.Module)")
        self.teacher_head = _frozen_copy(teacher_head)

    def train(self, mode: bool = True) -> _SimKDBase:
        super().train(mode)
        self.teacher_head.eval()  # the reused classifier never leaves eval mode
        return self

    def _head(self, x: Tensor) -> Tensor:
        # re-freeze defensively (a caller may have run method.requires_grad_(True))
        for p in self.teacher_head.parameters():
            if p.requires_grad:
                p.requires_grad_(False)
        if self.teacher_head.training:
            self.teacher_head.eval()
        return self.teacher_head(x)

    def _map(self, outputs: ModelOutputs, role: str, channels: int, name: str = "last_map") -> Tensor:
        x = require_output(outputs, name, who=type(self).__name__, role=role)
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(f"{type(self).__name__}: {role} {name} must be [B, {channels}, H, W], got {tuple(x.shape)}")
        return x


@register_method("simkd_cls_mlp")
class SimKDClsMLP(_SimKDBase):
    """SimKD with DistilDoc's bottleneck-MLP projector on the pooled/[CLS] embedding."""

    needs = frozenset({"embedding"})
    student_needs = frozenset({"embedding"})
    predict_needs = frozenset({"embedding"})

    def __init__(self, student_dim: int, teacher_dim: int, teacher_head: nn.Module, factor: int = 2) -> None:
        super().__init__(teacher_head)
        self.student_dim, self.teacher_dim = int(student_dim), int(teacher_dim)
        self.projector = BottleneckMLP(self.student_dim, self.teacher_dim, factor)

    @classmethod
    def from_dims(cls, student: ModelDims | None = None, teacher: ModelDims | None = None,
                  teacher_head: nn.Module | None = None, **hparams) -> SimKDClsMLP:
        if student is None or teacher is None:
            raise ValueError("simkd_cls_mlp needs student and teacher dims (embed_dim)")
        return cls(student.require("embed_dim", cls.key, "student"), teacher.require("embed_dim", cls.key, "teacher"),
                   teacher_head, **hparams)

    def _project(self, student: ModelOutputs) -> Tensor:
        e = self._s(student, "embedding")
        if e.dim() != 2 or e.shape[1] != self.student_dim:
            raise ValueError(f"simkd_cls_mlp: student embedding must be [B, {self.student_dim}], got {tuple(e.shape)}")
        return self.projector(e)

    def _losses(self, z: Tensor, teacher: ModelOutputs | None) -> dict[str, Tensor]:
        mse = feature_mse(z, self._t(teacher, "embedding"))
        return self._with_total({"simkd": mse}, mse)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        return self._losses(self._project(student), teacher)

    def predict(self, student: ModelOutputs) -> Tensor:
        return self._head(self._project(student))

    def forward_and_predict(self, student, teacher, labels):
        z = self._project(student)
        return self._losses(z, teacher), self._head(z)


@register_method("simkd_cnn")
class SimKDCNN(_SimKDBase):
    """SimKD with the original CNN projector on the last feature map."""

    needs = frozenset({"last_map"})
    student_needs = frozenset({"last_map"})
    predict_needs = frozenset({"last_map"})

    def __init__(
        self,
        student_channels: int,
        teacher_channels: int,
        teacher_head: nn.Module,
        teacher_hw: int | tuple[int, int] | None = None,
        factor: int = 2,
    ) -> None:
        super().__init__(teacher_head)
        self.student_channels, self.teacher_channels = int(student_channels), int(teacher_channels)
        self.projector = SimKDProjector(self.student_channels, self.teacher_channels, factor)
        if isinstance(teacher_hw, int):
            teacher_hw = (teacher_hw, teacher_hw)
        # (0, 0) = unknown; recorded at every training forward so predict() can pool without a teacher
        self.register_buffer("teacher_hw", torch.tensor(list(teacher_hw) if teacher_hw else [0, 0], dtype=torch.long))

    @classmethod
    def from_dims(cls, student: ModelDims | None = None, teacher: ModelDims | None = None,
                  teacher_head: nn.Module | None = None, **hparams) -> SimKDCNN:
        if student is None or teacher is None:
            raise ValueError("simkd_cnn needs student and teacher dims (last_channels, last_hw)")
        hparams.setdefault("teacher_hw", teacher.last_hw)
        return cls(student.require("last_channels", cls.key, "student"),
                   teacher.require("last_channels", cls.key, "teacher"), teacher_head, **hparams)

    def _student_for_predict(self, s_map: Tensor) -> Tensor:
        th, tw = (int(v) for v in self.teacher_hw.tolist())
        if th <= 0:
            return s_map
        sh, sw = s_map.shape[-2:]
        size = (min(sh, th), min(sw, tw))
        return s_map if (sh, sw) == size else F.adaptive_avg_pool2d(s_map, size)

    def _project_train(self, student: ModelOutputs, teacher: ModelOutputs | None) -> tuple[Tensor, Tensor]:
        s_map = self._map(student, "student", self.student_channels)
        t_map = self._map(self._teacher(teacher), "teacher", self.teacher_channels).detach()
        with torch.no_grad():
            self.teacher_hw.copy_(torch.tensor(t_map.shape[-2:], dtype=torch.long))
        s_al, t_al = _align_spatial(s_map, t_map)
        return self.projector(s_al), t_al

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        z, t_al = self._project_train(student, teacher)
        mse = feature_mse(z, t_al)
        return self._with_total({"simkd": mse}, mse)

    def predict(self, student: ModelOutputs) -> Tensor:
        s_map = self._map(student, "student", self.student_channels)
        return self._head(_global_pool(self.projector(self._student_for_predict(s_map))))

    def forward_and_predict(self, student, teacher, labels):
        z, t_al = self._project_train(student, teacher)
        mse = feature_mse(z, t_al)
        return self._with_total({"simkd": mse}, mse), self._head(_global_pool(z))


@register_method("simkd_identity")
class SimKDIdentity(_SimKDBase):
    """SimKD without a projector: raw student last map vs teacher last map (equal channels)."""

    needs = frozenset({"last_map"})
    student_needs = frozenset({"last_map"})
    predict_needs = frozenset({"last_map"})

    def __init__(self, student_channels: int, teacher_channels: int, teacher_head: nn.Module) -> None:
        if int(student_channels) != int(teacher_channels):
            raise ValueError(
                f"simkd_identity (no projector) needs equal channel counts, but the student has "
                f"{student_channels} channels and the teacher has {teacher_channels}; use simkd_cnn instead"
            )
        super().__init__(teacher_head)
        self.channels = int(student_channels)

    @classmethod
    def from_dims(cls, student: ModelDims | None = None, teacher: ModelDims | None = None,
                  teacher_head: nn.Module | None = None, **hparams) -> SimKDIdentity:
        if student is None or teacher is None:
            raise ValueError("simkd_identity needs student and teacher dims (last_channels)")
        return cls(student.require("last_channels", cls.key, "student"),
                   teacher.require("last_channels", cls.key, "teacher"), teacher_head, **hparams)

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        s_map = self._map(student, "student", self.channels)
        t_map = self._map(self._teacher(teacher), "teacher", self.channels).detach()
        mse = feature_mse(*_align_spatial(s_map, t_map))
        return self._with_total({"simkd": mse}, mse)

    def predict(self, student: ModelOutputs) -> Tensor:
        return self._head(_global_pool(self._map(student, "student", self.channels)))
