"""Classification metrics used by DistilDoc: accuracy, NLL, Brier, ECE and AURC.

All functions are pure numpy and take a score matrix of shape ``(N, K)`` (logits or
probabilities, see each function's ``from_logits`` switch) and integer labels of shape ``(N,)``.
Throughout, the *top-1 confidence* of sample ``i`` is ``c_i = max_k p_ik`` and its correctness is
``a_i = 1[argmax_k p_ik == y_i]`` (``np.argmax`` breaks ties towards the lowest class index).

How these reproduce the paper (DistilDoc, Van Landeghem et al., ICDAR 2024, arXiv:2406.08226):

* **ECE** -- DistilDoc called the Hugging Face ``evaluate`` module ``jordyvl/ece`` with
  ``n_bins=min(N-1, 100), scheme="equal-mass", bin_range=[0, 1], proxy="upper-edge", p=1``
  (``Jordy-VL/DistilDoc_ICDAR24``, ``src/clf/metrics.py``, ``ece_logits``). :func:`expected_calibration_error`
  defaults to exactly that configuration; the binning rules are documented on :func:`calibration_bins`.
* **AURC** -- DistilDoc's ``aurc_logits`` is a copy of fd-shifts' legacy ``StatsCache.rc_curve_stats``
  + ``aurc`` (``IML-DKFZ/fd-shifts``, ``fd_shifts/analysis/metrics.py``) with the display scale set to
  1. The default here (``variant="unique-thresholds"``) is fd-shifts' current tie-correct curve
  (``fd_shifts/analysis/rc_stats_utils.py::selective_risk_stats`` integrated by the trapezoid rule as in
  ``rc_stats.py::evaluate_auc``); ``variant="distildoc-legacy"`` reproduces the legacy loop exactly.
  Both are unscaled (not x1000).
* **NLL** and **Brier** follow ``src/clf/metrics.py`` (``nll``, ``brier_loss``): mean cross-entropy and
  the mean over samples of the multi-class squared error summed over classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "AurcVariant",
    "BinProxy",
    "BinningScheme",
    "CalibrationBins",
    "CalibrationNorm",
    "RiskCoverageCurve",
    "accuracy",
    "aurc",
    "aurc_from_confidences",
    "brier_score",
    "calibration_bins",
    "calibration_error_from_confidences",
    "classification_metrics",
    "default_n_bins",
    "expected_calibration_error",
    "log_softmax",
    "nll",
    "risk_coverage_curve",
    "softmax",
    "top1",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BinningScheme = Literal["equal-mass", "equal-width"]
BinProxy = Literal["upper-edge", "mean"]
CalibrationNorm = Literal["l1", "l2", "max"]
AurcVariant = Literal["unique-thresholds", "distildoc-legacy"]

#: Upper limit on the number of ECE bins used by DistilDoc (``n_bins = min(N - 1, 100)``).
MAX_ECE_BINS = 100


# ----------------------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------------------


def _as_scores(scores: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"scores must have shape (N, K), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"scores must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("scores contain NaN or infinite values")
    return arr


def _as_labels(labels: npt.ArrayLike, n: int, k: int) -> IntArray:
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}), got range [{arr.min()}, {arr.max()}]")
    return arr


def _as_probs(scores: npt.ArrayLike, from_logits: bool) -> FloatArray:
    arr = _as_scores(scores)
    if from_logits:
        return softmax(arr)
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError("probabilities must lie in [0, 1]; pass from_logits=True for logits")
    return arr


def _as_confidences(confidences: npt.ArrayLike, correct: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    conf = np.asarray(confidences, dtype=np.float64)
    corr = np.asarray(correct)
    if conf.ndim != 1 or conf.shape[0] == 0:
        raise ValueError(f"confidences must be a non-empty 1-D array, got shape {conf.shape}")
    if corr.shape != conf.shape:
        raise ValueError(f"correct must have shape {conf.shape}, got {corr.shape}")
    if not np.all(np.isfinite(conf)):
        raise ValueError("confidences contain NaN or infinite values")
    corr_f = corr.astype(np.float64)
    if not np.all((corr_f == 0.0) | (corr_f == 1.0)):
        raise ValueError("correct must be binary (0/1 or bool)")
    return conf, corr_f


# ----------------------------------------------------------------------------------------------
# basics
# ----------------------------------------------------------------------------------------------


def log_softmax(logits: npt.ArrayLike) -> FloatArray:
    r"""Numerically stable log-softmax over the last axis.

    .. math:: \log p_{ik} = z_{ik} - m_i - \log \sum_j \exp(z_{ij} - m_i),\quad m_i = \max_j z_{ij}
    """
    z = np.asarray(logits, dtype=np.float64)
    shifted: FloatArray = z - z.max(axis=-1, keepdims=True)
    out: FloatArray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def softmax(logits: npt.ArrayLike) -> FloatArray:
    r"""Numerically stable softmax over the last axis, :math:`p_{ik} = \exp(\log p_{ik})`."""
    return np.exp(log_softmax(logits))


def top1(probs: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
    r"""Top-1 confidence :math:`c_i = \max_k p_{ik}` and prediction :math:`\hat y_i = \arg\max_k p_{ik}`."""
    p = _as_scores(probs)
    pred = p.argmax(axis=1).astype(np.int64)
    return p[np.arange(p.shape[0]), pred], pred


def accuracy(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    r"""Top-1 accuracy :math:`\frac1N \sum_i 1[\arg\max_k s_{ik} = y_i]` (logits or probabilities)."""
    s = _as_scores(scores)
    y = _as_labels(labels, *s.shape)
    return float(np.mean(s.argmax(axis=1) == y))


def nll(scores: npt.ArrayLike, labels: npt.ArrayLike, *, from_logits: bool = True, eps: float = 1e-15) -> float:
    r"""Mean negative log-likelihood (cross-entropy) of the true class.

    .. math:: \mathrm{NLL} = -\frac1N \sum_i \log p_{i y_i}

    With ``from_logits=True`` (default) the log-probabilities come from :func:`log_softmax`, so the value is
    finite for any finite logits. With probabilities, :math:`p_{iy_i}` is clipped to ``[eps, 1]`` (the
    convention of ``sklearn.metrics.log_loss``, which DistilDoc's ``src/clf/metrics.py::nll`` called).
    """
    s = _as_scores(scores)
    y = _as_labels(labels, *s.shape)
    idx = np.arange(s.shape[0])
    if from_logits:
        return float(-np.mean(log_softmax(s)[idx, y]))
    p = _as_probs(s, from_logits=False)
    return float(-np.mean(np.log(np.clip(p[idx, y], eps, 1.0))))


def brier_score(scores: npt.ArrayLike, labels: npt.ArrayLike, *, from_logits: bool = False) -> float:
    r"""Multi-class Brier score (Brier, 1950), **summed over classes and averaged over samples**.

    .. math:: \mathrm{BS} = \frac1N \sum_{i=1}^N \sum_{k=1}^K \left(p_{ik} - 1[y_i = k]\right)^2 \in [0, 2]

    This is the convention of DistilDoc's ``src/clf/metrics.py::brier_loss``; it is *not* divided by
    :math:`K` (some libraries report :math:`\mathrm{BS}/K`) and for :math:`K = 2` it equals twice the binary
    ``sklearn.metrics.brier_score_loss``.
    """
    p = _as_probs(scores, from_logits)
    y = _as_labels(labels, *p.shape)
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


# ----------------------------------------------------------------------------------------------
# ECE
# ----------------------------------------------------------------------------------------------


def default_n_bins(n: int) -> int:
    """DistilDoc's ECE bin count ``min(N - 1, 100)``, floored at 1 so that ``N = 1`` still works."""
    return max(1, min(int(n) - 1, MAX_ECE_BINS))


@dataclass(frozen=True)
class CalibrationBins:
    """Result of binning top-1 confidences; one entry per bin unless noted.

    Attributes:
        edges: bin edges ``e_0 <= e_1 <= ... <= e_B`` (length ``B + 1``).
        assignment: bin index of every sample (length ``N``).
        counts: number of samples per bin ``n_b``.
        accuracy: mean correctness per bin ``acc_b`` (NaN for empty bins).
        mean_confidence: mean top-1 confidence per bin ``conf_b`` (NaN for empty bins).
        proxy: the value that stands for the bin's confidence in the calibration gap: the upper edge
            ``e_{b+1}`` for ``proxy="upper-edge"``, ``conf_b`` for ``proxy="mean"``.
        scheme: binning scheme used.
        proxy_name: name of the proxy used.
    """

    edges: FloatArray
    assignment: IntArray
    counts: IntArray
    accuracy: FloatArray
    mean_confidence: FloatArray
    proxy: FloatArray
    scheme: str
    proxy_name: str

    @property
    def n_bins(self) -> int:
        return int(self.counts.shape[0])

    def calibration_error(self, norm: CalibrationNorm = "l1") -> float:
        r"""Binned calibration error over the non-empty bins, with weights :math:`w_b = n_b / N`.

        * ``"l1"`` (ECE): :math:`\sum_b w_b\,|acc_b - \pi_b|`
        * ``"l2"`` (RMSCE): :math:`\sqrt{\sum_b w_b\,(acc_b - \pi_b)^2}`
        * ``"max"`` (MCE): :math:`\max_{b: n_b > 0} |acc_b - \pi_b|`

        where :math:`\pi_b` is :attr:`proxy`.
        """
        nonempty = self.counts > 0
        gap = np.abs(self.accuracy[nonempty] - self.proxy[nonempty])
        weights = self.counts[nonempty] / self.counts.sum()
        if norm == "l1":
            return float(np.sum(weights * gap))
        if norm == "l2":
            return float(np.sqrt(np.sum(weights * gap**2)))
        if norm == "max":
            return float(gap.max())
        raise ValueError(f"norm must be 'l1', 'l2' or 'max', got {norm!r}")


def _equal_mass_edges(conf: FloatArray, n_bins: int, bin_range: tuple[float, float]) -> FloatArray:
    if conf.shape[0] < n_bins:
        raise ValueError(f"equal-mass binning needs at least as many samples as bins ({conf.shape[0]} < {n_bins})")
    groups = np.array_split(np.sort(conf), n_bins)
    inner = [float(g[-1]) for g in groups[:-1]]  # rightmost (largest) entry of each sorted group
    return np.asarray([bin_range[0], *inner, bin_range[1]], dtype=np.float64)


def calibration_bins(
    confidences: npt.ArrayLike,
    correct: npt.ArrayLike,
    *,
    n_bins: int | None = None,
    scheme: BinningScheme = "equal-mass",
    proxy: BinProxy = "upper-edge",
    bin_range: tuple[float, float] = (0.0, 1.0),
) -> CalibrationBins:
    r"""Bin top-1 confidences the way ``jordyvl/ece`` does, and collect per-bin statistics.

    **Edges.** With ``B = n_bins`` (default :func:`default_n_bins`, i.e. ``min(N - 1, 100)``):

    * ``"equal-mass"`` (adaptive; Nixon et al., 2019): sort the confidences, split them into ``B``
      consecutive groups with ``np.array_split`` (the first ``N mod B`` groups get one extra sample) and use
      the *largest confidence of each group* as an inner edge:
      :math:`e = (r_0, \max G_0, \max G_1, \ldots, \max G_{B-2}, r_1)` with ``bin_range = (r_0, r_1)``.
    * ``"equal-width"``: :math:`e_b = r_0 + b (r_1 - r_0) / B`.

    **Assignment** (``np.digitize`` semantics, left-closed): sample :math:`c` goes to the bin :math:`b`
    with :math:`e_b \le c < e_{b+1}`; where edges coincide the *last* such bin wins, and values at or above
    :math:`e_B` fall in the last bin (the "tie-breaking to the left for the rightmost bin" fix that
    ``jordyvl/ece`` borrows from ``scipy.stats.binned_statistic_dd``); values below :math:`e_0` fall in
    bin 0. A consequence for ``"equal-mass"``: the sample that *defines* an inner edge
    (:math:`\max G_b`) lands in the *next* bin, so bins do not reproduce the ``array_split`` groups exactly
    (with ``B = N - 1`` and distinct confidences, bin ``b`` holds the ``b``-th smallest confidence and the
    last bin holds the two largest). Duplicate edges produce empty bins, which drop out of the error.

    **Proxy.** ``"upper-edge"`` (the ``jordyvl/ece`` default DistilDoc used) represents a bin's confidence
    by its upper edge :math:`e_{b+1}`; ``"mean"`` uses the mean confidence of its samples (the textbook
    estimator of Guo et al., 2017, and what ``torchmetrics`` uses).
    """
    conf, corr = _as_confidences(confidences, correct)
    n = conf.shape[0]
    b = default_n_bins(n) if n_bins is None else int(n_bins)
    if b < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    lo, hi = float(bin_range[0]), float(bin_range[1])
    if not lo < hi:
        raise ValueError(f"bin_range must be increasing, got {bin_range}")
    if scheme == "equal-mass":
        edges = _equal_mass_edges(conf, b, (lo, hi))
    elif scheme == "equal-width":
        edges = np.linspace(lo, hi, b + 1)
    else:
        raise ValueError(f"scheme must be 'equal-mass' or 'equal-width', got {scheme!r}")
    if proxy not in ("upper-edge", "mean"):
        raise ValueError(f"proxy must be 'upper-edge' or 'mean', got {proxy!r}")

    # searchsorted(side="right") counts the edges <= c, i.e. np.digitize(c, edges, right=False).
    assignment = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, b - 1).astype(np.int64)
    counts = np.bincount(assignment, minlength=b).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(assignment, weights=corr, minlength=b) / counts
        mean_conf = np.bincount(assignment, weights=conf, minlength=b) / counts
    proxy_values = edges[1:].copy() if proxy == "upper-edge" else mean_conf
    return CalibrationBins(
        edges=edges,
        assignment=assignment,
        counts=counts,
        accuracy=acc,
        mean_confidence=mean_conf,
        proxy=proxy_values,
        scheme=scheme,
        proxy_name=proxy,
    )


