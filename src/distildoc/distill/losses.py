"""Pure distillation loss functions on tensors (shared by the classification and detection halves).

Every function is stateless: it takes student and teacher tensors and returns a scalar tensor.
Teacher tensors are detached inside each loss, so gradients never flow into a teacher even when a
caller forgets ``torch.no_grad()``.

Conventions (checked against references in ``tests/test_distill_losses.py``):

* ``kd_kl``       τ²·KL(softmax(t/τ) ‖ softmax(s/τ)), ``batchmean`` (sum over classes, mean over
                  the batch) -- Hinton et al. 2015; equals torchdistill's ``KDLoss`` soft term × τ².
* ``logit_mse``   mean squared error over all logit entries (``torch.nn.MSELoss()``, mean).
* ``feature_mse`` mean squared error over all feature entries, shapes must match.
* ``nkd_loss``    Normalized KD (Yang et al., ICCV 2023), official-code semantics.
* ``hcl_loss``    ReviewKD's hierarchical context loss (Chen et al., CVPR 2021).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["kd_kl", "logit_mse", "feature_mse", "nkd_terms", "nkd_loss", "hcl_level", "hcl_loss"]


def _check_same_shape(a: Tensor, b: Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: student shape {tuple(a.shape)} != teacher shape {tuple(b.shape)}")


def kd_kl(student_logits: Tensor, teacher_logits: Tensor, tau: float) -> Tensor:
    """Hinton's soft-target term: ``τ² · KL(softmax(t/τ) ‖ softmax(s/τ))`` with ``batchmean`` reduction.

    Logits are ``[N, K]`` (classes on the last dimension). ``batchmean`` sums the KL over classes and
    averages over the ``N`` rows, which is the mathematically correct KL (``reduction='mean'`` would
    also divide by ``K``). The τ² factor keeps the gradient magnitude independent of τ.
    """
    _check_same_shape(student_logits, teacher_logits, "kd_kl")
    if tau <= 0:
        raise ValueError(f"kd_kl: temperature must be > 0, got {tau}")
    log_p_s = F.log_softmax(student_logits / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach() / tau, dim=-1)
    # log_target avoids 0·log 0 issues when the teacher is very confident.
    kl = F.kl_div(log_p_s.reshape(-1, log_p_s.shape[-1]), log_p_t.reshape(-1, log_p_t.shape[-1]),
                  reduction="batchmean", log_target=True)
    return (tau**2) * kl


def logit_mse(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """Direct logit matching (Kim et al., IJCAI 2021): mean of ``(s - t)²`` over all entries.

    DistilDoc's paper writes ``‖s − t‖²₂``; its released code (and this function) uses
    ``torch.nn.MSELoss()`` with the default mean reduction, i.e. the squared norm divided by N·K.
    """
    _check_same_shape(student_logits, teacher_logits, "logit_mse")
    return F.mse_loss(student_logits, teacher_logits.detach(), reduction="mean")


def feature_mse(student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
    """Mean squared error between (already aligned) student and teacher features of equal shape."""
    _check_same_shape(student_feats, teacher_feats, "feature_mse")
    return F.mse_loss(student_feats, teacher_feats.detach(), reduction="mean")


def _hard_labels(labels: Tensor, n: int) -> Tensor:
    """``[N]`` integer labels; one-hot / soft ``[N, K]`` labels are reduced with argmax (as NKD's code does)."""
    if labels.dim() > 1:
        labels = labels.argmax(dim=1)
    labels = labels.reshape(-1).long()
    if labels.numel() != n:
        raise ValueError(f"nkd_loss: got {labels.numel()} labels for {n} rows of logits")
    return labels


def nkd_terms(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, tau: float = 1.0, gamma: float = 1.5
) -> tuple[Tensor, Tensor]:
    """The two NKD terms ``(target, non_target)``; :func:`nkd_loss` returns their sum.

    target      = −mean_i  p_t[y_i] · log p_s[y_i]                        (softmax at τ = 1)
    non_target  = −γ·τ² · mean_i Σ_{k≠y_i} N(p_t^τ)_k · log N(p_s^τ)_k

    where ``N(p^τ)`` is the softmax at temperature τ over the non-target logits only (the target
    logit removed), which is the same as renormalising the non-target probabilities to sum to one.
    Teacher probabilities are constants (detached).
    """
    if student_logits.dim() != 2:
        raise ValueError(f"nkd_loss expects [N, K] logits, got shape {tuple(student_logits.shape)}")
    _check_same_shape(student_logits, teacher_logits, "nkd_loss")
    n, k = student_logits.shape
    if k < 2:
        raise ValueError("nkd_loss needs at least two classes")
    y = _hard_labels(labels, n).to(student_logits.device)
    teacher_logits = teacher_logits.detach()

    # target term (τ = 1)
    log_p_s = F.log_softmax(student_logits, dim=1)
    p_t = F.softmax(teacher_logits, dim=1)
    idx = y.unsqueeze(1)
    target = -(p_t.gather(1, idx) * log_p_s.gather(1, idx)).mean()

    # non-target term: drop the target column, softmax the K-1 remaining logits at temperature τ
    keep = torch.ones_like(student_logits, dtype=torch.bool).scatter_(1, idx, False)
    s_nt = student_logits[keep].reshape(n, k - 1)
    t_nt = teacher_logits[keep].reshape(n, k - 1)
    log_q_s = F.log_softmax(s_nt / tau, dim=1)
    q_t = F.softmax(t_nt / tau, dim=1)
    non_target = -gamma * (tau**2) * (q_t * log_q_s).sum(dim=1).mean()
    return target, non_target


def nkd_loss(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, tau: float = 1.0, gamma: float = 1.5
) -> Tensor:
    """Normalized KD loss (Yang et al., ICCV 2023, "From Knowledge Distillation to Self-Knowledge
    Distillation"): target term + non-target term, see :func:`nkd_terms`. No separate CE term: the
    target term plays the role of the (teacher-weighted) cross-entropy."""
    target, non_target = nkd_terms(student_logits, teacher_logits, labels, tau=tau, gamma=gamma)
    return target + non_target


def hcl_level(student_feat: Tensor, teacher_feat: Tensor, pool_sizes: Sequence[int] = (4, 2, 1)) -> Tensor:
    """ReviewKD's hierarchical context loss for one ``[B, C, H, W]`` level.

    ``(MSE(fs, ft) + Σ_j w_j · MSE(pool_j(fs), pool_j(ft))) / (1 + Σ_j w_j)`` with adaptive average
    pooling to ``l×l`` for ``l`` in ``pool_sizes`` and weights halving per *used* level
    (0.5, 0.25, 0.125). As in the official ReviewKD code (and mdistiller/torchdistill), a pooling size
    ``l >= H`` is skipped (it would not summarise anything), so the normaliser only counts used levels.
    """
    _check_same_shape(student_feat, teacher_feat, "hcl_loss")
    if student_feat.dim() != 4:
        raise ValueError(f"hcl_loss expects [B, C, H, W] maps, got shape {tuple(student_feat.shape)}")
    teacher_feat = teacher_feat.detach()
    h = student_feat.shape[2]
    loss = F.mse_loss(student_feat, teacher_feat, reduction="mean")
    weight, total = 1.0, 1.0
    for size in pool_sizes:
        if size >= h:
            continue
        weight /= 2.0
        loss = loss + weight * F.mse_loss(
            F.adaptive_avg_pool2d(student_feat, (size, size)),
            F.adaptive_avg_pool2d(teacher_feat, (size, size)),
            reduction="mean",
        )
        total += weight
    return loss / total


def hcl_loss(
    student_feats: Sequence[Tensor] | Tensor,
    teacher_feats: Sequence[Tensor] | Tensor,
    pool_sizes: Sequence[int] = (4, 2, 1),
) -> Tensor:
    """Hierarchical context loss summed over feature levels (ReviewKD, Chen et al., CVPR 2021).

    ``student_feats`` / ``teacher_feats`` are equally long sequences of ``[B, C, H, W]`` maps (or a
    single map each); each pair is scored by :func:`hcl_level` and the per-level values are summed.
    """
    if isinstance(student_feats, Tensor):
        student_feats = [student_feats]
    if isinstance(teacher_feats, Tensor):
        teacher_feats = [teacher_feats]
    if len(student_feats) != len(teacher_feats):
        raise ValueError(f"hcl_loss: {len(student_feats)} student levels vs {len(teacher_feats)} teacher levels")
    if len(student_feats) == 0:
        raise ValueError("hcl_loss: no feature levels given")
    total = hcl_level(student_feats[0], teacher_feats[0], pool_sizes)
    for fs, ft in zip(student_feats[1:], teacher_feats[1:]):
        total = total + hcl_level(fs, ft, pool_sizes)
    return total
