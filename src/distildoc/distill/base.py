"""Typed interfaces shared by every distillation method.

* :class:`ModelOutputs` -- what a backbone wrapper hands to a method (any field may be ``None``).
* :class:`ModelDims`    -- the sizes a method needs to build its trainable extra modules.
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
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = ["OUTPUT_FIELDS", "ModelOutputs", "ModelDims", "DistillMethod", "require_output", "tokens_to_map"]

#: The names a method may list in ``needs`` / ``student_needs``.
OUTPUT_FIELDS: tuple[str, ...] = ("logits", "embedding", "last_map", "middle_map")


def require_output(outputs: object, name: str, who: str = "distillation method", role: str = "model") -> Tensor:
    """Field ``name`` of ``outputs`` or a ValueError that says who needed it.

    Duck-typed: ``outputs`` may be this module's :class:`ModelOutputs` or any object with the same
    attributes (e.g. ``distildoc.models.outputs.ModelOutputs``)."""
    if name not in OUTPUT_FIELDS:
        raise KeyError(f"unknown output field {name!r}; allowed: {', '.join(OUTPUT_FIELDS)}")
    value = getattr(outputs, name, None)
    if value is None:
        raise ValueError(f"{who} needs the {role} output {name!r}, but it is None")
    return value


@dataclass
class ModelOutputs:
    """Outputs of one forward pass of a student or teacher.

    logits      ``[B, K]``        classifier output
    embedding   ``[B, D]``        pooled / [CLS] embedding that the classifier head consumes
    last_map    ``[B, C, H, W]``  last feature map (ViT: last hidden tokens without prefix tokens,
                                  reshaped to a grid; see :func:`tokens_to_map`)
    middle_map  ``[B, C, H, W]``  a middle-layer feature map (FitNet hint layer)
    """

    logits: Tensor | None = None
    embedding: Tensor | None = None
    last_map: Tensor | None = None
    middle_map: Tensor | None = None

    def require(self, name: str, who: str = "distillation method", role: str = "model") -> Tensor:
        """Return field ``name`` or raise a ValueError that says who needed it."""
        return require_output(self, name, who, role)

    def detach(self) -> ModelOutputs:
        """A copy with every tensor detached (for caching teacher outputs)."""
        return ModelOutputs(**{f.name: (None if (v := getattr(self, f.name)) is None else v.detach())
                               for f in fields(self)})

    def to(self, *args, **kwargs) -> ModelOutputs:
        return ModelOutputs(**{f.name: (None if (v := getattr(self, f.name)) is None else v.to(*args, **kwargs))
                               for f in fields(self)})


@dataclass(frozen=True)
class ModelDims:
    """Sizes of one model's outputs, as needed to build a method's extra modules."""

    num_classes: int | None = None
    embed_dim: int | None = None
    last_channels: int | None = None
    last_hw: tuple[int, int] | None = None
    middle_channels: int | None = None
    middle_hw: tuple[int, int] | None = None

    @classmethod
    def from_outputs(cls, outputs: ModelOutputs) -> ModelDims:
        """Infer the sizes from one (e.g. dummy-input) forward pass (any object with the output fields)."""

        def chw(t: Tensor | None) -> tuple[int | None, tuple[int, int] | None]:
            if t is None:
                return None, None
            return int(t.shape[1]), (int(t.shape[2]), int(t.shape[3]))

        logits, embedding = getattr(outputs, "logits", None), getattr(outputs, "embedding", None)
        lc, lhw = chw(getattr(outputs, "last_map", None))
        mc, mhw = chw(getattr(outputs, "middle_map", None))
        return cls(
            num_classes=None if logits is None else int(logits.shape[-1]),
            embed_dim=None if embedding is None else int(embedding.shape[-1]),
            last_channels=lc, last_hw=lhw, middle_channels=mc, middle_hw=mhw,
        )

    def require(self, name: str, who: str, role: str) -> int | tuple[int, int]:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{who} needs the {role} dimension {name!r}, but it is not set")
        return value


def tokens_to_map(tokens: Tensor, num_prefix_tokens: int = 1, grid: tuple[int, int] | None = None) -> Tensor:
    """ViT hidden states ``[B, P + N, D]`` -> feature map ``[B, D, h, w]``.

    The ``num_prefix_tokens`` leading tokens ([CLS], distillation or register tokens) are dropped and
    the ``N`` patch tokens are laid out row-major on the patch grid (``h·w = N``; square when ``grid``
    is not given). This is the reshape DistilDoc uses to apply SimKD's CNN projector / FitNet's
    regressor to transformers (Cordonnier et al. 2020: self-attention can simulate convolution).
    """
    if tokens.dim() != 3:
        raise ValueError(f"tokens_to_map expects [B, tokens, dim], got shape {tuple(tokens.shape)}")
    patches = tokens[:, num_prefix_tokens:, :]
    b, n, d = patches.shape
    if grid is None:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"{n} patch tokens do not form a square grid; pass grid=(h, w)")
        grid = (side, side)
    h, w = grid
    if h * w != n:
        raise ValueError(f"grid {grid} does not hold {n} patch tokens")
    return patches.transpose(1, 2).reshape(b, d, h, w)


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
