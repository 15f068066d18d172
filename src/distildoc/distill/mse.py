"""``mse``: direct logit matching (Kim et al., IJCAI 2021, "Comparing Kullback-Leibler Divergence
and Mean Squared Error Loss in Knowledge Distillation").

    L = mean_{i,k} (s_ik − t_ik)²

No cross-entropy term (as in DistilDoc's ``MSE`` branch). The paper writes ‖s − t‖²₂; the released
code uses ``torch.nn.MSELoss()`` (mean over all N·K entries), which is what this implements.
"""

from __future__ import annotations

from torch import Tensor

from .base import DistillMethod, ModelOutputs
from .losses import logit_mse
from .registry import register_method


@register_method("mse")
class LogitMSE(DistillMethod):
    """Mean squared error between student and teacher logits; labels are unused."""

    needs = frozenset({"logits"})

    def forward(self, student: ModelOutputs, teacher: ModelOutputs | None, labels: Tensor) -> dict[str, Tensor]:
        mse = logit_mse(self._s(student, "logits"), self._t(teacher, "logits"))
        return self._with_total({"mse": mse}, mse)
