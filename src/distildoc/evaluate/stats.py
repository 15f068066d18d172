"""Uncertainty of a difference between two models, and a verdict from an interval (pure functions, numpy only).

Two sources of variation, two intervals:

* **Across seeds** — :func:`welch_interval`: Welch's (1947) two-sample *t* interval for the difference of
  two means with unequal variances, the Welch–Satterthwaite degrees of freedom
  :math:`\\nu = (s_a^2/n_a + s_b^2/n_b)^2 / \\big((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)\\big)`
  and the Student-*t* quantile :math:`t_{1-\\alpha/2,\\nu}`; the same numbers as
  ``scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)`` (the tests check). It
  answers "would another training seed change the ordering?" on a fixed test set. With fewer than two values
  in a group, or zero variance in both, there is no interval: NaN bounds and a ``note`` saying why (never a
  made-up interval).
* **Across test pages** — :func:`paired_bootstrap_accuracy` / :func:`bootstrap_interval`: the paired
  percentile bootstrap (Efron & Tibshirani 1993, ch. 13; for comparing two systems on one test set, Koehn
  2004, Berg-Kirkpatrick et al. 2012): page indices are drawn with replacement (the *same* draw for both
  models, which keeps the pairing), the statistic is recomputed on each resample, and the interval is the
  :math:`\\alpha/2` and :math:`1-\\alpha/2` quantiles (numpy's linear interpolation) of the resampled
  statistics. It answers "would another sample of pages change the ordering?" for the trained models.

**Seeds in the page bootstrap.** Several seeds of a model are folded into one per-page value: the fraction of
its seeds that classify the page correctly. The statistic is the mean over pages of (that fraction for *a*
minus that fraction for *b*), which equals the mean over seeds of the accuracy difference whenever both sides
have the same seeds (pairing seeds by seed id and averaging gives exactly this number), and still works when
the seed sets differ. Seeds are held fixed: this interval is about page sampling only; the Welch interval is
about seeds.

**Verdicts** (:func:`interval_verdict`): a claim that the difference is positive (``expected_sign=+1``) or
negative (``-1``) *agrees* when the whole interval lies strictly on the claimed side of 0, *disagrees* when it
lies strictly on the other side, and is *inconclusive* when it contains 0 (an interval touching 0 included); an
undefined (NaN) interval gives ``n/a``. :func:`tolerance_verdict` does the same for "the difference is at most
``tol`` in size". :func:`consensus` joins the verdicts of several intervals of *one* comparison (Welch and
bootstrap): a side is taken only when every defined interval takes it. :func:`all_hold` joins the verdicts of
the comparisons a universal claim ("every student ...") is made of: one clear counter-example disagrees, all
agreeing agrees, anything else is inconclusive.

The Student-*t* quantile is computed here (regularised incomplete beta by Lentz's continued fraction,
Numerical Recipes 3rd ed. §6.4, inverted by bisection) so that the package does not depend on scipy; the tests
compare it with ``scipy.stats.t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "AGREES",
    "DISAGREES",
    "INCONCLUSIVE",
    "NA",
    "VERDICTS",
    "Interval",
    "student_t_cdf",
    "student_t_ppf",
    "welch_interval",
    "bootstrap_indices",
    "bootstrap_interval",
    "paired_bootstrap_accuracy",
    "paired_bootstrap_mean",
    "interval_verdict",
    "tolerance_verdict",
    "consensus",
    "all_hold",
]

AGREES = "agrees"
DISAGREES = "disagrees"
INCONCLUSIVE = "inconclusive"
NA = "n/a"
VERDICTS = (AGREES, DISAGREES, INCONCLUSIVE, NA)

#: resamples drawn per block (bounds memory: a block is `_BLOCK × n` indices)
_BLOCK = 64


@dataclass(frozen=True)
class Interval:
    """A point estimate of a difference (a − b) and its confidence interval.

    ``low`` / ``high`` are NaN when no interval exists (``note`` says why). ``method`` is ``"welch"`` or
    ``"paired_bootstrap"``; ``n_a`` / ``n_b`` count seeds (Welch) or pages (both equal, bootstrap); ``df`` is the
    Welch–Satterthwaite degrees of freedom (NaN for the bootstrap); ``n_resamples`` and ``seed`` describe the
    bootstrap (0 for Welch).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n_a: int
    n_b: int
    df: float = math.nan
    n_resamples: int = 0
    seed: int = 0
    note: str = ""

    @property
    def defined(self) -> bool:
        """Both bounds are finite numbers."""
        return math.isfinite(self.low) and math.isfinite(self.high)

    def as_dict(self, prefix: str = "") -> dict[str, float | int | str]:
        """The fields as a flat dict, keys prefixed (``prefix + "low"`` ...), for a table row."""
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


