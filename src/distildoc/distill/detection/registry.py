"""Registry and common interface of the *detection* distillation methods (``simkd_fpn``, ``reviewkd``).

A separate registry from :mod:`distildoc.distill.registry` on purpose: that one holds classification
methods (:class:`~distildoc.distill.base.DistillMethod`, which consume ``ModelOutputs`` and labels), and
its single module-level dict is typed for them. Detection methods have a different interface — they drive
whole torchvision detectors — so they live here, with the same function names and semantics
(``register_method``, ``get_method``, ``available_methods``, ``build_method``); neither registry ever sees
the other's classes.

Interface (:class:`DetectionDistillMethod`)::

    method = build_method("reviewkd", student_model, teacher_model, loss_weight=0.8)
    method.prepare(student_model, teacher_model)     # once, before building the optimiser
    losses = method(student_model, teacher_model, images, targets)   # {..., "loss": total}
    losses["loss"].backward()

``images`` is a list of float ``3×H×W`` tensors in [0, 1] and ``targets`` torchvision detection targets
(``boxes`` xyxy, ``labels``, ``masks``) at the images' size. Trainable extras of a method (ReviewKD's ABF
modules) are its sub-modules: an optimiser over ``student.parameters()`` + ``method.trainable_parameters()``
trains them. The teacher is never updated (it is frozen by :meth:`DetectionDistillMethod.prepare` and run
under ``torch.no_grad()``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from ...models.detection.maskrcnn import detection_losses, transform_images
from ..registry import Registry

__all__ = [
    "DetectionDistillMethod",
    "freeze_module",
    "register_method",
    "get_method",
    "available_methods",
    "build_method",
]


def freeze_module(module: nn.Module) -> nn.Module:
    """``requires_grad=False`` on every parameter and eval mode; returns ``module`` (in place)."""
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()
    return module


class DetectionDistillMethod(nn.Module, abc.ABC):
    """A knowledge-distillation objective for a torchvision two-stage detector (student) and its teacher.

    Class attributes: ``key`` (set by :func:`register_method`) and ``needs_teacher``.
    """

    key: ClassVar[str] = ""
    needs_teacher: ClassVar[bool] = True

    @classmethod
    def from_models(cls, student: nn.Module | None = None, teacher: nn.Module | None = None,
                    **hparams: Any) -> DetectionDistillMethod:
        """Build from the two detectors (methods with extra modules read channel counts from them)."""
        return cls(**hparams)

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> None:
        """One-time set-up before training (and again on resume; must be idempotent). Default: freeze the
        teacher (eval, no gradients)."""
        if teacher is not None:
            freeze_module(teacher)

    def train_mode(self, student: nn.Module) -> None:
        """Called by trainers after ``student.train()``: restore modules that must stay in eval mode."""

    @abc.abstractmethod
    def forward(self, student_model: nn.Module, teacher_model: nn.Module | None, images: Sequence[Tensor],
                targets: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """Named scalar losses; ``"loss"`` is the total that is back-propagated."""

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The method's own parameters that need gradients."""
        return (p for p in self.parameters() if p.requires_grad)

    def _features_and_detection_losses(self, student_model: nn.Module, teacher_model: nn.Module | None,
                                       images: Sequence[Tensor], targets: Sequence[Mapping[str, Any]] | None,
                                       ) -> tuple[dict[str, Tensor], Mapping[str, Tensor], Mapping[str, Tensor]]:
        """The shared first half of a feature method that keeps the detection losses (ReviewKD, PKD): the batch
        through the student's transform, the student's FPN maps and detection losses, and the frozen teacher's
        FPN maps of the same tensors. Returns ``(losses, student_feats, teacher_feats)``."""
        teacher_model = self._require_teacher(teacher_model)
        if targets is None:
            raise ValueError(f"{self.key} needs targets (its loss includes the detection losses)")
        image_list, t_targets = transform_images(student_model, images, targets)
        s_feats = student_model.backbone(image_list.tensors)
        losses: dict[str, Tensor] = dict(detection_losses(student_model, image_list, s_feats, t_targets))
        with torch.no_grad():
            t_feats = teacher_model.backbone(image_list.tensors)
        return losses, s_feats, t_feats

    @staticmethod
    def _with_detection_total(losses: dict[str, Tensor], kd_key: str) -> dict[str, Tensor]:
        """``loss`` = the detection losses (``loss_*``) + the weighted KD term ``losses[kd_key]``."""
        losses["loss"] = sum(v for k, v in losses.items() if k.startswith("loss_")) + losses[kd_key]
        return losses

    def _require_teacher(self, teacher: nn.Module | None) -> nn.Module:
        if teacher is None:
            raise ValueError(f"{type(self).__name__} ({self.key or 'unregistered'}) needs a teacher detector")
        return teacher


DETECTION_METHODS: Registry[type[DetectionDistillMethod]] = Registry("detection distillation method")
#: ``@register_method("key")`` registers a :class:`DetectionDistillMethod` subclass
register_method = DETECTION_METHODS.register
#: sorted registered detection method keys
available_methods = DETECTION_METHODS.keys
#: the detection method class registered under a key
get_method = DETECTION_METHODS.get


def build_method(key: str, student: nn.Module | None = None, teacher: nn.Module | None = None,
                 **hparams: Any) -> DetectionDistillMethod:
    """Instantiate detection method ``key`` from the two detectors (see :meth:`~DetectionDistillMethod.from_models`)."""
    return get_method(key).from_models(student, teacher, **hparams)
