"""PKD (Cao et al., NeurIPS 2022) for the layout detectors: the loss against an independent numpy Pearson
correlation and a hand-worked example, and the method on tiny detectors (CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distildoc.distill.detection import PKDDet, available_methods, build_method
from distildoc.distill.losses import channel_standardize, pkd_loss
from distildoc.models.detection import FPN_KEYS, build_detector, transform_images

torch.set_num_threads(1)
from detection_helpers import tiny_spec  # noqa: E402
from test_detection_distill import ToySet  # noqa: E402


def _pearson_reference(s: np.ndarray, t: np.ndarray) -> float:
    """½·MSE of per-channel standardised maps = mean over channels of (1 − r_c)·(n−1)/n, where r_c is the
    Pearson correlation (numpy.corrcoef) of channel c over all (N, H, W) positions, n = N·H·W: the sample
    std of mmrazor's norm() divides by n−1, the MSE by n."""
    c = s.shape[1]
    xs = s.transpose(1, 0, 2, 3).reshape(c, -1)
    xt = t.transpose(1, 0, 2, 3).reshape(c, -1)
    n = xs.shape[1]
    r = np.array([np.corrcoef(xs[k], xt[k])[0, 1] for k in range(c)])
    return float(np.mean(1.0 - r) * (n - 1) / n)


def test_pkd_loss_is_one_minus_pearson_per_channel():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64)
    s = 0.6 * t + 0.4 * torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) * 3.0 + 7.0
    ref = _pearson_reference(s.numpy(), t.numpy())
    assert pkd_loss(s, t, eps=0.0).item() == pytest.approx(ref, abs=1e-12)
    # magnitude and offset of either map do not matter (standardised), only the correlation
    assert pkd_loss(5.0 * s - 2.0, 0.1 * t + 3.0, eps=0.0).item() == pytest.approx(ref, abs=1e-12)
    # identical maps (up to scale): 0; anti-correlated: (n−1)/n · 2
    assert pkd_loss(3.0 * t, t, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    n = 2 * 4 * 5
    assert pkd_loss(-t, t, eps=0.0).item() == pytest.approx(2.0 * (n - 1) / n, abs=1e-12)


def test_pkd_loss_hand_worked():
    # one channel, positions (1, 2, 3) vs (1, 3, 2): means 2, sample stds 1, standardised (-1, 0, 1) and
    # (-1, 1, 0); squared differences (0, 1, 1): MSE 2/3, PKD = ½ · 2/3 = 1/3
    s = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 1, 3)
    t = torch.tensor([1.0, 3.0, 2.0]).view(1, 1, 1, 3)
    assert channel_standardize(s, eps=0.0).flatten().tolist() == pytest.approx([-1.0, 0.0, 1.0])
    assert pkd_loss(s, t, eps=0.0).item() == pytest.approx(1.0 / 3.0, abs=1e-7)


def test_pkd_loss_resizes_the_teacher_and_checks_channels():
    s = torch.randn(1, 2, 4, 4)
    t = torch.randn(1, 2, 8, 8)
    t_small = torch.nn.functional.interpolate(t, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(pkd_loss(s, t), pkd_loss(s, t_small))
    with pytest.raises(ValueError, match=r"differ in batch or channels"):
        pkd_loss(s, torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected \[N, C, H, W\]"):
        channel_standardize(torch.randn(2, 3))
    # the teacher is detached inside the loss
    s.requires_grad_(True)
    t.requires_grad_(True)
    pkd_loss(s, t).backward()
    assert s.grad is not None and t.grad is None


def test_pkd_method_on_tiny_detectors():
    assert "pkd" in available_methods()
    torch.manual_seed(0)
    teacher = build_detector(tiny_spec("R101-FPN"))
    torch.manual_seed(1)
    student = build_detector(tiny_spec("R50-FPN"))
    method = build_method("pkd", student, teacher)
    assert isinstance(method, PKDDet) and method.loss_weight == 6.0 and method.levels == tuple(FPN_KEYS[:4])
    method.prepare(student, teacher)
    student.train()
    items = ToySet(2).items
    images, targets = [it[0] for it in items], [it[1] for it in items]
    torch.manual_seed(5)
    losses = method(student, teacher, images, targets)
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg",
            "pkd_p2", "pkd_p5", "pkd"} <= set(losses) and "pkd_p6" not in losses
    image_list, _ = transform_images(student, images, targets)
    with torch.no_grad():
        s, t = student.backbone(image_list.tensors), teacher.backbone(image_list.tensors)
        ref = 6.0 * sum(pkd_loss(s[k], t[k]) for k in FPN_KEYS[:4])
    assert torch.allclose(losses["pkd"], ref, rtol=1e-5)
    det = sum(v for k, v in losses.items() if k.startswith("loss_"))
    assert torch.allclose(losses["loss"], det + losses["pkd"], rtol=1e-6)
    losses["loss"].backward()
    assert any(p.grad is not None for p in student.backbone.parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_pkd_rejects_bad_settings():
    with pytest.raises(ValueError, match="loss_weight must be >= 0"):
        PKDDet(loss_weight=-1.0)
    with pytest.raises(ValueError, match="levels must be a non-empty subset"):
        PKDDet(levels=("p9",))
