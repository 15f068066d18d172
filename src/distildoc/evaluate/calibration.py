r"""Post-hoc temperature scaling (Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern Neural Networks",
ICML 2017, Sect. 4.2).

One scalar temperature :math:`T > 0` divides every logit vector :math:`z_i`; :math:`T` is fitted on a held-out
split (here the validation split) by minimising the negative log-likelihood of the scaled softmax,

.. math::

    \hat T = \arg\min_{T > 0}\; \mathrm{NLL}(T),\qquad
    \mathrm{NLL}(T) = -\frac1N \sum_{i=1}^N \log \operatorname{softmax}(z_i / T)_{y_i}
                    = \frac1N \sum_i \Big(\log \sum_k e^{z_{ik}/T} - z_{iy_i}/T\Big).

:math:`T > 1` softens over-confident predictions, :math:`T < 1` sharpens under-confident ones. Dividing by a
positive scalar keeps the order of the logits, so the arg-max prediction, and hence accuracy, is unchanged
(:func:`temperature_scaled_metrics` checks it). ECE, NLL and Brier change; so can AURC, since the max-softmax
confidences of two samples may swap order under a change of T (it depends on all of each sample's logit gaps).

**Optimiser.** With :math:`\beta = 1/T`, :math:`\mathrm{NLL}(\beta) = \frac1N \sum_i (\operatorname{LSE}(\beta z_i)
- \beta z_{iy_i})` is convex in :math:`\beta` (a log-sum-exp of functions affine in :math:`\beta`, minus a linear
term), with derivative

.. math:: \frac{d\,\mathrm{NLL}}{d\beta} = \frac1N \sum_i \Big(\sum_k p_{ik}(\beta)\, z_{ik} - z_{iy_i}\Big),

which is therefore non-decreasing. :func:`fit_temperature` finds its sign change by **bisection on**
:math:`\log T` over the bracket ``[log 0.05, log 20]`` (:data:`T_BOUNDS`), to a width of ``1e-12`` in log T. This
needs no scipy (the package does not depend on it), no step size and no starting point, cannot diverge, and
returns the global minimiser within the bracket (a bound when the minimum lies outside it, e.g. ``T_MIN`` for
a perfectly separable validation split, whose NLL decreases towards T -> 0). Guo et al. used L-BFGS on T;
the minimiser is the same (the tests compare against a dense grid search and scipy's bounded Brent method).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .classification import accuracy as _accuracy
from .classification import classification_metrics, log_softmax, softmax

__all__ = [
    "T_BOUNDS",
    "TS_METRICS",
    "apply_temperature",
    "calibration_record",
    "fit_temperature",
    "temperature_nll",
    "temperature_scaled_metrics",
]

#: the bracket of the fitted temperature (log-space bisection between these)
T_MIN, T_MAX = 0.05, 20.0
T_BOUNDS = (T_MIN, T_MAX)
#: metrics of the scaled logits written next to each split's metrics (suffix ``_ts``); accuracy is unchanged
TS_METRICS = ("ece", "aurc", "nll", "brier")
#: bisection stops when the log-T bracket is narrower than this
_LOG_T_TOL = 1e-12


def _to_numpy(x: Any) -> np.ndarray:
    """numpy view of a numpy array, list or torch tensor (torch is not imported here)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _check(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = _to_numpy(logits).astype(np.float64)
    y = _to_numpy(labels)
    if z.size == 0 and y.size == 0:
        return z.reshape(0, z.shape[-1] if z.ndim == 2 else 0), y.reshape(0).astype(np.int64)
    if z.ndim != 2 or y.ndim != 1 or z.shape[0] != y.shape[0]:
        raise ValueError(f"temperature scaling needs logits of shape (N, K) and labels of shape (N,); got logits "
                         f"{tuple(z.shape)} and labels {tuple(y.shape)}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits contain NaN or infinite values")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got range [{y.min()}, {y.max()}]")
    return z, y


def apply_temperature(logits: Any, temperature: float) -> Any:
    """``logits / T``, in the type it was given (a torch tensor stays a tensor, anything else becomes float64
    numpy). ``T`` must be a finite positive number."""
    t = float(temperature)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"temperature must be a finite positive number, got {temperature!r}")
    if hasattr(logits, "detach") and hasattr(logits, "cpu"):
        return logits / t
    return np.asarray(logits, dtype=np.float64) / t


