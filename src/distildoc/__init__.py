"""DistilDoc reproduction: knowledge distillation for visually-rich documents (arXiv 2406.08226)."""

__version__ = "0.1.0"
