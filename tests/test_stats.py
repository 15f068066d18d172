"""Intervals and verdicts (distildoc.evaluate.stats) against scipy.stats and hand-worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from distildoc.evaluate.stats import (
    AGREES,
    DISAGREES,
    INCONCLUSIVE,
    NA,
    Interval,
    all_hold,
    bootstrap_indices,
    bootstrap_interval,
    consensus,
    interval_verdict,
    paired_bootstrap_accuracy,
    student_t_cdf,
    student_t_ppf,
    tolerance_verdict,
    welch_interval,
)


@pytest.mark.parametrize("df", [1.0, 1.7, 2.0, 3.3, 4.0, 9.5, 30.0, 1000.0])
@pytest.mark.parametrize("q", [0.6, 0.9, 0.975, 0.995, 0.025])
def test_student_t_quantile_and_cdf_match_scipy(df: float, q: float) -> None:
    assert student_t_ppf(q, df) == pytest.approx(sps.t.ppf(q, df), rel=1e-10, abs=1e-12)
    for t in (-7.0, -1.2, 0.0, 0.3, 2.5, 40.0):
        assert student_t_cdf(t, df) == pytest.approx(sps.t.cdf(t, df), rel=1e-10, abs=1e-14)
    with pytest.raises(ValueError, match="degrees of freedom"):
        student_t_ppf(q, 0.0)
    with pytest.raises(ValueError, match="quantile level"):
        student_t_ppf(1.0, df)


@pytest.mark.parametrize("a, b", [
    ([0.81, 0.84, 0.80], [0.70, 0.74, 0.69]),          # 3 seeds each, clearly apart
    ([0.71, 0.69, 0.75], [0.70, 0.72, 0.68]),          # overlapping
    ([0.5, 0.5, 0.5], [0.40, 0.45, 0.43, 0.47]),       # zero variance on one side: df = n_b - 1
    ([0.62, 0.66], [0.60, 0.61, 0.59, 0.64, 0.63]),   # unequal sizes
])
@pytest.mark.parametrize("confidence", [0.95, 0.9])
@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_welch_interval_matches_scipy(a, b, confidence) -> None:
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(confidence)
    iv = welch_interval(a, b, confidence)
    assert iv.low == pytest.approx(ci.low, rel=1e-9) and iv.high == pytest.approx(ci.high, rel=1e-9)
    assert iv.estimate == pytest.approx(np.mean(a) - np.mean(b))
    assert iv.df == pytest.approx(res.df, rel=1e-9)
    assert (iv.n_a, iv.n_b, iv.method, iv.note) == (len(a), len(b), "welch", "")
    assert iv.defined


def test_welch_interval_by_hand() -> None:
    # a = [1, 3], b = [0, 0, 0]: var(a) = 2, se² = 2/2 = 1, df = 1 / (1/1) = 1, t(0.975, 1) = 12.7062
    iv = welch_interval([1.0, 3.0], [0.0, 0.0, 0.0])
    assert iv.estimate == 2.0 and iv.df == pytest.approx(1.0)
    assert iv.low == pytest.approx(2.0 - 12.706204736) and iv.high == pytest.approx(2.0 + 12.706204736)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_welch_interval_without_enough_seeds_is_nan_and_says_why() -> None:
    one = welch_interval([0.8], [0.7, 0.72])
    assert math.isnan(one.low) and math.isnan(one.high) and not one.defined
    assert one.estimate == pytest.approx(0.09) and "fewer than 2 seeds (1 vs 2)" in one.note
    flat = welch_interval([0.8, 0.8], [0.7, 0.7])
    assert math.isnan(flat.low) and "zero variance" in flat.note and flat.estimate == pytest.approx(0.1)
    # scipy returns a zero-width "interval" there (t = inf): exactly the made-up certainty refused here
    ci = sps.ttest_ind([0.8, 0.8], [0.7, 0.7], equal_var=False).confidence_interval()
    assert ci.low == pytest.approx(ci.high)
    empty = welch_interval([], [0.7, 0.7])
    assert math.isnan(empty.estimate) and math.isnan(empty.low)
    # NaN values (a missing run's metric) are dropped, not propagated
    assert welch_interval([0.8, float("nan"), 0.9], [0.7, 0.75]).n_a == 2
    with pytest.raises(ValueError, match="confidence"):
        welch_interval([1, 2], [3, 4], confidence=95)


def test_bootstrap_indices_are_seeded_and_blocked() -> None:
    a = np.concatenate(list(bootstrap_indices(7, 150, seed=3)))
    b = np.concatenate(list(bootstrap_indices(7, 150, seed=3)))
    c = np.concatenate(list(bootstrap_indices(7, 150, seed=4)))
    assert a.shape == (150, 7) and (a == b).all() and not (a == c).all()
    assert a.min() >= 0 and a.max() <= 6
    with pytest.raises(ValueError, match="cannot resample 0"):
        bootstrap_indices(0, 10)


def test_paired_bootstrap_identical_runs_give_zero_interval() -> None:
    rng = np.random.default_rng(0)
    correct = rng.integers(0, 2, size=(3, 50))
    iv = paired_bootstrap_accuracy(correct, correct.copy(), n_resamples=500)
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)
    assert interval_verdict(iv, +1) == INCONCLUSIVE  # equal is not better


def test_paired_bootstrap_complementary_runs_give_a_positive_interval() -> None:
    # a is right on exactly the 30 pages b gets wrong, and b right on 10 pages a gets wrong
    a = np.array([1] * 30 + [0] * 10)
    b = 1 - a
    iv = paired_bootstrap_accuracy(a, b, n_resamples=2000, seed=0)
    assert iv.estimate == pytest.approx(0.5)  # 0.75 - 0.25
    assert 0.0 < iv.low < 0.5 < iv.high <= 1.0
    # the per-page difference is ±1, so a resample's mean is 2·(share of +1 pages) − 1: a binomial proportion;
    # the percentile interval is close to the normal one, 0.5 ± 1.96·sqrt(1 - 0.25)/sqrt(40) = 0.5 ± 0.268
    assert iv.low == pytest.approx(0.5 - 0.268, abs=0.04) and iv.high == pytest.approx(0.5 + 0.268, abs=0.04)
    assert interval_verdict(iv, +1) == AGREES and interval_verdict(iv, -1) == DISAGREES
    assert (iv.n_a, iv.n_resamples, iv.method) == (40, 2000, "paired_bootstrap")


def test_paired_bootstrap_averages_seeds_per_page_and_is_reproducible() -> None:
    # two seeds of a: page accuracy 0.5 and 1.0 on page 0 ... the estimate is the mean seed difference
    a = np.array([[1, 0, 1, 1], [0, 0, 1, 1]])
    b = np.array([[0, 0, 1, 0]])
    iv = paired_bootstrap_accuracy(a, b, n_resamples=300, seed=5)
    assert iv.estimate == pytest.approx(a.mean() - b.mean())
    assert paired_bootstrap_accuracy(a, b, n_resamples=300, seed=5) == iv
    with pytest.raises(ValueError, match="same pages"):
        paired_bootstrap_accuracy(a, b[:, :3])


def test_bootstrap_interval_with_a_statistic_matches_the_accuracy_shortcut() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 60), rng.integers(0, 2, 60)
    fast = paired_bootstrap_accuracy(a, b, n_resamples=400, seed=2)
    slow = bootstrap_interval(lambda idx: a[idx].mean() - b[idx].mean(), 60, n_resamples=400, seed=2)
    assert (slow.estimate, slow.low, slow.high) == pytest.approx((fast.estimate, fast.low, fast.high))
    nan = bootstrap_interval(lambda idx: math.nan, 5, n_resamples=10)
    assert math.isnan(nan.low) and "10 of 10 resamples undefined" in nan.note


def test_interval_verdicts() -> None:
    assert interval_verdict((0.01, 0.05), +1) == AGREES
    assert interval_verdict((-0.05, -0.01), +1) == DISAGREES
    assert interval_verdict((-0.01, 0.05), +1) == INCONCLUSIVE
    assert interval_verdict((0.0, 0.05), +1) == INCONCLUSIVE  # touching 0 is not "entirely above"
    assert interval_verdict((-0.05, -0.01), -1) == AGREES
    assert interval_verdict((0.01, 0.05), -1) == DISAGREES
    assert interval_verdict((math.nan, math.nan), +1) == NA
    assert interval_verdict(Interval(0.1, 0.05, 0.2, 0.95, "welch", 3, 3), +1) == AGREES
    with pytest.raises(ValueError, match="expected_sign"):
        interval_verdict((0, 1), 0)
    assert tolerance_verdict((-1.0, 1.5), 2.0) == AGREES
    assert tolerance_verdict((2.5, 4.0), 2.0) == DISAGREES
    assert tolerance_verdict((-6.0, -2.1), 2.0) == DISAGREES
    assert tolerance_verdict((1.0, 3.0), 2.0) == INCONCLUSIVE
    assert tolerance_verdict((math.nan, 1.0), 2.0) == NA


def test_joining_verdicts() -> None:
    assert consensus([AGREES, AGREES]) == AGREES
    assert consensus([AGREES, NA]) == AGREES  # Welch undefined with one seed: the bootstrap decides
    assert consensus([AGREES, INCONCLUSIVE]) == INCONCLUSIVE
    assert consensus([AGREES, DISAGREES]) == INCONCLUSIVE
    assert consensus([DISAGREES, DISAGREES]) == DISAGREES
    assert consensus([NA, NA]) == NA
    assert all_hold([AGREES, AGREES, NA]) == AGREES
    assert all_hold([AGREES, INCONCLUSIVE]) == INCONCLUSIVE
    assert all_hold([AGREES, DISAGREES, INCONCLUSIVE]) == DISAGREES
    assert all_hold([]) == NA
    with pytest.raises(ValueError, match="unknown verdict"):
        all_hold(["yes"])
