"""``ce_distildoc``: what DistilDoc's released code actually trained for its "CE" baseline rows.

    L = α · CE(y, s) + (1 − α) · τ² · KL(softmax(t/τ) ‖ softmax(s/τ)),   τ = 1, α = 0.5

In ``src/clf/distillation_modules.py`` (Jordy-VL/DistilDoc_ICDAR24) ``DistillationTrainer.compute_loss``
first sets ``loss = loss_ce`` when ``distillation_loss == "CE"``, but then tests
``if self.distillation_loss in "CE+KD":`` -- a *substring* test, which is also true for ``"CE"``. So
the "CE" runs were overwritten with the KD loss at the run defaults (``STUDENT_CONFIG``:
``temperature=1``, ``alpha=0.5``), i.e. half cross-entropy, half KL to the teacher at τ = 1. The
teacher is still available to the trainer in that code path (it is captured before ``model_init``
sets ``KnowledgeDistillation.teacher_model = None``). Use ``ce`` for genuine no-teacher fine-tuning
and this key to reproduce the published "CE" numbers.
"""

from __future__ import annotations

from .ce_kd import CEKD
from .registry import register_method


@register_method("ce_distildoc")
class CEDistilDoc(CEKD):
    """DistilDoc's de-facto "CE" baseline: α·CE + (1−α)·τ²·KL with τ = 1, α = 0.5."""

    def __init__(self, alpha: float = 0.5, tau: float = 1.0) -> None:
        super().__init__(alpha=alpha, tau=tau)
