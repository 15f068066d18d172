"""The model-output interface every classifier returns and every distillation method reads.

* :class:`ModelOutputs` -- what a backbone wrapper hands to a method (any field may be ``None``).
* :class:`ModelDims`    -- the sizes a method needs to build its trainable extra modules.
* :func:`tokens_to_map` -- ViT tokens to a feature map.

They live on the ground floor of the models package so that :mod:`distildoc.distill` depends on
:mod:`distildoc.models` and never the reverse (``distildoc.distill.base`` re-exports them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from torch import Tensor

__all__ = ["OUTPUT_FIELDS", "ModelOutputs", "ModelDims", "require_output", "tokens_to_map"]

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
