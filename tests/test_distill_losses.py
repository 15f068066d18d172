"""Distillation losses against independent references.

* torchdistill (test-only dependency) where it implements the same loss: KD (``KDLoss``),
  logit/feature MSE (``MSELoss`` through its ``SimpleLossWrapper``), ReviewKD's
  ``HierarchicalContextLoss``.
* hand-worked values otherwise (NKD, HCL pooling), computed in the comments.

All value checks run in float64 and compare to 1e-6.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from distildoc.distill.losses import feature_mse, hcl_level, hcl_loss, kd_kl, logit_mse, nkd_loss, nkd_terms

TOL = dict(rtol=0.0, atol=1e-6)


def close(a, b) -> None:
    torch.testing.assert_close(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), **TOL)


@pytest.fixture(scope="module")
def logits():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 5, generator=g, dtype=torch.float64) * 2
    t = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3
    y = torch.tensor([0, 4, 2, 2, 1, 3])
    return s, t, y


@pytest.fixture(scope="module")
def td():
    """torchdistill's mid-level losses (registers them on import)."""
    import torchdistill.losses.high_level  # noqa: F401
    import torchdistill.losses.mid_level as mid

    return mid


def _io(x):
    return {".": {"output": x}}


# ---------------------------------------------------------------------------------------------- KD
@pytest.mark.parametrize("tau", [1.0, 2.5, 4.0])
def test_kd_kl_matches_torchdistill(td, logits, tau):
    s, t, _ = logits
    # torchdistill KDLoss returns the bare KL (batchmean, *without* τ²) when alpha == 0
    ref = td.KDLoss(".", "output", ".", "output", temperature=tau, alpha=0.0)(_io(s), _io(t), None)
    close(kd_kl(s, t, tau), tau**2 * ref)


def test_kd_kl_definition(logits):
    s, t, _ = logits
    tau = 2.5
    p_t = F.softmax(t / tau, dim=1)
    manual = tau**2 * (p_t * (p_t.log() - F.log_softmax(s / tau, dim=1))).sum(1).mean()
    close(kd_kl(s, t, tau), manual)
    close(kd_kl(t, t, tau), 0.0)


def test_kd_kl_hand_worked():
    # s = [0, 0] -> q = [1/2, 1/2];  t = [ln 3, 0] -> p = [3/4, 1/4];  τ = 1, one row:
    # KL(p‖q) = 3/4 ln(3/2) + 1/4 ln(1/2)
    s = torch.zeros(1, 2, dtype=torch.float64)
    t = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    close(kd_kl(s, t, 1.0), 0.75 * math.log(1.5) + 0.25 * math.log(0.5))


def test_kd_kl_no_teacher_grad(logits):
    s, t, _ = logits
    s = s.clone().requires_grad_(True)
    t = t.clone().requires_grad_(True)
    kd_kl(s, t, 2.0).backward()
    assert s.grad is not None and t.grad is None


# --------------------------------------------------------------------------------------------- MSE
def test_logit_mse_matches_torchdistill(td, logits):
    s, t, _ = logits
    from torchdistill.losses.registry import get_mid_level_loss

    wrapper = {"key": "SimpleLossWrapper", "kwargs": {
        "input": {"is_from_teacher": False, "module_path": ".", "io": "output"},
        "target": {"is_from_teacher": True, "module_path": ".", "io": "output"}}}
    ref = get_mid_level_loss({"key": "MSELoss", "kwargs": {"reduction": "mean"}}, wrapper)(_io(s), _io(t), None)
    close(logit_mse(s, t), ref)


def test_logit_and_feature_mse_hand_worked():
    # (1² + 2² + 3² + 4²) / 4 = 7.5
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    close(logit_mse(s, torch.zeros_like(s)), 7.5)
    # 2×2 map [[1,2],[2,1]] vs ones: (0 + 1 + 1 + 0) / 4 = 0.5
    fs = torch.tensor([1.0, 2.0, 2.0, 1.0], dtype=torch.float64).reshape(1, 1, 2, 2)
    close(feature_mse(fs, torch.ones_like(fs)), 0.5)
    with pytest.raises(ValueError, match="shape"):
        feature_mse(fs, torch.ones(1, 2, 2, 2))