def calibration_error_from_confidences(
    confidences: npt.ArrayLike,
    correct: npt.ArrayLike,
    *,
    n_bins: int | None = None,
    scheme: BinningScheme = "equal-mass",
    proxy: BinProxy = "upper-edge",
    norm: CalibrationNorm = "l1",
    bin_range: tuple[float, float] = (0.0, 1.0),
) -> float:
    r"""Binned calibration error of top-1 confidences; see :func:`calibration_bins` for the binning.

    .. math:: \mathrm{ECE} = \sum_{b=0}^{B-1} \frac{n_b}{N}\,\big|acc_b - \pi_b\big|
    """
    bins = calibration_bins(confidences, correct, n_bins=n_bins, scheme=scheme, proxy=proxy, bin_range=bin_range)
    return bins.calibration_error(norm)


def expected_calibration_error(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    from_logits: bool = False,
    n_bins: int | None = None,
    scheme: BinningScheme = "equal-mass",
    proxy: BinProxy = "upper-edge",
    norm: CalibrationNorm = "l1",
    bin_range: tuple[float, float] = (0.0, 1.0),
) -> float:
    r"""Top-1 expected calibration error (Naeini et al., 2015; Guo et al., 2017).

    .. math:: \mathrm{ECE} = \sum_b \frac{n_b}{N}\,\big|acc_b - \pi_b\big|,\qquad
              acc_b = \frac{1}{n_b}\sum_{i \in b} 1[\hat y_i = y_i]

    Defaults reproduce DistilDoc's call of ``jordyvl/ece``: ``n_bins = min(N - 1, 100)``,
    ``scheme="equal-mass"``, ``bin_range=(0, 1)``, ``proxy="upper-edge"`` (:math:`\pi_b = e_{b+1}`), L1 norm.
    ``scheme="equal-width", proxy="mean"`` gives the classic equal-width ECE.
    """
    p = _as_probs(scores, from_logits)
    y = _as_labels(labels, *p.shape)
    conf, pred = top1(p)
    return calibration_error_from_confidences(
        conf, pred == y, n_bins=n_bins, scheme=scheme, proxy=proxy, norm=norm, bin_range=bin_range
    )


