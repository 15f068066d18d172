"""Classification metrics: hand-worked cases, tie/edge cases and independent cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from distildoc.evaluate.classification import (
    accuracy,
    aurc,
    aurc_from_confidences,
    brier_score,
    calibration_bins,
    calibration_error_from_confidences,
    classification_metrics,
    default_n_bins,
    expected_calibration_error,
    nll,
    risk_coverage_curve,
    softmax,
)


def probs_with_top1(conf: list[float], correct: list[int], k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose class 0 holds `conf` and the rest share 1 - conf; label 0 if correct else 1."""
    c = np.asarray(conf, dtype=np.float64)
    p = np.repeat(((1.0 - c) / (k - 1))[:, None], k, axis=1)
    p[:, 0] = c
    assert np.all(p.argmax(axis=1) == 0)
    return p, np.where(np.asarray(correct) == 1, 0, 1)


# ------------------------------------------------------------------------------------------------
# accuracy / NLL / Brier
# ------------------------------------------------------------------------------------------------

P3 = np.array([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
Y3 = np.array([0, 2, 2])


def test_accuracy_nll_brier_hand_worked() -> None:
    logits = np.log(P3) + np.array([[3.0], [-7.0], [0.5]])  # per-row shifts leave the softmax unchanged
    # predictions 0, 1, 2 vs labels 0, 2, 2 -> correct, wrong, correct
    assert accuracy(logits, Y3) == pytest.approx(2 / 3)
    assert accuracy(P3, Y3) == pytest.approx(2 / 3)
    # NLL = -(ln 0.5 + ln 0.3 + ln 0.6) / 3
    expected_nll = -(math.log(0.5) + math.log(0.3) + math.log(0.6)) / 3
    assert nll(logits, Y3) == pytest.approx(expected_nll, rel=1e-12)
    assert nll(P3, Y3, from_logits=False) == pytest.approx(expected_nll, rel=1e-12)
    # Brier, summed over classes:
    #   row 0 (y=0): (0.5-1)^2 + 0.25^2 + 0.25^2   = 0.25 + 0.0625 + 0.0625 = 0.375
    #   row 1 (y=2): 0.1^2 + 0.6^2 + (0.3-1)^2     = 0.01 + 0.36 + 0.49     = 0.86
    #   row 2 (y=2): 0.2^2 + 0.2^2 + (0.6-1)^2     = 0.04 + 0.04 + 0.16     = 0.24
    #   mean = 1.475 / 3
    assert brier_score(P3, Y3) == pytest.approx(1.475 / 3, rel=1e-12)
    assert brier_score(logits, Y3, from_logits=True) == pytest.approx(1.475 / 3, rel=1e-12)


def test_nll_is_numerically_stable_for_extreme_logits() -> None:
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0], [-5e4, 5e4]])
    labels = np.array([1, 1, 1])
    # -log softmax: 1000 (row 0), 1000 (row 1), ~0 (row 2)
    assert nll(logits, labels) == pytest.approx(2000.0 / 3, rel=1e-12)


def test_brier_two_classes_is_twice_the_binary_brier() -> None:
    p1 = np.array([0.9, 0.2, 0.6, 0.5])
    y = np.array([1, 0, 0, 1])
    binary = np.mean((p1 - y) ** 2)
    assert brier_score(np.stack([1 - p1, p1], axis=1), y) == pytest.approx(2 * binary, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# ECE
# ------------------------------------------------------------------------------------------------

CONF6 = [0.30, 0.45, 0.60, 0.70, 0.85, 0.95]
CORR6 = [0, 1, 0, 1, 1, 0]


def test_ece_equal_mass_upper_edge_hand_worked() -> None:
    # N = 6 -> n_bins = min(6 - 1, 100) = 5.
    # np.array_split(sorted conf, 5) -> groups {.30,.45} {.60} {.70} {.85} {.95}
    # edges = (0, max G0, max G1, max G2, max G3, 1) = (0, .45, .60, .70, .85, 1)
    # left-closed assignment e_b <= c < e_{b+1}; the group maxima move one bin up:
    #   .30 -> [0,.45)   .45 -> [.45,.60)   .60 -> [.60,.70)   .70 -> [.70,.85)   .85,.95 -> [.85,1]
    # per-bin accuracy 0, 1, 0, 1, 1/2 ; upper-edge proxies .45, .60, .70, .85, 1.0
    # ECE = (|0-.45| + |1-.60| + |0-.70| + |1-.85| + 2*|.5-1|) / 6 = (.45+.40+.70+.15+1.0)/6 = 2.70/6 = 0.45
    assert default_n_bins(6) == 5
    bins = calibration_bins(CONF6, CORR6)
    np.testing.assert_allclose(bins.edges, [0.0, 0.45, 0.60, 0.70, 0.85, 1.0])
    np.testing.assert_array_equal(bins.assignment, [0, 1, 2, 3, 4, 4])
    np.testing.assert_array_equal(bins.counts, [1, 1, 1, 1, 2])
    np.testing.assert_allclose(bins.accuracy, [0, 1, 0, 1, 0.5])
    np.testing.assert_allclose(bins.proxy, [0.45, 0.60, 0.70, 0.85, 1.0])
    assert bins.calibration_error() == pytest.approx(0.45, abs=1e-12)

    probs, labels = probs_with_top1(CONF6, CORR6)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.45, abs=1e-12)
    assert classification_metrics(np.log(probs), labels)["ece"] == pytest.approx(0.45, abs=1e-12)