# --------------------------------------------------------------------------------------------- NKD
def _nkd_example():
    # two samples, three classes; logits are logs of counts so the softmaxes are simple fractions
    s = torch.tensor([[1.0, 2.0, 1.0], [1.0, 1.0, 2.0]], dtype=torch.float64).log()
    t = torch.tensor([[2.0, 1.0, 1.0], [1.0, 3.0, 4.0]], dtype=torch.float64).log()
    y = torch.tensor([0, 2])
    return s, t, y


def test_nkd_hand_worked_tau1():
    s, t, y = _nkd_example()
    # sample 1 (y=0): p_s = [1/4, 1/2, 1/4], p_t = [1/2, 1/4, 1/4]
    #   target      −p_t[0] ln p_s[0] = −1/2 ln(1/4) = ln 2
    #   non-target  classes {1,2}: N(p_s) = [2/3, 1/3], N(p_t) = [1/2, 1/2]
    #               −(1/2 ln 2/3 + 1/2 ln 1/3) = 1/2 ln(9/2) = 1/2 ln 4.5
    # sample 2 (y=2): p_s = [1/4, 1/4, 1/2], p_t = [1/8, 3/8, 1/2]
    #   target      −1/2 ln(1/2) = 1/2 ln 2
    #   non-target  classes {0,1}: N(p_s) = [1/2, 1/2], N(p_t) = [1/4, 3/4]  ->  −ln(1/2) = ln 2
    # target mean     = (ln 2 + 1/2 ln 2) / 2                 = 3/4 ln 2
    # non-target      = γ τ² · mean = 1.5 · (1/2 ln 4.5 + ln 2) / 2 = 3/8 ln 4.5 + 3/4 ln 2
    # total           = 3/2 ln 2 + 3/8 ln 4.5 ≈ 1.6037497947
    target, non_target = nkd_terms(s, t, y, tau=1.0, gamma=1.5)
    close(target, 0.75 * math.log(2))
    close(non_target, 0.375 * math.log(4.5) + 0.75 * math.log(2))
    close(nkd_loss(s, t, y), 1.5 * math.log(2) + 0.375 * math.log(4.5))
    close(nkd_loss(s, t, y), 1.6037497947)


def test_nkd_hand_worked_tau2():
    s, t, y = _nkd_example()
    # τ = 2 halves the log-counts, i.e. the counts become square roots; the target term stays at τ = 1.
    # sample 1 non-target: N(p_s) ∝ [√2, 1] = [√2/(1+√2), 1/(1+√2)], N(p_t) = [1/2, 1/2]
    #   −1/2 ln(√2/(1+√2)²) = ln(1+√2) − 1/4 ln 2
    # sample 2 non-target: N(p_s) = [1/2, 1/2]  ->  ln 2 whatever N(p_t) is
    # non-target = γ τ² · mean = 1.5 · 4 · (ln(1+√2) − 1/4 ln 2 + ln 2) / 2 = 3 ln(1+√2) + 9/4 ln 2
    # total      = 3/4 ln 2 + 3 ln(1+√2) + 9/4 ln 2 = 3 ln(1+√2) + 3 ln 2 ≈ 4.7235623
    close(nkd_loss(s, t, y, tau=2.0, gamma=1.5), 3 * math.log(1 + math.sqrt(2)) + 3 * math.log(2))


def test_nkd_masking_formulation(logits):
    """Indexing formulation == DKD/DistilDoc-style formulation (target logit pushed to −1000, then
    softmax over all K classes), on random tensors and several (τ, γ)."""
    s, t, y = logits
    for tau, gamma in [(1.0, 1.5), (2.0, 1.0), (4.0, 0.5)]:
        gt = F.one_hot(y, s.shape[1]).to(s.dtype)
        p_t, log_p_s = F.softmax(t, 1), F.log_softmax(s, 1)
        target = -(p_t * gt).sum(1) * (log_p_s * gt).sum(1)
        q_t = F.softmax(t / tau - 1000.0 * gt, 1)
        log_q_s = F.log_softmax(s / tau - 1000.0 * gt, 1)
        non_target = -gamma * tau**2 * (q_t * log_q_s * (1 - gt)).sum(1)
        close(nkd_loss(s, t, y, tau=tau, gamma=gamma), (target + non_target).mean())