# ----------------------------------------------------------------------------------------------
# AURC
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskCoverageCurve:
    """Selective risk-coverage curve, ordered from full coverage down to the lowest coverage.

    Attributes:
        coverages: fraction of samples kept at each point (descending, starts at 1).
        risks: selective risk (error rate among the kept samples) at each point.
        thresholds: for ``"unique-thresholds"``, the confidence threshold ``t`` of each point
            (samples with ``c >= t`` are kept; ``+inf`` for the terminal coverage-0 point); for
            ``"distildoc-legacy"`` the confidence of the last rejected sample (NaN at coverage 1).
        weights: width of each of the ``len(coverages) - 1`` segments used by the trapezoid rule.
            Equals ``-diff(coverages)`` for ``"unique-thresholds"``; the legacy loop's ``weights``
            otherwise (which need not match the coverage gaps when confidences tie).
    """

    coverages: FloatArray
    risks: FloatArray
    thresholds: FloatArray
    weights: FloatArray
    variant: str

    def area(self) -> float:
        r"""Trapezoid area :math:`\sum_j w_j (r_j + r_{j+1}) / 2`."""
        return float(np.sum(self.weights * 0.5 * (self.risks[:-1] + self.risks[1:])))


def _rc_unique_thresholds(conf: FloatArray, err: FloatArray) -> RiskCoverageCurve:
    n = conf.shape[0]
    order = np.argsort(conf, kind="stable")
    c_sorted = conf[order]
    e_sorted = err[order]
    total = float(e_sorted.sum())
    # m = number of rejected (lowest-confidence) samples at each threshold: cut between tie groups.
    m = np.flatnonzero(c_sorted[:-1] != c_sorted[1:]) + 1
    rejected_err = np.concatenate(([0.0], np.cumsum(e_sorted)))[m]
    kept = n - m
    coverages = np.concatenate(([1.0], kept / n, [0.0]))
    risks_inner = (total - rejected_err) / kept
    risks = np.concatenate(([total / n], risks_inner))
    risks = np.concatenate((risks, [risks[-1]]))
    thresholds = np.concatenate(([c_sorted[0]], c_sorted[m], [np.inf]))
    weights = -np.diff(coverages)
    return RiskCoverageCurve(coverages, risks, thresholds, weights, "unique-thresholds")