# ------------------------------------------------------------------------------------------------
# Student's t distribution
# ------------------------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes §6.4)."""
    tiny, eps = 1e-300, 1e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b}, x={x})")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta :math:`I_x(a, b)` for a, b > 0, 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """CDF of Student's *t* with `df` > 0 degrees of freedom (any real df):
    :math:`F(t) = 1 - \\tfrac12 I_{\\nu/(\\nu+t^2)}(\\nu/2, 1/2)` for t ≥ 0, symmetric below."""
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_ppf(q: float, df: float) -> float:
    """Quantile of Student's *t* (inverse of :func:`student_t_cdf`, bisection to machine precision)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile level must be in (0, 1), got {q}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -student_t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
        if hi > 1e300:
            raise ArithmeticError(f"t quantile {q} with df={df} out of range")
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if student_t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# ------------------------------------------------------------------------------------------------
# Welch's interval across seeds
# ------------------------------------------------------------------------------------------------


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def welch_interval(a: Iterable[float], b: Iterable[float], confidence: float = 0.95) -> Interval:
    """Welch's *t* interval for mean(a) − mean(b) (e.g. a method's accuracies over seeds vs the supervised
    student's). NaN values are dropped. Equal to scipy's ``ttest_ind(a, b, equal_var=False)
    .confidence_interval(confidence)``.

    No interval (NaN bounds, ``note`` set) when a group has fewer than 2 values (no variance estimate) or both
    groups have zero variance (the *t* statistic is undefined); the estimate is still given when both groups
    have a value.
    """
    _check_confidence(confidence)
    xa, xb = _finite(a), _finite(b)
    na, nb = int(xa.size), int(xb.size)
    est = float(xa.mean() - xb.mean()) if na and nb else math.nan

    def none(note: str, df: float = math.nan) -> Interval:
        return Interval(est, math.nan, math.nan, confidence, "welch", na, nb, df=df, note=note)

    if na < 2 or nb < 2:
        return none(f"fewer than 2 seeds ({na} vs {nb}): no variance estimate, no interval")
    va, vb = float(xa.var(ddof=1)) / na, float(xb.var(ddof=1)) / nb
    if va + vb == 0.0:
        return none(f"zero variance across seeds in both groups ({na} vs {nb}): the t interval is undefined")
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = student_t_ppf(0.5 + confidence / 2.0, df) * math.sqrt(va + vb)
    return Interval(est, est - half, est + half, confidence, "welch", na, nb, df=float(df))


# ------------------------------------------------------------------------------------------------
# paired bootstrap across pages
# ------------------------------------------------------------------------------------------------