def test_nkd_soft_labels_and_grad(logits):
    s, t, y = logits
    close(nkd_loss(s, t, F.one_hot(y, 5).double()), nkd_loss(s, t, y))
    s = s.clone().requires_grad_(True)
    t = t.clone().requires_grad_(True)
    nkd_loss(s, t, y).backward()
    assert s.grad is not None and t.grad is None


# --------------------------------------------------------------------------------------------- HCL
def test_hcl_hand_worked():
    # level A: 2×2 map [[1,2],[3,4]] vs zeros. Pool sizes 4 and 2 are ≥ H = 2 and skipped; 1×1 is used.
    #   full-res MSE = (1+4+9+16)/4 = 7.5;  1×1 mean = 2.5 -> MSE 6.25
    #   (7.5 + 0.5·6.25) / (1 + 0.5) = 10.625 / 1.5 = 7.083333...
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64).reshape(1, 1, 2, 2)
    close(hcl_level(a, torch.zeros_like(a)), 10.625 / 1.5)
    # level B: 4×4 map of four constant 2×2 blocks 1, 2 / 3, 4 vs zeros. Size 4 skipped; 2 and 1 used.
    #   full-res MSE = (4·1 + 4·4 + 4·9 + 4·16)/16 = 7.5
    #   2×2 pool = [[1,2],[3,4]] -> MSE 7.5;  1×1 pool = 2.5 -> 6.25
    #   (7.5 + 0.5·7.5 + 0.25·6.25) / (1 + 0.5 + 0.25) = 12.8125 / 1.75 = 7.3214285714
    b = a.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert b[0, 0, 0, 1] == 1 and b[0, 0, 0, 2] == 2 and b[0, 0, 3, 3] == 4
    close(hcl_level(b, torch.zeros_like(b)), 12.8125 / 1.75)
    # summed over levels
    close(hcl_loss([a, b], [torch.zeros_like(a), torch.zeros_like(b)]), 10.625 / 1.5 + 12.8125 / 1.75)


def test_hcl_weights_for_large_maps():
    # H = 8 > 4: all four terms, weights 1, 1/2, 1/4, 1/8 normalised by 15/8
    g = torch.Generator().manual_seed(3)
    fs = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    ft = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    terms = [F.mse_loss(fs, ft)] + [
        F.mse_loss(F.adaptive_avg_pool2d(fs, k), F.adaptive_avg_pool2d(ft, k)) for k in (4, 2, 1)
    ]
    expected = sum(w * v for w, v in zip((1, 0.5, 0.25, 0.125), terms)) / 1.875
    close(hcl_level(fs, ft), expected)


def test_hcl_matches_torchdistill(td):
    g = torch.Generator().manual_seed(1)
    shapes = [(2, 4, 8, 8), (2, 8, 4, 4), (2, 16, 2, 2), (2, 16, 1, 1)]
    fs = [torch.randn(*sh, generator=g, dtype=torch.float64) for sh in shapes]
    ft = [torch.randn(*sh, generator=g, dtype=torch.float64) for sh in shapes]
    crit = td.HierarchicalContextLoss("s", "output", "t", "output", reduction="mean", output_sizes=[4, 2, 1])
    ref = sum(crit({"s": {"output": (a, None)}}, {"t": {"output": b}}) for a, b in zip(fs, ft))
    close(hcl_loss(fs, ft), ref)


def test_hcl_errors():
    with pytest.raises(ValueError, match="levels"):
        hcl_loss([torch.zeros(1, 1, 2, 2)], [])
    with pytest.raises(ValueError, match="shape"):
        hcl_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 4, 4))
