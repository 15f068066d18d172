"""Freezing the early stages of an ImageNet-initialised CNN (detectron2's ``BACKBONE.FREEZE_AT``), shared by
the layout pyramids (:mod:`distildoc.models.detection.backbones`) and the classifiers
(:meth:`distildoc.models.classification.DocClassifier.freeze_stages`).

``freeze_at``: 0 trains every layer, 1 freezes the stem (every module before the stride-4 stage), 2 also the
stride-4 stage (detectron2's default for ImageNet-initialised backbones), k the stem and the first k-1 output
stages. Only with pretrained weights: frozen random layers never learn. Freezing means
``requires_grad=False``; how BatchNorm behaves is the caller's choice (the pyramids use frozen BN throughout,
the classifiers keep their BN layers, whose batch statistics adapt to the pages). Freezing the
high-resolution layers saves their backward pass, the costliest part of a CPU training step.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["freeze_stages"]


def freeze_stages(module: nn.Module, stages: Sequence[str], freeze_at: int, has_weights: bool, name: str) -> list[str]:
    """Freeze (``requires_grad=False``) the stem and the first ``freeze_at - 1`` of `stages` of `module`;
    returns the frozen parameter names.

    `stages`: the names (in ``module.named_modules()``) of the modules that end at output strides 4, 8, 16,
    32; the stem is every module before the first of them in ``named_modules`` order. `name` labels errors."""
    if freeze_at == 0:
        return []
    stages = list(stages)
    if not 0 <= freeze_at <= len(stages) + 1:
        raise ValueError(f"{name}: freeze_at must be in 0..{len(stages) + 1}, got {freeze_at}")
    if not has_weights:
        raise ValueError(f"{name}: freeze_at={freeze_at} needs pretrained weights (frozen random layers never learn)")
    order = [n for n, _ in module.named_modules()]
    if any(s not in order for s in stages):
        raise ValueError(f"{name}: stage modules {stages} not found in the model")
    if freeze_at == 1:  # the stem: every module before the first output stage
        cut = order.index(stages[0])
    else:  # ... and through stage freeze_at - 1 (its submodules follow it in named_modules order)
        last = stages[freeze_at - 2]
        cut = order.index(last) + 1
        while cut < len(order) and order[cut].startswith(last + "."):
            cut += 1
    frozen_modules = set(order[:cut])
    frozen = []
    for p_name, p in module.named_parameters():
        owner = p_name.rsplit(".", 1)[0] if "." in p_name else ""
        if owner in frozen_modules:
            p.requires_grad_(False)
            frozen.append(p_name)
    return frozen