def _rc_distildoc_legacy(conf: FloatArray, err: FloatArray) -> RiskCoverageCurve:
    # Line-by-line port of fd-shifts' legacy StatsCache.rc_curve_stats (fd_shifts/analysis/metrics.py),
    # which DistilDoc copied into src/clf/metrics.py. A point is recorded right after removing the
    # *first* sample of each new confidence value (and always after the first removal); the loop stops
    # one sample early, and a coverage-0 point is appended only when removals are pending.
    n = conf.shape[0]
    order = np.argsort(conf, kind="stable")
    coverages = [1.0]
    error_sum = float(err.sum())
    risks = [error_sum / n]
    thresholds = [np.nan]
    weights: list[float] = []
    coverage = n
    tmp_weight = 0
    for i in range(n - 1):
        coverage -= 1
        error_sum -= float(err[order[i]])
        selective_risk = error_sum / (n - 1 - i)
        tmp_weight += 1
        if i == 0 or conf[order[i]] != conf[order[i - 1]]:
            coverages.append(coverage / n)
            risks.append(selective_risk)
            thresholds.append(float(conf[order[i]]))
            weights.append(tmp_weight / n)
            tmp_weight = 0
    if tmp_weight > 0:
        coverages.append(0.0)
        risks.append(risks[-1])
        thresholds.append(np.inf)
        weights.append(tmp_weight / n)
    return RiskCoverageCurve(
        np.asarray(coverages), np.asarray(risks), np.asarray(thresholds), np.asarray(weights), "distildoc-legacy"
    )


