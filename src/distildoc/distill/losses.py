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
* ``logit_standardize``  z-score per row over the classes with the *sample* std + ε (ε = 1e-7) -- Sun et
                  al., CVPR 2024; equals torchdistill's ``LogitStdKDLoss.standardize``.
* ``dist_loss``   DIST (Huang et al., NeurIPS 2022): β·τ²·(1 − row Pearson) + γ·τ²·(1 − column Pearson)
                  of softmax(·/τ), no CE -- equals torchdistill's ``DISTLoss``.
* ``dkd_loss``    DKD (Zhao et al., CVPR 2022): α·TCKD + β·NCKD, each τ²·KL with ``batchmean``, no CE and
                  no warm-up -- mdistiller's ``dkd_loss`` (checked in ``tests/test_distill_new_losses.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["kd_kl", "logit_mse", "feature_mse", "nkd_terms", "nkd_loss", "hcl_level", "hcl_loss",
           "logit_standardize", "dist_terms", "dist_loss", "dkd_terms", "dkd_loss"]


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
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, tau: float = 1.0, gamma: float = 1.5,
    standardize: bool = False,
) -> tuple[Tensor, Tensor]:
    """The two NKD terms ``(target, non_target)``; :func:`nkd_loss` returns their sum.

    target      = −mean_i  p_t[y_i] · log p_s[y_i]                        (softmax at τ = 1)
    non_target  = −γ·τ² · mean_i Σ_{k≠y_i} N(p_t^τ)_k · log N(p_s^τ)_k

    where ``N(p^τ)`` is the softmax at temperature τ over the non-target logits only (the target
    logit removed), which is the same as renormalising the non-target probabilities to sum to one.
    Teacher probabilities are constants (detached).

    ``standardize=True`` (logit standardisation, Sun et al. CVPR 2024) feeds the temperature-softened
    non-target term the z-scored logits (:func:`logit_standardize` of the full K-logit rows, then the target
    removed, as the official code does for DKD's NCKD); the target term keeps the raw logits, as the
    cross-entropy does in the paper's KD. ``standardize=False`` is exactly the unstandardised NKD.
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
    if standardize:
        student_logits, teacher_logits = logit_standardize(student_logits), logit_standardize(teacher_logits)
    s_nt = student_logits[keep].reshape(n, k - 1)
    t_nt = teacher_logits[keep].reshape(n, k - 1)
    log_q_s = F.log_softmax(s_nt / tau, dim=1)
    q_t = F.softmax(t_nt / tau, dim=1)
    non_target = -gamma * (tau**2) * (q_t * log_q_s).sum(dim=1).mean()
    return target, non_target


def nkd_loss(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, tau: float = 1.0, gamma: float = 1.5,
    standardize: bool = False,
) -> Tensor:
    """Normalized KD loss (Yang et al., ICCV 2023, "From Knowledge Distillation to Self-Knowledge
    Distillation"): target term + non-target term, see :func:`nkd_terms`. No separate CE term: the
    target term plays the role of the (teacher-weighted) cross-entropy."""
    target, non_target = nkd_terms(student_logits, teacher_logits, labels, tau=tau, gamma=gamma,
                                   standardize=standardize)
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


def channel_standardize(feat: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-channel standardisation of ``[N, C, H, W]`` maps over (N, H, W): ``(F − μ_c) / (σ_c + ε)`` with the
    sample standard deviation (``torch.std``'s default), as mmrazor's ``PKDLoss.norm``."""
    if feat.dim() != 4:
        raise ValueError(f"channel_standardize: expected [N, C, H, W], got shape {tuple(feat.shape)}")
    flat = feat.transpose(0, 1).reshape(feat.shape[1], -1)
    flat = (flat - flat.mean(dim=1, keepdim=True)) / (flat.std(dim=1, keepdim=True) + eps)
    return flat.reshape(feat.shape[1], feat.shape[0], *feat.shape[2:]).transpose(0, 1)


def pkd_loss(student_feat: Tensor, teacher_feat: Tensor, eps: float = 1e-6) -> Tensor:
    """PKD (Cao et al., NeurIPS 2022): ``½ · MSE(std(F^s), std(F^t))`` of per-channel standardised maps
    (:func:`channel_standardize`), i.e. 1 − the Pearson correlation per channel up to the sample-std factor.
    A teacher map of another spatial size is bilinearly resized to the student's (mmrazor's default)."""
    if student_feat.shape[:2] != teacher_feat.shape[:2]:
        raise ValueError(f"pkd_loss: student {tuple(student_feat.shape)} and teacher {tuple(teacher_feat.shape)} "
                         "differ in batch or channels")
    teacher_feat = teacher_feat.detach()
    if student_feat.shape[2:] != teacher_feat.shape[2:]:
        teacher_feat = F.interpolate(teacher_feat, size=student_feat.shape[2:], mode="bilinear", align_corners=False)
    return 0.5 * F.mse_loss(channel_standardize(student_feat, eps), channel_standardize(teacher_feat, eps))


def logit_standardize(logits: Tensor, eps: float = 1e-7) -> Tensor:
    """Z-score of each row of logits (Sun et al., CVPR 2024, "Logit Standardization in Knowledge Distillation"):
    ``(z − mean(z)) / (std(z) + ε)`` over the class (last) dimension.

    ``std`` is the *sample* standard deviation (Bessel-corrected, ``torch.std``'s default), as in the official
    code (``normalize`` in ``mdistiller/distillers/KD.py`` of sunshangquan/logit-standardization-KD) and
    torchdistill's ``LogitStdKDLoss.standardize``; ε = 1e-7 as both. The result is invariant to a shift and a
    positive scaling of the row, so a student no longer has to match the teacher's logit range. Rows are
    standardised independently; a constant row maps to zeros.
    """
    if logits.shape[-1] < 2:
        raise ValueError(f"logit_standardize needs at least two classes, got shape {tuple(logits.shape)}")
    return (logits - logits.mean(dim=-1, keepdim=True)) / (logits.std(dim=-1, keepdim=True) + eps)


def dist_terms(
    student_logits: Tensor, teacher_logits: Tensor, tau: float = 1.0, eps: float = 1e-8
) -> tuple[Tensor, Tensor]:
    """The two DIST terms ``(inter, intra)`` (Huang et al., NeurIPS 2022, "Knowledge Distillation from A
    Stronger Teacher"), each already multiplied by τ²:

        Y^s = softmax(s/τ), Y^t = softmax(t/τ)                         ([N, K])
        inter = τ² · (1 − mean_i ρ(Y^s_i,:, Y^t_i,:))                   (rows: one sample's class scores)
        intra = τ² · (1 − mean_k ρ(Y^s_:,k, Y^t_:,k))                   (columns: one class over the batch)

    ρ is the Pearson correlation: the cosine similarity (``F.cosine_similarity`` with ``eps``) of the
    mean-centred vectors, as torchdistill's ``DISTLoss`` and the official ``dist_kd.py``. A batch of one
    sample has zero-variance columns: ρ = 0 there, so the intra term is the constant τ² (no gradient).
    """
    if student_logits.dim() != 2:
        raise ValueError(f"dist_terms expects [N, K] logits, got shape {tuple(student_logits.shape)}")
    _check_same_shape(student_logits, teacher_logits, "dist_terms")
    if tau <= 0:
        raise ValueError(f"dist_terms: temperature must be > 0, got {tau}")
    y_s = F.softmax(student_logits / tau, dim=1)
    y_t = F.softmax(teacher_logits.detach() / tau, dim=1)

    def relation(a: Tensor, b: Tensor) -> Tensor:  # 1 − mean Pearson correlation of the rows
        a = a - a.mean(dim=1, keepdim=True)
        b = b - b.mean(dim=1, keepdim=True)
        return 1.0 - F.cosine_similarity(a, b, dim=1, eps=eps).mean()

    return (tau**2) * relation(y_s, y_t), (tau**2) * relation(y_s.t(), y_t.t())


def dist_loss(
    student_logits: Tensor, teacher_logits: Tensor, beta: float = 1.0, gamma: float = 1.0, tau: float = 1.0,
    eps: float = 1e-8,
) -> Tensor:
    """DIST's distillation loss ``β·inter + γ·intra`` (see :func:`dist_terms`; no cross-entropy term), which is
    torchdistill's ``DISTLoss(beta, gamma, tau, eps)``."""
    inter, intra = dist_terms(student_logits, teacher_logits, tau=tau, eps=eps)
    return beta * inter + gamma * intra


def dkd_terms(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, tau: float = 4.0
) -> tuple[Tensor, Tensor]:
    """The two DKD terms ``(tckd, nckd)`` (Zhao et al., CVPR 2022, "Decoupled Knowledge Distillation"),
    each already multiplied by τ²:

        b = [p_y, 1 − p_y]                  binary target / non-target probabilities of softmax(z/τ)
        p̂ = softmax over the non-target logits z_k/τ, k ≠ y (the target removed)
        tckd = τ² · mean_i KL(b^t_i ‖ b^s_i)
        nckd = τ² · mean_i KL(p̂^t_i ‖ p̂^s_i)

    Same values as mdistiller's ``dkd_loss`` (which builds ``b`` by summing masked probabilities and ``p̂`` by
    subtracting 1000 from the target logit before the softmax), computed in log space here: ``log(1 − p_y)`` as
    a log-sum-exp over the non-target log-probabilities and ``p̂`` with the target column dropped, so that a
    confident teacher (p_y → 1) gives no ``log 0``. One-hot / soft ``[N, K]`` labels are reduced with argmax.
    """
    if student_logits.dim() != 2:
        raise ValueError(f"dkd_terms expects [N, K] logits, got shape {tuple(student_logits.shape)}")
    _check_same_shape(student_logits, teacher_logits, "dkd_terms")
    n, k = student_logits.shape
    if k < 2:
        raise ValueError("dkd_terms needs at least two classes")
    if tau <= 0:
        raise ValueError(f"dkd_terms: temperature must be > 0, got {tau}")
    y = _hard_labels(labels, n).to(student_logits.device).unsqueeze(1)
    teacher_logits = teacher_logits.detach()
    keep = torch.ones_like(student_logits, dtype=torch.bool).scatter_(1, y, False)

    def binary_and_nontarget(z: Tensor) -> tuple[Tensor, Tensor]:
        log_p = F.log_softmax(z / tau, dim=1)
        log_nt = log_p[keep].reshape(n, k - 1)  # log p_k, k ≠ y
        log_b = torch.cat([log_p.gather(1, y), torch.logsumexp(log_nt, dim=1, keepdim=True)], dim=1)
        return log_b, F.log_softmax(z[keep].reshape(n, k - 1) / tau, dim=1)

    log_b_s, log_q_s = binary_and_nontarget(student_logits)
    log_b_t, log_q_t = binary_and_nontarget(teacher_logits)
    tckd = F.kl_div(log_b_s, log_b_t, reduction="batchmean", log_target=True)
    nckd = F.kl_div(log_q_s, log_q_t, reduction="batchmean", log_target=True)
    return (tau**2) * tckd, (tau**2) * nckd


def dkd_loss(
    student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, alpha: float = 1.0, beta: float = 8.0,
    tau: float = 4.0,
) -> Tensor:
    """DKD's distillation loss ``α·TCKD + β·NCKD`` (see :func:`dkd_terms`; no cross-entropy term, no warm-up):
    mdistiller's ``dkd_loss(logits_student, logits_teacher, target, alpha, beta, temperature)``."""
    tckd, nckd = dkd_terms(student_logits, teacher_logits, labels, tau=tau)
    return alpha * tckd + beta * nckd