def test_ece_equal_mass_mean_proxy_and_other_norms_hand_worked() -> None:
    # same bins; mean confidences .30, .45, .60, .70, (.85+.95)/2 = .90
    # L1  = (|0-.30| + |1-.45| + |0-.60| + |1-.70| + 2*|.5-.90|) / 6 = (.30+.55+.60+.30+.80)/6 = 2.55/6 = 0.425
    # MCE = max(.30, .55, .60, .30, .40) = 0.60
    # L2  = sqrt((.09 + .3025 + .36 + .09 + 2*.16) / 6) = sqrt(1.1625 / 6)
    kw = {"proxy": "mean"}
    assert calibration_error_from_confidences(CONF6, CORR6, **kw) == pytest.approx(0.425, abs=1e-12)
    assert calibration_error_from_confidences(CONF6, CORR6, norm="max", **kw) == pytest.approx(0.60, abs=1e-12)
    assert calibration_error_from_confidences(CONF6, CORR6, norm="l2", **kw) == pytest.approx(
        math.sqrt(1.1625 / 6), abs=1e-12
    )


def test_ece_equal_width_hand_worked() -> None:
    # 4 equal-width bins, edges 0, .25, .50, .75, 1
    #   .10 -> bin 0 (wrong) ; .30, .35 -> bin 1 (right, wrong) ; bin 2 empty ; .80, .90 -> bin 3 (both right)
    # upper edge: (1*|0-.25| + 2*|.5-.50| + 2*|1-1.0|) / 5 = .25/5 = 0.05
    # mean:       (1*|0-.10| + 2*|.5-.325| + 2*|1-.85|) / 5 = (.10 + .35 + .30)/5 = 0.15
    conf = [0.10, 0.30, 0.35, 0.80, 0.90]
    corr = [0, 1, 0, 1, 1]
    bins = calibration_bins(conf, corr, n_bins=4, scheme="equal-width")
    np.testing.assert_array_equal(bins.counts, [1, 2, 0, 2])
    assert bins.calibration_error() == pytest.approx(0.05, abs=1e-12)
    assert calibration_error_from_confidences(conf, corr, n_bins=4, scheme="equal-width", proxy="mean") == (
        pytest.approx(0.15, abs=1e-12)
    )


def test_equal_mass_with_n_minus_one_bins_puts_the_two_largest_in_the_last_bin() -> None:
    rng = np.random.default_rng(3)
    conf = rng.uniform(0.2, 0.99, size=40)
    bins = calibration_bins(conf, rng.integers(0, 2, size=40))
    assert bins.n_bins == 39
    expected = np.ones(39, dtype=int)
    expected[-1] = 2
    np.testing.assert_array_equal(bins.counts, expected)
    # bin b holds the b-th smallest confidence, and its upper edge is the (b+1)-th smallest
    order = np.sort(conf)
    np.testing.assert_allclose(bins.proxy[:-1], order[1:-1])
    assert bins.proxy[-1] == 1.0


def test_ece_all_equal_confidences_fall_in_one_bin() -> None:
    # N = 5 -> 4 bins; groups of sizes 2,1,1,1 all have max 0.7 -> edges (0, .7, .7, .7, 1)
    # every sample satisfies .7 <= c < 1 only for the last bin -> counts (0, 0, 0, 5); accuracy 3/5
    # upper edge: |0.6 - 1.0| = 0.4 ; mean: |0.6 - 0.7| = 0.1
    conf = [0.7] * 5
    corr = [1, 0, 1, 1, 0]
    bins = calibration_bins(conf, corr)
    np.testing.assert_allclose(bins.edges, [0.0, 0.7, 0.7, 0.7, 1.0])
    np.testing.assert_array_equal(bins.counts, [0, 0, 0, 5])
    assert bins.calibration_error() == pytest.approx(0.4, abs=1e-12)
    assert calibration_error_from_confidences(conf, corr, proxy="mean") == pytest.approx(0.1, abs=1e-12)


