"""Typed interfaces shared by every distillation method.

* :class:`ModelOutputs` -- what a backbone wrapper hands to a method (any field may be ``None``).
* :class:`ModelDims`    -- the sizes a method needs to build its trainable extra modules.
  (Both, with :func:`tokens_to_map`, are defined in :mod:`distildoc.models.outputs` and re-exported here.)
* :class:`DistillMethod` -- the abstract method: ``forward`` returns named losses plus ``"loss"``,
  ``predict`` maps *student-only* outputs to logits (so a trained method works at inference
  without a teacher), ``needs`` names the teacher outputs it reads (used by a teacher-output cache),
  ``on_epoch_start`` lets a method follow the training progress (a no-op by default).

Trainable extras (regressors, projectors) are sub-modules of the method, so an optimiser built on
``list(student.parameters()) + list(method.parameters())`` trains them. Frozen parts (SimKD's reused
teacher head) have ``requires_grad=False``; optimisers skip them (their ``.grad`` stays ``None``), and
:meth:`DistillMethod.trainable_parameters` filters them out explicitly.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import ClassVar

import torch
from torch import Tensor, nn

# the model-output interface lives with the models (distill depends on models, never the reverse)
from ..models.outputs import OUTPUT_FIELDS, ModelDims, ModelOutputs, require_output, tokens_to_map

__all__ = ["OUTPUT_FIELDS", "ModelOutputs", "ModelDims", "DistillMethod", "require_output", "tokens_to_map"]

class DistillMethod(nn.Module, abc.ABC):
    """A knowledge-distillation objective, optionally with trainable extra modules.

    Class attributes (read by trainers and the teacher-output cache):

    key               registry key (set by :func:`~distildoc.distill.registry.register_method`)
    needs             teacher outputs the method reads (empty: no teacher forward is needed)
    student_needs     student outputs the method reads in ``forward``
    predict_needs     student outputs ``predict`` reads
    uses_teacher_head True when predictions go through a (frozen copy of the) teacher classifier
    """

    key: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    student_needs: ClassVar[frozenset[str]] = frozenset({"logits"})
    predict_needs: ClassVar[frozenset[str]] = frozenset({"logits"})
    uses_teacher_head: ClassVar[bool] = False

    @property
    def needs_teacher(self) -> bool:
        return bool(self.needs)

    @classmethod
    def from_dims(
        cls,
        student: ModelDims | None = None,
        teacher: ModelDims | None = None,
        teacher_head: nn.Module | None = None,
        **hparams,
    ) -> DistillMethod:
        """Build the method from model sizes (methods without extra modules ignore the sizes)."""
        return cls(**hparams)

    @abc.abstractmethod
    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        """Named scalar losses; ``"loss"`` is the total that is back-propagated."""

    def predict(self, student: ModelOutputs) -> Tensor:
        """Logits from student outputs only (default: the student's own logits)."""
        return require_output(student, "logits", who=f"{type(self).__name__}.predict", role="student")

    def forward_and_predict(
        self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Losses and predictions in one go (methods with projectors reuse the projection)."""
        return self(student, teacher, labels), self.predict(student)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called by the training loop at the start of every epoch (``epoch`` counts from 0 of ``epochs``),
        also for the epoch a run resumes in. Default: nothing. Methods whose loss follows a schedule (DKD's
        warm-up) set it here from ``(epoch, epochs)`` alone, so a resumed run gets the same value."""
        return None

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The method's own parameters that need gradients (projectors/regressors)."""
        return (p for p in self.parameters() if p.requires_grad)

    # helpers -------------------------------------------------------------------------------------
    def _teacher(self, teacher: ModelOutputs | None) -> ModelOutputs:
        if teacher is None:
            raise ValueError(
                f"{type(self).__name__} ({self.key or 'unregistered'}) needs teacher outputs "
                f"{sorted(self.needs)}, got teacher=None"
            )
        return teacher

    def _s(self, student: ModelOutputs, name: str) -> Tensor:
        return require_output(student, name, who=type(self).__name__, role="student")

    def _t(self, teacher: ModelOutputs | None, name: str) -> Tensor:
        return require_output(self._teacher(teacher), name, who=type(self).__name__, role="teacher").detach()

    @staticmethod
    def _with_total(losses: dict[str, Tensor], total: Tensor) -> dict[str, Tensor]:
        out = dict(losses)
        out["loss"] = total
        return out


def _frozen_copy(module: nn.Module) -> nn.Module:
    """Deep copy of ``module`` with ``requires_grad=False`` everywhere, in eval mode."""
    import copy

    head = copy.deepcopy(module)
    for p in head.parameters():
        p.requires_grad_(False)
    head.eval()
    return head


def _align_spatial(student_map: Tensor, teacher_map: Tensor) -> tuple[Tensor, Tensor]:
    """SimKD's spatial alignment: the larger map is adaptive-average-pooled to the smaller size
    (per dimension; the official code compares heights only and assumes square maps)."""
    sh, sw = student_map.shape[-2:]
    th, tw = teacher_map.shape[-2:]
    size = (min(sh, th), min(sw, tw))
    if (sh, sw) != size:
        student_map = torch.nn.functional.adaptive_avg_pool2d(student_map, size)
    if (th, tw) != size:
        teacher_map = torch.nn.functional.adaptive_avg_pool2d(teacher_map, size)
    return student_map, teacher_map
