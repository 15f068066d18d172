"""Post-hoc temperature scaling (Guo et al., 2017): the fitted T minimises the validation NLL, over-/under-confident
logits get T > 1 / T < 1, accuracy is unchanged, and every classification run writes the calibration keys."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from distildoc.data.tensors import TensorSplit
from distildoc.evaluate.calibration import (
    T_MAX,
    T_MIN,
    apply_temperature,
    calibration_record,
    fit_temperature,
    temperature_nll,
    temperature_scaled_metrics,
)
from distildoc.evaluate.classification import accuracy, classification_metrics, nll, softmax
from distildoc.utils.io import read_json


def calibrated(n: int = 4000, k: int = 10, scale: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is calibrated by construction: each label is drawn from softmax(logits)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * scale
    p = softmax(z)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, np.minimum(y, k - 1)


def grid_argmin(z: np.ndarray, y: np.ndarray, points: int = 4001) -> tuple[float, float]:
    """(best T, log-grid step) of a dense grid search over log T in [log T_MIN, log T_MAX]."""
    grid = np.linspace(math.log(T_MIN), math.log(T_MAX), points)
    losses = [temperature_nll(z, y, math.exp(g)) for g in grid]
    return math.exp(grid[int(np.argmin(losses))]), float(grid[1] - grid[0])


@pytest.mark.parametrize("scale", [1.0, 5.0, 0.3])
def test_fitted_temperature_minimises_validation_nll_like_a_grid_search(scale: float) -> None:
    z, y = calibrated(n=1500, seed=1)
    z = z * scale
    t = fit_temperature(z, y)
    t_grid, step = grid_argmin(z, y)
    assert abs(math.log(t) - math.log(t_grid)) <= step  # same minimiser, to the grid's resolution
    assert temperature_nll(z, y, t) <= temperature_nll(z, y, t_grid) + 1e-12  # and no worse than the grid's best
    for other in (t * 0.99, t * 1.01):
        assert temperature_nll(z, y, t) < temperature_nll(z, y, other)


def test_fit_agrees_with_scipy_bounded_brent() -> None:
    optimize = pytest.importorskip("scipy.optimize")
    z, y = calibrated(n=1000, seed=2)
    z = z * 3.0
    res = optimize.minimize_scalar(lambda lt: temperature_nll(z, y, math.exp(lt)), method="bounded",
                                   bounds=(math.log(T_MIN), math.log(T_MAX)), options={"xatol": 1e-9})
    assert fit_temperature(z, y) == pytest.approx(math.exp(res.x), rel=1e-6)


def test_over_confident_logits_get_t_above_one_and_under_confident_below() -> None:
    z, y = calibrated()
    assert fit_temperature(z, y) == pytest.approx(1.0, abs=0.1)  # already calibrated
    t_over = fit_temperature(5.0 * z, y)
    t_under = fit_temperature(0.2 * z, y)
    assert t_over > 1.0 and t_over == pytest.approx(5.0, rel=0.1)
    assert t_under < 1.0 and t_under == pytest.approx(0.2, rel=0.1)
    # scaling brings the NLL and ECE of the over-confident logits down
    before = classification_metrics(5.0 * z, y)
    after = temperature_scaled_metrics(5.0 * z, y, t_over)
    assert after["nll_ts"] < before["nll"] and after["ece_ts"] < before["ece"]


def test_accuracy_is_unchanged_and_ts_metrics_are_those_of_the_scaled_logits() -> None:
    z, y = calibrated(n=500, seed=3)
    z = 4.0 * z
    t = fit_temperature(z, y)
    scaled = apply_temperature(z, t)
    assert accuracy(scaled, y) == accuracy(z, y)
    assert np.array_equal(scaled.argmax(1), z.argmax(1))
    m = temperature_scaled_metrics(z, y, t)
    ref = classification_metrics(z / t, y)
    assert set(m) == {"ece_ts", "aurc_ts", "nll_ts", "brier_ts"}
    for k in ("ece", "aurc", "nll", "brier"):
        assert m[f"{k}_ts"] == pytest.approx(ref[k], abs=1e-12)
    assert m["nll_ts"] == pytest.approx(nll(z / t, y))
    with pytest.raises(RuntimeError, match="accuracy"):  # a claimed accuracy that the logits do not have
        temperature_scaled_metrics(z, y, t, accuracy=accuracy(z, y) + 0.1)


def test_edge_cases_empty_constant_separable_and_bad_input() -> None:
    assert fit_temperature(np.zeros((0, 4)), np.zeros(0, dtype=int)) == 1.0
    assert fit_temperature([], []) == 1.0
    assert fit_temperature(np.ones((5, 3)), np.arange(5) % 3) == 1.0  # flat objective
    sep = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert fit_temperature(sep, np.array([0, 1])) == T_MIN  # NLL keeps falling as T -> 0: the bound
    assert fit_temperature(sep, np.array([1, 0])) == T_MAX  # all wrong: as flat as allowed
    with pytest.raises(ValueError, match=r"\(6, 3\).*\(5,\)"):
        fit_temperature(np.zeros((6, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="labels must lie"):
        fit_temperature(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(np.zeros((2, 3)), 0.0)


def test_torch_input_gives_the_numpy_answer() -> None:
    z, y = calibrated(n=300, seed=4)
    t_np = fit_temperature(3.0 * z, y)
    t_torch = fit_temperature(torch.tensor(3.0 * z, dtype=torch.float64, requires_grad=True), torch.tensor(y))
    assert t_torch == t_np
    scaled = apply_temperature(torch.tensor(z), 2.0)
    assert isinstance(scaled, torch.Tensor) and torch.allclose(scaled, torch.tensor(z) / 2.0)


def test_calibration_record() -> None:
    z, y = calibrated(n=400, seed=5)
    rec = calibration_record(3.0 * z, y)
    assert rec["fitted_on"] == "val" and rec["n_val"] == 400
    assert rec["temperature"] == fit_temperature(3.0 * z, y)
    assert rec["nll_val_ts"] < rec["nll_val"]
    empty = calibration_record(np.zeros((0, 0)), np.zeros(0))
    assert empty == {"temperature": 1.0, "fitted_on": "val", "n_val": 0, "nll_val": None, "nll_val_ts": None}


# -- the run lifecycle: teacher and student jobs write the calibration keys -------------------------------------

SIZE = 32


def _split(n: int, seed: int) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = (torch.rand(n, SIZE, SIZE, generator=g) * 60 + labels[:, None, None] * 50).to(torch.uint8)
    return TensorSplit(images, labels, [f"img{i}.png" for i in range(n)], [])


def _dic_cfg() -> dict:
    recipe = {"epochs": 1, "batch_size": 8, "lr": 1e-3, "progress": False}
    return {"archs": "embedded", "img_size": SIZE, "eval_batch_size": 16, "seeds": [0], "methods": {"ce": {}},
            "teacher": {**recipe, "epochs": 0}, "student": recipe}


def _check_run(run_dir: Path, n_val: int) -> dict:
    metrics = read_json(run_dir / "metrics.json")
    cal = metrics["calibration"]
    assert cal["fitted_on"] == "val" and cal["n_val"] == n_val and T_MIN <= cal["temperature"] <= T_MAX
    val = np.load(run_dir / "logits_val.npz")
    assert cal["temperature"] == fit_temperature(val["logits"], val["labels"])
    assert set(metrics["splits"]) == {"test"}
    test = metrics["splits"]["test"]
    for key in ("accuracy", "ece", "aurc", "nll", "brier", "n", "n_skipped", "ece_ts", "aurc_ts", "nll_ts",
                "brier_ts"):
        assert key in test
    logits = np.load(run_dir / "logits_test.npz")
    assert test["nll_ts"] == pytest.approx(temperature_nll(logits["logits"], logits["labels"], cal["temperature"]))
    return metrics


def test_teacher_and_student_runs_fit_t_on_val_and_write_ts_metrics(tmp_path: Path) -> None:
    from distildoc.train.dic import train_students, train_teacher

    torch.set_num_threads(1)
    train, val, test = _split(16, 0), _split(12, 1), _split(10, 2)
    cfg = _dic_cfg()
    train_teacher(tmp_path / "teacher", "tobacco", "ViT-B", cfg, train, val, {"test": test})
    _check_run(tmp_path / "teacher", 12)
    train_students({"ce": tmp_path / "ce"}, "tobacco", None, "ViT-T", "random", 0, cfg, train, val,
                   {"test": test}, None, None)
    _check_run(tmp_path / "ce", 12)