def test_ece_confidence_of_one_goes_to_the_last_bin() -> None:
    bins = calibration_bins([1.0, 1.0, 0.2], [1, 1, 0], n_bins=4, scheme="equal-width")
    np.testing.assert_array_equal(bins.counts, [1, 0, 0, 2])
    assert bins.calibration_error() == pytest.approx(1 / 3 * 0.25, abs=1e-12)


def test_ece_single_sample_uses_one_bin() -> None:
    assert default_n_bins(1) == 1
    assert calibration_error_from_confidences([0.8], [1]) == pytest.approx(0.0)
    assert calibration_error_from_confidences([0.8], [0], proxy="mean") == pytest.approx(0.8)


@pytest.mark.parametrize("n_bins", [5, 10, 15, 37])
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_equal_width_mean_proxy_matches_torchmetrics(n_bins: int, norm: str) -> None:
    rng = np.random.default_rng(n_bins)
    n, k = 500, 5
    probs = rng.dirichlet(np.full(k, 0.6), size=n)
    labels = rng.integers(0, k, size=n)
    conf = probs.max(axis=1)
    # torchmetrics bins with torch.bucketize(right=True) - 1, i.e. left-closed like ours, but it keeps an
    # extra bin for confidence == 1.0 exactly and works in float32, so make sure no confidence sits on (or
    # within float32 rounding of) an edge; a single sample binned differently would move the ECE by ~1e-3.
    edges = np.linspace(0, 1, n_bins + 1)
    assert np.min(np.abs(conf[:, None] - edges[None, :])) > 1e-6
    ours = expected_calibration_error(probs, labels, n_bins=n_bins, scheme="equal-width", proxy="mean", norm=norm)
    theirs = multiclass_calibration_error(
        torch.from_numpy(probs), torch.from_numpy(labels), num_classes=k, n_bins=n_bins, norm=norm
    )
    assert ours == pytest.approx(float(theirs), abs=1e-6)  # float32 on their side