def bootstrap_indices(n: int, n_resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Blocks of resampled index arrays (``[block, n]`` ints in ``[0, n)``, drawn with replacement by
    ``numpy.random.default_rng(seed)``), `n_resamples` rows in all; the same arguments give the same draws."""
    if n < 1:
        raise ValueError(f"cannot resample {n} items")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be ≥ 1, got {n_resamples}")

    def blocks() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)
        done = 0
        while done < n_resamples:
            k = min(_BLOCK, n_resamples - done)
            yield rng.integers(0, n, size=(k, n))
            done += k

    return blocks()


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    lo, hi = np.quantile(samples, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, n_resamples: int = 2000, seed: int = 0,
                       confidence: float = 0.95, n_a: int | None = None, n_b: int | None = None) -> Interval:
    """Percentile bootstrap interval of ``statistic(indices)`` over `n` paired items (pages).

    `statistic` receives an index array of length `n` (``np.arange(n)`` for the point estimate, a resample with
    replacement otherwise) and returns the difference of interest (e.g. mAP of a minus mAP of b on those pages).
    Resamples whose statistic is NaN are dropped (counted in ``note``); none left gives a NaN interval.
    """
    _check_confidence(confidence)
    if n < 1:
        return Interval(math.nan, math.nan, math.nan, confidence, "paired_bootstrap", 0, 0,
                        n_resamples=n_resamples, seed=seed, note="no pages")
    est = float(statistic(np.arange(n)))
    samples = np.asarray([float(statistic(idx)) for block in bootstrap_indices(n, n_resamples, seed) for idx in block])
    ok = np.isfinite(samples)
    note = "" if ok.all() else f"{int((~ok).sum())} of {samples.size} resamples undefined (dropped)"
    if not ok.any():
        return Interval(est, math.nan, math.nan, confidence, "paired_bootstrap", n_a or n, n_b or n,
                        n_resamples=n_resamples, seed=seed, note=note)
    lo, hi = _percentile_interval(samples[ok], confidence)
    return Interval(est, lo, hi, confidence, "paired_bootstrap", n_a or n, n_b or n, n_resamples=n_resamples,
                    seed=seed, note=note)


def _per_page(values: npt.ArrayLike, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] == 0 or arr.shape[0] == 0:
        raise ValueError(f"{what}: expected per-page values of shape [pages] or [seeds, pages], "
                         f"got shape {np.shape(values)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: per-page values must be finite numbers")
    return arr.mean(axis=0)


def paired_bootstrap_accuracy(correct_a: npt.ArrayLike, correct_b: npt.ArrayLike, n_resamples: int = 2000,
                              seed: int = 0, confidence: float = 0.95) -> Interval:
    """Paired bootstrap interval of accuracy(a) − accuracy(b) on the same test pages.

    `correct_a`, `correct_b`: 0/1 (or bool) per page, shape ``[pages]`` for one run or ``[seeds, pages]`` for
    several seeds (columns = the same pages, in the same order, for both). Seeds are averaged per page first
    (module docstring), so the estimate is mean accuracy(a) − mean accuracy(b) over seeds.
    """
    return paired_bootstrap_mean(correct_a, correct_b, n_resamples, seed, confidence)


def paired_bootstrap_mean(values_a: npt.ArrayLike, values_b: npt.ArrayLike, n_resamples: int = 2000,
                          seed: int = 0, confidence: float = 0.95) -> Interval:
    """Paired bootstrap interval of mean(a) − mean(b) for any per-item score on the same items (0/1 correctness:
    :func:`paired_bootstrap_accuracy`; per-question ANLS ...). Shapes ``[items]`` or ``[runs, items]`` (runs
    averaged per item first)."""
    _check_confidence(confidence)
    pa, pb = _per_page(values_a, "values_a"), _per_page(values_b, "values_b")
    if pa.shape != pb.shape:
        raise ValueError(f"paired bootstrap: the two runs have {pa.size} and {pb.size} pages; they must be the same "
                         "pages")
    d = pa - pb
    est = float(d.mean())
    samples = np.concatenate([d[idx].mean(axis=1) for idx in bootstrap_indices(d.size, n_resamples, seed)])
    lo, hi = _percentile_interval(samples, confidence)
    return Interval(est, lo, hi, confidence, "paired_bootstrap", int(d.size), int(d.size), n_resamples=n_resamples,
                    seed=seed)


# ------------------------------------------------------------------------------------------------
# verdicts
# ------------------------------------------------------------------------------------------------


def _bounds(interval: Interval | tuple[float, float]) -> tuple[float, float]:
    if isinstance(interval, Interval):
        return interval.low, interval.high
    low, high = interval
    return float(low), float(high)


def interval_verdict(interval: Interval | tuple[float, float], expected_sign: int) -> str:
    """``agrees`` when the whole interval is strictly on the side of 0 the claim expects (`expected_sign` +1:
    positive, −1: negative), ``disagrees`` when strictly on the other side, ``inconclusive`` when it contains
    or touches 0, ``n/a`` when it is undefined (NaN)."""
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be +1 or -1, got {expected_sign!r}")
    low, high = _bounds(interval)
    if not (math.isfinite(low) and math.isfinite(high)):
        return NA
    if low > high:
        raise ValueError(f"interval bounds out of order: [{low}, {high}]")
    if (low > 0 and expected_sign > 0) or (high < 0 and expected_sign < 0):
        return AGREES
    if (high < 0 and expected_sign > 0) or (low > 0 and expected_sign < 0):
        return DISAGREES
    return INCONCLUSIVE


def tolerance_verdict(interval: Interval | tuple[float, float], tol: float) -> str:
    """For "|difference| ≤ `tol`": ``agrees`` when the interval lies inside [−tol, tol], ``disagrees`` when it
    lies strictly outside on one side (every value beyond tol, or every value below −tol), else ``inconclusive``;
    ``n/a`` when undefined."""
    if not tol >= 0:
        raise ValueError(f"tolerance must be ≥ 0, got {tol}")
    low, high = _bounds(interval)
    if not (math.isfinite(low) and math.isfinite(high)):
        return NA
    if -tol <= low and high <= tol:
        return AGREES
    if low > tol or high < -tol:
        return DISAGREES
    return INCONCLUSIVE


def _check(verdicts: Sequence[str]) -> list[str]:
    bad = [v for v in verdicts if v not in VERDICTS]
    if bad:
        raise ValueError(f"unknown verdict(s) {bad}; expected one of {list(VERDICTS)}")
    return [v for v in verdicts if v != NA]


def consensus(verdicts: Iterable[str]) -> str:
    """Several intervals of one comparison: a side only when every defined one takes it (``n/a`` ignored;
    nothing defined: ``n/a``); otherwise ``inconclusive``."""
    vs = _check(list(verdicts))
    if not vs:
        return NA
    if all(v == AGREES for v in vs):
        return AGREES
    if all(v == DISAGREES for v in vs):
        return DISAGREES
    return INCONCLUSIVE


def all_hold(verdicts: Iterable[str]) -> str:
    """A universal claim over several comparisons: ``disagrees`` if any comparison disagrees, ``agrees`` if all
    (defined) ones agree, ``inconclusive`` otherwise; ``n/a`` comparisons ignored, none defined: ``n/a``."""
    vs = _check(list(verdicts))
    if not vs:
        return NA
    if any(v == DISAGREES for v in vs):
        return DISAGREES
    if all(v == AGREES for v in vs):
        return AGREES
    return INCONCLUSIVE