def risk_coverage_curve(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, *, variant: AurcVariant = "unique-thresholds"
) -> RiskCoverageCurve:
    r"""Selective risk-coverage curve (Geifman & El-Yaniv, 2017) of a confidence score.

    ``"unique-thresholds"`` (default; fd-shifts ``rc_stats_utils.selective_risk_stats``, Traub et al., 2024):
    one point per distinct confidence value :math:`t` (ascending), keeping the samples with :math:`c \ge t`,

    .. math:: \mathrm{cov}(t) = \frac{|\{i: c_i \ge t\}|}{N},\qquad
              \mathrm{risk}(t) = \frac{\sum_{i: c_i \ge t} (1 - a_i)}{|\{i: c_i \ge t\}|},

    plus a terminal point at coverage 0 that repeats the last risk. Tied confidences are never split, so the
    curve does not depend on the order of tied samples.

    ``"distildoc-legacy"``: fd-shifts' legacy loop as used by DistilDoc (see :func:`_rc_distildoc_legacy`);
    identical to ``"unique-thresholds"`` up to its last segment when confidences are distinct, but it
    splits tie groups (the result then depends on the sort order; a stable sort is used here).
    """
    conf, corr = _as_confidences(confidences, correct)
    err = 1.0 - corr
    if variant == "unique-thresholds":
        return _rc_unique_thresholds(conf, err)
    if variant == "distildoc-legacy":
        return _rc_distildoc_legacy(conf, err)
    raise ValueError(f"variant must be 'unique-thresholds' or 'distildoc-legacy', got {variant!r}")


