"""Re-export of the one ``ModelOutputs`` type (defined with the distillation methods that consume it).

``DocClassifier.forward`` returns :class:`distildoc.distill.base.ModelOutputs`: optional ``logits``
[B×K], ``embedding`` [B×D], ``last_map`` and ``middle_map`` [B×C×H×W]. This module only keeps the name
importable from ``distildoc.models``; there is a single class.
"""

from __future__ import annotations

from ..distill.base import ModelOutputs

__all__ = ["ModelOutputs"]