def temperature_nll(logits: Any, labels: Any, temperature: float) -> float:
    r""":math:`\mathrm{NLL}(T)`: mean cross-entropy of ``softmax(logits / T)`` (NaN for empty inputs)."""
    z, y = _check(logits, labels)
    if z.shape[0] == 0:
        return math.nan
    lp = log_softmax(apply_temperature(z, temperature))
    return float(-np.mean(lp[np.arange(z.shape[0]), y]))


def _nll_slope(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    """d NLL / d beta at beta = 1/T: mean over samples of E_p[z] - z_y (non-decreasing in beta)."""
    p = softmax(beta * z)
    return float(np.mean(np.sum(p * z, axis=1) - z[np.arange(z.shape[0]), y]))


def fit_temperature(logits: Any, labels: Any) -> float:
    """The temperature ``T`` in :data:`T_BOUNDS` that minimises the NLL of ``softmax(logits / T)`` on (`logits`,
    `labels`): numpy arrays, lists or torch tensors of shapes ``(N, K)`` and ``(N,)``.

    Bisection on the sign of the NLL's derivative in log T (see the module docstring for why that finds the
    global minimum). Exactly ``1.0`` when there is nothing to fit: no samples, or logits constant within every
    row (a flat objective). A clipped bound when the minimum lies outside the bracket. Shape mismatches raise
    ValueError naming both shapes."""
    z, y = _check(logits, labels)
    if z.shape[0] == 0 or z.shape[1] < 2 or np.all(z.max(axis=1) == z.min(axis=1)):
        return 1.0
    # work in b = log beta = -log T; the slope in b has the sign of the slope in beta (beta > 0)
    lo, hi = -math.log(T_MAX), -math.log(T_MIN)
    if _nll_slope(z, y, math.exp(lo)) >= 0.0:  # NLL increasing already at the smallest beta: T as large as allowed
        return T_MAX
    if _nll_slope(z, y, math.exp(hi)) <= 0.0:  # still decreasing at the largest beta: T as small as allowed
        return T_MIN
    while hi - lo > _LOG_T_TOL:
        mid = 0.5 * (lo + hi)
        if _nll_slope(z, y, math.exp(mid)) > 0.0:
            hi = mid
        else:
            lo = mid
    return float(math.exp(-0.5 * (lo + hi)))


def temperature_scaled_metrics(logits: Any, labels: Any, temperature: float,
                               accuracy: float | None = None) -> dict[str, float]:
    """``{ece_ts, aurc_ts, nll_ts, brier_ts}``: :func:`distildoc.evaluate.classification.classification_metrics`
    of ``logits / T`` (same ECE binning and AURC variant as the unscaled metrics).

    Raises RuntimeError if the scaled logits' accuracy differs from `accuracy` (default: that of the unscaled
    logits): scaling by a positive scalar must not change any prediction."""
    z, y = _check(logits, labels)
    scaled = classification_metrics(apply_temperature(z, temperature), y)
    before = _accuracy(z, y) if accuracy is None else float(accuracy)
    if not math.isclose(scaled["accuracy"], before, rel_tol=0.0, abs_tol=1e-12):
        raise RuntimeError(f"temperature scaling (T={temperature}) changed the accuracy from {before} to "
                           f"{scaled['accuracy']}: it must keep every prediction")
    return {f"{k}_ts": float(scaled[k]) for k in TS_METRICS}


def calibration_record(val_logits: Any, val_labels: Any, fitted_on: str = "val") -> dict[str, Any]:
    """Fit T on a validation split: ``{temperature, fitted_on, n_val, nll_val, nll_val_ts}`` (the top-level
    ``calibration`` entry of a run's ``metrics.json``; the two NLLs are those of the validation split before and
    after scaling; None (null in JSON) when it is empty, T is then 1)."""
    z, y = _check(val_logits, val_labels)
    t = fit_temperature(z, y)
    return {"temperature": t, "fitted_on": fitted_on, "n_val": int(z.shape[0]),
            "nll_val": None if z.shape[0] == 0 else temperature_nll(z, y, 1.0),
            "nll_val_ts": None if z.shape[0] == 0 else temperature_nll(z, y, t)}