def aurc_from_confidences(
    confidences: npt.ArrayLike, correct: npt.ArrayLike, *, variant: AurcVariant = "unique-thresholds"
) -> float:
    r"""Area under the selective risk-coverage curve by the trapezoid rule (unscaled, in ``[0, 1]``).

    .. math:: \mathrm{AURC} = \sum_j (\mathrm{cov}_j - \mathrm{cov}_{j+1})\,\frac{\mathrm{risk}_j + \mathrm{risk}_{j+1}}{2}

    Lower is better; 0 when every prediction is correct. fd-shifts reports this value x1000.
    """
    return risk_coverage_curve(confidences, correct, variant=variant).area()


def aurc(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    from_logits: bool = False,
    variant: AurcVariant = "unique-thresholds",
) -> float:
    """AURC with the maximum softmax probability as confidence score (Jaeger et al., ICLR 2023)."""
    p = _as_probs(scores, from_logits)
    y = _as_labels(labels, *p.shape)
    conf, pred = top1(p)
    return aurc_from_confidences(conf, pred == y, variant=variant)


# ----------------------------------------------------------------------------------------------
# bundle
# ----------------------------------------------------------------------------------------------


def classification_metrics(
    logits: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_bins: int | None = None,
    scheme: BinningScheme = "equal-mass",
    proxy: BinProxy = "upper-edge",
    aurc_variant: AurcVariant = "unique-thresholds",
) -> dict[str, float | int]:
    """All DistilDoc classification metrics from logits.

    Returns a dict with ``accuracy``, ``ece`` (defaults as in :func:`expected_calibration_error`), ``aurc``
    (max-softmax confidence, unscaled), ``nll`` (from logits), ``brier`` (summed over classes) and ``n``.
    """
    z = _as_scores(logits)
    y = _as_labels(labels, *z.shape)
    p = softmax(z)
    conf, pred = top1(p)
    correct = pred == y
    return {
        "accuracy": float(np.mean(correct)),
        "ece": calibration_error_from_confidences(conf, correct, n_bins=n_bins, scheme=scheme, proxy=proxy),
        "aurc": aurc_from_confidences(conf, correct, variant=aurc_variant),
        "nll": nll(z, y, from_logits=True),
        "brier": brier_score(p, y),
        "n": int(z.shape[0]),
    }