def test_ece_input_validation() -> None:
    with pytest.raises(ValueError, match="at least as many samples"):
        calibration_bins([0.5, 0.6], [1, 0], n_bins=3)
    with pytest.raises(ValueError, match="scheme"):
        calibration_bins([0.5, 0.6], [1, 0], scheme="quantile")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="proxy"):
        calibration_bins([0.5, 0.6], [1, 0], proxy="center")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error(np.array([[2.0, -1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="labels"):
        expected_calibration_error(P3, np.array([0, 3, 1]))


# ------------------------------------------------------------------------------------------------
# AURC
# ------------------------------------------------------------------------------------------------


def brute_force_rc(conf: np.ndarray, correct: np.ndarray) -> tuple[list[float], list[float], float]:
    """O(N^2) restatement: for every distinct confidence t keep {i: c_i >= t}, then trapezoids."""
    n = len(conf)
    covs: list[float] = []
    risks: list[float] = []
    for t in sorted(set(conf.tolist())):
        kept = [i for i in range(n) if conf[i] >= t]
        covs.append(len(kept) / n)
        risks.append(sum(1 - int(correct[i]) for i in kept) / len(kept))
    covs.append(0.0)
    risks.append(risks[-1])
    area = 0.0
    for j in range(len(covs) - 1):
        area += (covs[j] - covs[j + 1]) * (risks[j] + risks[j + 1]) / 2
    return covs, risks, area


def test_aurc_hand_worked_distinct_confidences() -> None:
    # sorted: .30(x) .45(v) .60(x) .70(v) .85(v) .95(x) -> 3 errors
    # (cov, risk): (1, 3/6) (5/6, 2/5) (4/6, 2/4) (3/6, 1/3) (2/6, 1/2) (1/6, 1/1) (0, 1)
    # area = 1/6 * [(.5+.4)/2 + (.4+.5)/2 + (.5+1/3)/2 + (1/3+.5)/2 + (.5+1)/2 + (1+1)/2]
    #      = 1/6 * [.45 + .45 + 5/12 + 5/12 + .75 + 1] = 1/6 * 209/60 = 209/360
    conf = np.array(CONF6)
    corr = np.array(CORR6)
    curve = risk_coverage_curve(conf, corr)
    np.testing.assert_allclose(curve.coverages, [1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0])
    np.testing.assert_allclose(curve.risks, [1 / 2, 2 / 5, 1 / 2, 1 / 3, 1 / 2, 1, 1])
    assert aurc_from_confidences(conf, corr) == pytest.approx(209 / 360, abs=1e-12)
    # the legacy fd-shifts/DistilDoc loop stops before the last segment (width 1/6, risk 1)
    assert aurc_from_confidences(conf, corr, variant="distildoc-legacy") == pytest.approx(209 / 360 - 1 / 6)


def test_aurc_hand_worked_with_tied_confidences() -> None:
    # DistilDoc's own AURC example (src/clf/metrics.py::test_aurc, "separable_less_accurate"):
    # confidences .9 .1 .3 1.0 .1 with correctness 1 0 0 1 0
    # thresholds .1 (keep all), .3, .9, 1.0 ; the two .1's are rejected together
    # (cov, risk): (1, 3/5) (3/5, 1/3) (2/5, 0) (1/5, 0) (0, 0)
    # area = .4 * (3/5 + 1/3)/2 + .2 * (1/3 + 0)/2 = 28/150 + 1/30 = 0.22
    conf = np.array([0.9, 0.1, 0.3, 1.0, 0.1])
    corr = np.array([1, 0, 0, 1, 0])
    curve = risk_coverage_curve(conf, corr)
    np.testing.assert_allclose(curve.coverages, [1, 3 / 5, 2 / 5, 1 / 5, 0])
    np.testing.assert_allclose(curve.thresholds, [0.1, 0.3, 0.9, 1.0, np.inf])
    assert curve.area() == pytest.approx(0.22, abs=1e-12)
    probs, labels = probs_with_top1([0.9, 0.26, 0.3, 1.0, 0.26], corr.tolist(), k=4)
    assert aurc(probs, labels) == pytest.approx(0.22, abs=1e-12)


def test_aurc_all_correct_is_zero_and_all_wrong_is_one() -> None:
    conf = np.array([0.4, 0.9, 0.9, 0.55, 0.7])
    for variant in ("unique-thresholds", "distildoc-legacy"):
        assert aurc_from_confidences(conf, np.ones(5), variant=variant) == 0.0
    assert aurc_from_confidences(conf, np.zeros(5)) == pytest.approx(1.0)


def test_aurc_all_equal_confidences_is_the_error_rate_and_order_free() -> None:
    # one threshold only: the curve is (1, e) -> (0, e), area e = error rate
    corr = np.array([1, 0, 1, 1, 0, 1, 1, 0])
    conf = np.full(8, 0.8)
    assert aurc_from_confidences(conf, corr) == pytest.approx(3 / 8)
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert aurc_from_confidences(conf, rng.permutation(corr)) == pytest.approx(3 / 8)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_aurc_matches_brute_force_definition(seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    conf = rng.uniform(0, 1, size=n)
    if decimals is not None:
        conf = np.round(conf, decimals)  # many ties
    correct = (rng.uniform(size=n) < conf).astype(int)
    covs, risks, area = brute_force_rc(conf, correct)
    curve = risk_coverage_curve(conf, correct)
    np.testing.assert_allclose(curve.coverages, covs, atol=1e-12)
    np.testing.assert_allclose(curve.risks, risks, atol=1e-12)
    assert aurc_from_confidences(conf, correct) == pytest.approx(area, abs=1e-12)
    # tie-aware curve is invariant to the order of the samples
    perm = rng.permutation(n)
    assert aurc_from_confidences(conf[perm], correct[perm]) == pytest.approx(area, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_legacy_aurc_differs_only_by_the_last_segment_without_ties(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    conf = rng.uniform(size=50)
    correct = rng.integers(0, 2, size=50)
    top_error = 1 - correct[np.argmax(conf)]
    unique = aurc_from_confidences(conf, correct)
    legacy = aurc_from_confidences(conf, correct, variant="distildoc-legacy")
    assert legacy == pytest.approx(unique - top_error / 50, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# bundle
# ------------------------------------------------------------------------------------------------


def test_classification_metrics_bundle_is_consistent() -> None:
    rng = np.random.default_rng(11)
    logits = rng.normal(scale=3.0, size=(64, 7))
    labels = rng.integers(0, 7, size=64)
    out = classification_metrics(logits, labels)
    assert set(out) == {"accuracy", "ece", "aurc", "nll", "brier", "n"}
    assert out["n"] == 64
    probs = softmax(logits)
    assert out["accuracy"] == pytest.approx(accuracy(logits, labels))
    assert out["ece"] == pytest.approx(expected_calibration_error(probs, labels))
    assert out["ece"] == pytest.approx(expected_calibration_error(logits, labels, from_logits=True))
    assert out["aurc"] == pytest.approx(aurc(probs, labels))
    assert out["nll"] == pytest.approx(nll(logits, labels))
    assert out["brier"] == pytest.approx(brier_score(probs, labels))
    shifted = classification_metrics(logits + 12.5, labels)
    for key in ("accuracy", "ece", "aurc", "nll", "brier"):
        assert shifted[key] == pytest.approx(out[key], abs=1e-9)
