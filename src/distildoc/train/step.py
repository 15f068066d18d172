"""The optimisation step shared by the classification and detection training loops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def optimiser_step(loss: torch.Tensor, weight: float, optimizer: torch.optim.Optimizer, scheduler: Any,
                   params: Sequence[torch.Tensor], clip: float | None) -> float:
    """Back-propagate this rank's `loss` weighted by its share of the global batch, clip the gradient norm of
    `params` to `clip` (when set), step the optimiser and the scheduler; returns the learning rate the step used."""
    optimizer.zero_grad(set_to_none=True)
    (loss * weight).backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(params, clip)
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    return lr
