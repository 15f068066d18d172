"""The distillation objectives of issue 14 against independent references (float64, to 1e-6):

* logit standardisation (``logit_standardize``, ``ce_kd_ls``, ``nkd_ls``): torchdistill's ``LogitStdKDLoss``;
  ``logit_standardization=False`` leaves ``ce_kd`` / ``nkd`` bit-for-bit unchanged;
* DIST (``dist``): CE + torchdistill's ``DISTLoss``;
* DKD (``dkd``): a 2×3 example worked by hand below, and mdistiller's ``dkd_loss`` (cat_mask + "−1000 · gt"
  masking) re-derived in NumPy; its per-epoch warm-up, including through ``fit`` and a resumed ``fit``;
* every new key builds through ``build_method`` and back-propagates a finite loss.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from distildoc.distill import ModelOutputs, build_method, get_method
from distildoc.distill.base import DistillMethod
from distildoc.distill.dkd import PAPER_WARMUP_FRAC, dkd_warmup_weight
from distildoc.distill.losses import (
    dist_loss,
    dist_terms,
    dkd_loss,
    dkd_terms,
    kd_kl,
    logit_standardize,
    nkd_terms,
)

TOL = dict(rtol=0.0, atol=1e-6)
NEW_KEYS = ("ce_kd_ls", "nkd_ls", "dist", "dkd")


def close(a, b) -> None:
    torch.testing.assert_close(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), **TOL)


@pytest.fixture(scope="module")
def logits():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 5, generator=g, dtype=torch.float64) * 2
    t = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3 + 1
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


def _outs(s, t):
    return ModelOutputs(logits=s), ModelOutputs(logits=t)


# ----------------------------------------------------------------------------------- logit standardisation
def test_logit_standardize_matches_torchdistill_and_uses_sample_std(td, logits):
    s, _, _ = logits
    ref = td.LogitStdKDLoss(".", "output", ".", "output", temperature=2.0, alpha=0.0).standardize(s)
    close(logit_standardize(s), ref)
    z = logit_standardize(s)
    close(z.mean(dim=1), torch.zeros(6))
    close(z.std(dim=1), torch.ones(6))  # Bessel-corrected std 1 (population std would be sqrt((K-1)/K))
    # shift and positive scale invariant; hand-worked row [0, 1, 2]: mean 1, sample std 1 -> [-1, 0, 1]
    close(logit_standardize(3.0 * s + 7.0), z)
    close(logit_standardize(torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)), [[-1.0, 0.0, 1.0]])


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_standardized_kd_matches_torchdistill(td, logits, tau):
    s, t, _ = logits
    ref = td.LogitStdKDLoss(".", "output", ".", "output", temperature=tau, alpha=0.0)(_io(s), _io(t), None)
    close(kd_kl(logit_standardize(s), logit_standardize(t), tau), tau**2 * ref)


@pytest.mark.parametrize("hp", [{}, {"alpha": 0.5, "beta": 9.0, "tau": 2.0}, {"alpha": 0.1, "beta": 0.9, "tau": 4.0}])
def test_ce_kd_ls_matches_torchdistill(td, logits, hp):
    s, t, y = logits
    method = build_method("ce_kd_ls", **hp)
    full = {"alpha": 1.0, "beta": 9.0, "tau": 2.0, **hp}  # the official "KD+Ours" defaults
    assert (method.alpha, method.beta, method.tau, method.logit_standardization) == \
        (full["alpha"], full["beta"], full["tau"], True)
    ref = td.LogitStdKDLoss(".", "output", ".", "output", temperature=full["tau"], alpha=full["alpha"],
                            beta=full["beta"])(_io(s), _io(t), y)
    close(method(*_outs(s, t), y)["loss"], ref)


def test_ce_kd_flag_equals_ls_key(logits):
    s, t, y = logits
    a = build_method("ce_kd", alpha=1.0, tau=2.0, beta=9.0, logit_standardization=True)(*_outs(s, t), y)
    b = build_method("ce_kd_ls")(*_outs(s, t), y)
    assert all(torch.equal(a[k], b[k]) for k in ("ce", "kd", "loss"))


@pytest.mark.parametrize("hp", [{}, {"alpha": 0.3, "tau": 4.0}])
def test_ce_kd_without_standardization_is_unchanged(logits, hp):
    s, t, y = logits
    alpha, tau = hp.get("alpha", 0.5), hp.get("tau", 2.5)
    out = build_method("ce_kd", **hp, logit_standardization=False)(*_outs(s, t), y)
    ce, kd = F.cross_entropy(s, y), kd_kl(s, t, tau)
    assert torch.equal(out["loss"], alpha * ce + (1.0 - alpha) * kd)  # the pre-issue-14 expression, bit for bit
    assert torch.equal(out["kd"], kd)
    # beta = 1 - alpha given explicitly is the same loss
    close(build_method("ce_kd", **hp, beta=1.0 - alpha)(*_outs(s, t), y)["loss"], out["loss"])


def _old_nkd_terms(s, t, y, tau, gamma):
    """``nkd_terms`` as it was before logit standardisation was added (verbatim maths)."""
    n, k = s.shape
    log_p_s = F.log_softmax(s, dim=1)
    p_t = F.softmax(t, dim=1)
    idx = y.unsqueeze(1)
    target = -(p_t.gather(1, idx) * log_p_s.gather(1, idx)).mean()
    keep = torch.ones_like(s, dtype=torch.bool).scatter_(1, idx, False)
    log_q_s = F.log_softmax(s[keep].reshape(n, k - 1) / tau, dim=1)
    q_t = F.softmax(t[keep].reshape(n, k - 1) / tau, dim=1)
    return target, -gamma * (tau**2) * (q_t * log_q_s).sum(dim=1).mean()


@pytest.mark.parametrize("tau,gamma", [(1.0, 1.5), (2.0, 0.5)])
def test_nkd_without_standardization_is_unchanged(logits, tau, gamma):
    s, t, y = logits
    out = build_method("nkd", tau=tau, gamma=gamma, logit_standardization=False)(*_outs(s, t), y)
    target, non_target = _old_nkd_terms(s, t, y, tau, gamma)
    assert torch.equal(out["nkd_target"], target) and torch.equal(out["nkd_non_target"], non_target)
    assert torch.equal(out["loss"], target + non_target)


@pytest.mark.parametrize("tau,gamma", [(1.0, 1.5), (2.0, 0.5)])
def test_nkd_ls_standardizes_the_non_target_term_only(logits, tau, gamma):
    s, t, y = logits
    out = build_method("nkd_ls", tau=tau, gamma=gamma)(*_outs(s, t), y)
    target, _ = _old_nkd_terms(s, t, y, tau, gamma)
    _, non_target = _old_nkd_terms(logit_standardize(s), logit_standardize(t), y, tau, gamma)
    close(out["nkd_target"], target)  # raw logits: the CE stand-in
    close(out["nkd_non_target"], non_target)
    close(out["loss"], target + non_target)
    # direct definition of the non-target term on z-scores (target removed after standardising the full row)
    zs, zt = logit_standardize(s), logit_standardize(t)
    manual = 0.0
    for i in range(len(y)):
        keep = [k for k in range(5) if k != int(y[i])]
        q_t = F.softmax(zt[i, keep] / tau, dim=0)
        manual += -(q_t * F.log_softmax(zs[i, keep] / tau, dim=0)).sum()
    close(out["nkd_non_target"], gamma * tau**2 * manual / len(y))
    # the non-target term ignores the logit scale of the student
    close(nkd_terms(5.0 * s, t, y, tau, gamma, standardize=True)[1], out["nkd_non_target"])


# ------------------------------------------------------------------------------------------------- DIST
@pytest.mark.parametrize("beta,gamma,tau", [(1.0, 1.0, 1.0), (2.0, 2.0, 1.0), (1.0, 0.5, 4.0)])
def test_dist_matches_torchdistill(td, logits, beta, gamma, tau):
    s, t, y = logits
    ref = td.DISTLoss(".", "output", ".", "output", beta=beta, gamma=gamma, tau=tau)(_io(s), _io(t))
    close(dist_loss(s, t, beta=beta, gamma=gamma, tau=tau), ref)
    out = build_method("dist", beta=beta, gamma=gamma, tau=tau)(*_outs(s, t), y)
    close(out["loss"], F.cross_entropy(s, y) + ref)  # the paper's classification objective: CE + DIST


def test_dist_terms_definition(logits):
    s, t, _ = logits
    tau = 2.0
    ys, yt = F.softmax(s / tau, 1).numpy(), F.softmax(t / tau, 1).numpy()
    inter = 1 - np.mean([np.corrcoef(ys[i], yt[i])[0, 1] for i in range(ys.shape[0])])
    intra = 1 - np.mean([np.corrcoef(ys[:, k], yt[:, k])[0, 1] for k in range(ys.shape[1])])
    got = dist_terms(s, t, tau=tau)
    close(got[0], tau**2 * inter)
    close(got[1], tau**2 * intra)
    close(dist_terms(t, t, tau=tau)[0], 0.0)
    close(dist_terms(t, t, tau=tau)[1], 0.0)


def test_dist_defaults_and_single_sample_batch(logits):
    m = build_method("dist")
    assert (m.beta, m.gamma, m.tau) == (1.0, 1.0, 1.0)
    s, t, y = logits
    s1 = s[:1].clone().requires_grad_(True)
    out = m(*_outs(s1, t[:1]), y[:1])
    close(out["dist_intra"], 1.0)  # a single sample: zero-variance columns, ρ = 0
    out["loss"].backward()
    assert torch.isfinite(s1.grad).all()


# -------------------------------------------------------------------------------------------------- DKD
def _hand_2x3():
    # τ = 1, labels y = [0, 2]
    # row 1: s = [0, 0, 0]        -> p_s = [1/3, 1/3, 1/3], b_s = [1/3, 2/3], p̂_s (classes 1, 2) = [1/2, 1/2]
    #        t = [ln 2, 0, ln 3]  -> p_t = [2, 1, 3]/6,     b_t = [1/3, 2/3], p̂_t = [1/4, 3/4]
    #        TCKD_1 = 0,  NCKD_1 = 1/4 ln(1/2) + 3/4 ln(3/2)
    # row 2: s = [ln 3, 0, 0]     -> p_s = [3, 1, 1]/5,     b_s = [1/5, 4/5], p̂_s (classes 0, 1) = [3/4, 1/4]
    #        t = [0, 0, ln 2]     -> p_t = [1, 1, 2]/4,     b_t = [1/2, 1/2], p̂_t = [1/2, 1/2]
    #        TCKD_2 = 1/2 ln(5/2) + 1/2 ln(5/8),  NCKD_2 = 1/2 ln(2/3) + 1/2 ln 2
    # CE = (−ln 1/3 − ln 1/5) / 2 = (ln 3 + ln 5) / 2
    s = torch.tensor([[0.0, 0.0, 0.0], [math.log(3.0), 0.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[math.log(2.0), 0.0, math.log(3.0)], [0.0, 0.0, math.log(2.0)]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    tckd = (0.0 + 0.5 * math.log(2.5) + 0.5 * math.log(5 / 8)) / 2
    nckd = (0.25 * math.log(0.5) + 0.75 * math.log(1.5) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2.0)) / 2
    ce = (math.log(3.0) + math.log(5.0)) / 2
    return s, t, y, tckd, nckd, ce


def test_dkd_hand_worked():
    s, t, y, tckd, nckd, ce = _hand_2x3()
    got = dkd_terms(s, t, y, tau=1.0)
    close(got[0], tckd)
    close(got[1], nckd)
    close(dkd_loss(s, t, y, alpha=1.0, beta=8.0, tau=1.0), tckd + 8.0 * nckd)
    # τ scales the logits and multiplies by τ²: τ = 2 on 2·logits gives 4 × the τ = 1 terms
    got2 = dkd_terms(2 * s, 2 * t, y, tau=2.0)
    close(got2[0], 4 * tckd)
    close(got2[1], 4 * nckd)
    out = build_method("dkd", tau=1.0)(*_outs(s, t), y)  # training mode, before any epoch: w = 1
    close(out["ce"], ce)
    close(out["loss"], ce + tckd + 8.0 * nckd)
    # one-hot labels are reduced with argmax
    close(dkd_terms(s, t, F.one_hot(y, 3), tau=1.0)[1], nckd)


def _mdistiller_dkd_numpy(s: np.ndarray, t: np.ndarray, y: np.ndarray, alpha: float, beta: float, tau: float):
    """mdistiller's ``dkd_loss`` (megvii-research/mdistiller, mdistiller/distillers/DKD.py), re-derived in NumPy:
    cat_mask of the softmax for the binary distributions, and a softmax of ``z/τ − 1000·gt`` for the
    non-target ones; ``F.kl_div(..., size_average=False) · τ² / N`` is a sum over everything divided by N."""
    n, k = s.shape
    gt = np.zeros((n, k))
    gt[np.arange(n), y] = 1.0
    other = 1.0 - gt

    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def log_softmax(z):
        m = z.max(axis=1, keepdims=True)
        return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))

    def kl_sum(log_input, target):  # torch's kl_div summed: Σ target·(log target − log_input), 0·log 0 = 0
        safe = np.where(target > 0, target, 1.0)
        return float(np.sum(np.where(target > 0, target * (np.log(safe) - log_input), 0.0)))

    def cat_mask(p):
        return np.stack([(p * gt).sum(1), (p * other).sum(1)], axis=1)

    ps, pt = softmax(s / tau), softmax(t / tau)
    tckd = kl_sum(np.log(cat_mask(ps)), cat_mask(pt)) * tau**2 / n
    nckd = kl_sum(log_softmax(s / tau - 1000.0 * gt), softmax(t / tau - 1000.0 * gt)) * tau**2 / n
    return tckd, nckd, alpha * tckd + beta * nckd


@pytest.mark.parametrize("alpha,beta,tau", [(1.0, 8.0, 4.0), (0.5, 0.5, 1.0), (1.0, 2.0, 2.0)])
def test_dkd_matches_mdistiller_formula(logits, alpha, beta, tau):
    s, t, y = logits
    tckd, nckd, total = _mdistiller_dkd_numpy(s.numpy(), t.numpy(), y.numpy(), alpha, beta, tau)
    got = dkd_terms(s, t, y, tau=tau)
    close(got[0], tckd)
    close(got[1], nckd)
    close(dkd_loss(s, t, y, alpha=alpha, beta=beta, tau=tau), total)
    method = build_method("dkd", alpha=alpha, beta=beta, tau=tau)
    close(method(*_outs(s, t), y)["loss"], F.cross_entropy(s, y) + total)


def test_dkd_confident_teacher_is_finite():
    # a teacher with p_y = 1 in float32 (log(1 − p_y) = −inf in mdistiller's masked-sum formulation)
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.tensor([[200.0, 0.0, 0.0, 0.0]] * 3)
    tckd, nckd = dkd_terms(s, t, torch.zeros(3, dtype=torch.long), tau=1.0)
    (tckd + nckd).backward()
    assert torch.isfinite(tckd) and torch.isfinite(nckd) and torch.isfinite(s.grad).all()


def test_dkd_defaults():
    m = build_method("dkd")
    assert (m.alpha, m.beta, m.tau, m.warmup_epochs, m.warmup_frac) == (1.0, 8.0, 4.0, None, 20 / 240)
    assert m.warmup_frac == PAPER_WARMUP_FRAC
    assert m.warmup_weight == 1.0  # before the training loop's first call


def test_dkd_warmup_weight_schedule():
    # W = 4 epochs: w = e/4 for the 1-based epoch e (mdistiller), then 1
    assert [dkd_warmup_weight(e, 4) for e in range(7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
    # the paper's 20 of 240 epochs, through the default fraction: linear up to 1 at the 20th epoch
    m = build_method("dkd")
    ws = []
    for e in range(240):
        m.on_epoch_start(e, 240)
        ws.append(m.warmup_weight)
    assert ws[:20] == pytest.approx([(e + 1) / 20 for e in range(20)]) and ws[19] == 1.0
    assert all(w == 1.0 for w in ws[19:]) and all(a < b for a, b in zip(ws[:20], ws[1:20]))
    assert 0.0 < ws[0] <= 1 / 20 + 1e-12
    # a 20-epoch DistilDoc schedule: W = 20/12 -> 0.6, then 1; 50 epochs: W = 50/12
    m.on_epoch_start(0, 20)
    assert m.warmup_weight == pytest.approx(0.6)
    m.on_epoch_start(1, 20)
    assert m.warmup_weight == 1.0
    m.on_epoch_start(0, 50)
    assert m.warmup_weight == pytest.approx(12 / 50)
    m.on_epoch_start(0, 3)  # W = 0.25 <= 1: no warm-up on short schedules
    assert m.warmup_weight == 1.0
    # warmup_epochs wins over the fraction; 0 switches the warm-up off
    m = build_method("dkd", warmup_epochs=2)
    m.on_epoch_start(0, 240)
    assert m.warmup_weight == 0.5
    m = build_method("dkd", warmup_epochs=0)
    m.on_epoch_start(0, 240)
    assert m.warmup_weight == 1.0
    with pytest.raises(ValueError):
        build_method("dkd", warmup_epochs=-1)
    with pytest.raises(ValueError):
        build_method("dkd", warmup_frac=1.5)


def test_dkd_warmup_scales_the_kd_term_in_training_only(logits):
    s, t, y = logits
    m = build_method("dkd", warmup_epochs=4)
    m.train()
    m.on_epoch_start(0, 10)
    out = m(*_outs(s, t), y)
    close(out["loss"], out["ce"] + 0.25 * (1.0 * out["tckd"] + 8.0 * out["nckd"]))
    m.eval()  # validation losses use the full objective, comparable across epochs
    out = m(*_outs(s, t), y)
    close(out["loss"], out["ce"] + out["tckd"] + 8.0 * out["nckd"])


def test_base_hook_is_a_no_op():
    m = build_method("ce_kd")
    before = m(*_outs(torch.ones(2, 3), torch.zeros(2, 3)), torch.tensor([0, 1]))["loss"]
    m.on_epoch_start(0, 10)
    assert torch.equal(m(*_outs(torch.ones(2, 3), torch.zeros(2, 3)), torch.tensor([0, 1]))["loss"], before)


# -------------------------------------------------------------------------------- the training loop's hook
def test_fit_calls_on_epoch_start_and_again_on_resume(tmp_path):
    from distildoc.data.tensors import TensorSplit
    from distildoc.distill.ce import CrossEntropy
    from distildoc.models.classification import build_model
    from distildoc.models.registry import get_spec
    from distildoc.train.classification import TrainConfig, fit

    class Interrupt(Exception):
        pass

    class Spy(CrossEntropy):
        def __init__(self, stop_at: int | None = None) -> None:
            super().__init__()
            self.calls, self.stop_at = [], stop_at

        def on_epoch_start(self, epoch: int, epochs: int) -> None:
            assert self.training
            if epoch == self.stop_at:
                raise Interrupt
            self.calls.append((epoch, epochs))

    def split(n: int) -> TensorSplit:
        labels = torch.arange(n) % 2
        images = (torch.rand(n, 16, 16, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
        return TensorSplit(images, labels, [f"img{i}.png" for i in range(n)], [])

    spec = get_spec("ViT-T", "embedded", num_classes=2, img_size=16,
                    kwargs=dict(patch_size=8, embed_dim=8, depth=1, num_heads=1))
    cfg = TrainConfig(epochs=3, batch_size=4, lr=1e-3, progress=False)
    torch.manual_seed(0)
    spy = Spy()
    fit(build_model(spec), spy, split(4), split(4), cfg)
    assert spy.calls == [(0, 3), (1, 3), (2, 3)]
    # interrupted at the start of the 2nd epoch (checkpoint after the 1st), then resumed from the checkpoint
    spy = Spy(stop_at=1)
    with pytest.raises(Interrupt):
        fit(build_model(spec), spy, split(4), split(4), cfg, ckpt_dir=tmp_path / "ckpt")
    assert spy.calls == [(0, 3)]
    spy = Spy()
    fit(build_model(spec), spy, split(4), split(4), cfg, ckpt_dir=tmp_path / "ckpt")
    assert spy.calls == [(1, 3), (2, 3)]


# ------------------------------------------------------------------------------------ every new key builds
@pytest.mark.parametrize("key", NEW_KEYS)
@pytest.mark.parametrize("batch", [1, 4])
def test_new_keys_build_and_backpropagate(key, batch):
    cls = get_method(key)
    assert issubclass(cls, DistillMethod) and cls.key == key and cls.__doc__
    assert cls.__module__.startswith("distildoc.distill.") and cls.needs == frozenset({"logits"})
    g = torch.Generator().manual_seed(1)
    s = torch.randn(batch, 7, generator=g).requires_grad_(True)
    t = (torch.randn(batch, 7, generator=g) * 4).requires_grad_(True)
    method = build_method(key)
    method.train()
    method.on_epoch_start(0, 20)
    out = method(ModelOutputs(logits=s, embedding=torch.randn(batch, 3)), ModelOutputs(logits=t),
                 torch.randint(0, 7, (batch,), generator=g))
    assert set(out) >= {"loss"} and out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert s.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0
    assert t.grad is None  # teacher tensors are detached inside the losses
    assert torch.equal(method.predict(ModelOutputs(logits=s)), s)
    with pytest.raises(ValueError, match="needs teacher outputs"):
        method(ModelOutputs(logits=s), None, torch.zeros(batch, dtype=torch.long))


def test_new_keys_are_found_by_the_config_checks():
    from distildoc.config_checks import registered_methods
    from distildoc.distill import available_methods

    assert set(NEW_KEYS) <= registered_methods()
    assert registered_methods() == set(available_methods())
