"""Distillation methods: registry, ``needs``, loss values against torchdistill / direct formulas,
FitNet regressor rules, SimKD's frozen reused teacher head, ViT-like and ResNet-like shapes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distildoc.distill import (
    ModelDims,
    ModelOutputs,
    available_methods,
    build_method,
    get_method,
    nkd_loss,
    register_method,
    tokens_to_map,
)
from distildoc.distill import registry as registry_mod
from distildoc.distill.base import DistillMethod
from distildoc.distill.fitnet import ConvReg, FitNet
from distildoc.distill.simkd import SimKDClsMLP, SimKDCNN, SimKDIdentity

TOL = dict(rtol=0.0, atol=1e-6)
B, K = 4, 5
ALL_KEYS = {"ce", "ce_distildoc", "ce_kd", "mse", "nkd", "fitnet", "simkd_cls_mlp", "simkd_cnn", "simkd_identity"}


def close(a, b) -> None:
    torch.testing.assert_close(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), **TOL)


def rand(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def head(dim: int) -> nn.Module:
    torch.manual_seed(11)
    # dropout makes any accidental train-mode use of the reused head visible
    return nn.Sequential(nn.Dropout(0.5), nn.Linear(dim, K)).double()


@pytest.fixture()
def labels():
    return torch.tensor([0, 3, 1, 4])


@pytest.fixture()
def resnet_like():
    """ResNet-like pair: student stage maps are 2× larger and have half the channels."""
    s = ModelOutputs(logits=rand(B, K, seed=1), embedding=rand(B, 16, seed=2),
                     last_map=rand(B, 16, 8, 8, seed=3), middle_map=rand(B, 8, 8, 8, seed=4))
    t = ModelOutputs(logits=rand(B, K, seed=5) * 2, embedding=rand(B, 32, seed=6),
                     last_map=rand(B, 32, 4, 4, seed=7), middle_map=rand(B, 16, 4, 4, seed=8))
    return s, t


@pytest.fixture()
def vit_like():
    """ViT-like pair: [CLS] + 4×4 patch tokens, student width 12, teacher width 24."""
    s_tok, t_tok = rand(B, 17, 12, seed=21), rand(B, 17, 24, seed=22)
    s = ModelOutputs(logits=rand(B, K, seed=23), embedding=s_tok[:, 0], last_map=tokens_to_map(s_tok),
                     middle_map=tokens_to_map(rand(B, 17, 12, seed=24)))
    t = ModelOutputs(logits=rand(B, K, seed=25), embedding=t_tok[:, 0], last_map=tokens_to_map(t_tok),
                     middle_map=tokens_to_map(rand(B, 17, 24, seed=26)))
    return s, t


@pytest.fixture(scope="module")
def td():
    import torchdistill.losses.high_level  # noqa: F401
    import torchdistill.losses.mid_level as mid

    return mid


# ---------------------------------------------------------------------------------------- registry
def test_registry_lists_every_method():
    assert ALL_KEYS <= set(available_methods())
    assert available_methods() == sorted(available_methods())
    for key in ALL_KEYS:
        cls = get_method(key)
        assert issubclass(cls, DistillMethod) and cls.key == key
        assert cls.__doc__ and cls.__module__.startswith("distildoc.distill.")


def test_unknown_key_lists_allowed():
    with pytest.raises(KeyError) as err:
        get_method("kd_hinton")
    msg = str(err.value)
    assert "kd_hinton" in msg and "ce_kd" in msg and "simkd_cnn" in msg


def test_register_duplicate_and_idempotent():
    with pytest.raises(ValueError, match="already registered"):
        @register_method("ce")
        class Other(DistillMethod):
            def forward(self, student, teacher, labels):
                return {}

    try:
        class Dummy(DistillMethod):
            def forward(self, student, teacher, labels):
                return {}

        register_method("_test_dummy")(Dummy)
        register_method("_test_dummy")(Dummy)  # same class again: fine
        assert get_method("_test_dummy") is Dummy and Dummy.key == "_test_dummy"
    finally:
        registry_mod.METHODS.unregister("_test_dummy")
    with pytest.raises(ValueError):
        register_method("")


@pytest.mark.parametrize(
    "key, needs, uses_head",
    [
        ("ce", set(), False),
        ("ce_distildoc", {"logits"}, False),
        ("ce_kd", {"logits"}, False),
        ("mse", {"logits"}, False),
        ("nkd", {"logits"}, False),
        ("fitnet", {"middle_map"}, False),
        ("simkd_cls_mlp", {"embedding"}, True),
        ("simkd_cnn", {"last_map"}, True),
        ("simkd_identity", {"last_map"}, True),
    ],
)
def test_needs(key, needs, uses_head):
    cls = get_method(key)
    assert set(cls.needs) == needs
    assert cls.uses_teacher_head is uses_head
    assert set(cls.predict_needs) <= set(cls.student_needs) | {"logits"}


def test_defaults_are_the_papers():
    assert (get_method("ce_kd")().tau, get_method("ce_kd")().alpha) == (2.5, 0.5)
    assert (get_method("ce_distildoc")().tau, get_method("ce_distildoc")().alpha) == (1.0, 0.5)
    assert (get_method("nkd")().tau, get_method("nkd")().gamma) == (1.0, 1.5)
    fit = get_method("fitnet")(8, 16)
    assert (fit.hint_weight, fit.ce_weight) == (1.0, 1.0)


# ------------------------------------------------------------------------------------ logit methods
def test_ce(resnet_like, labels):
    s, _ = resnet_like
    m = get_method("ce")()
    out = m(s, None, labels)
    close(out["loss"], F.cross_entropy(s.logits, labels))
    assert set(out) == {"ce", "loss"}
    assert m.predict(ModelOutputs(logits=s.logits)) is s.logits


@pytest.mark.parametrize("key, tau", [("ce_kd", 2.5), ("ce_distildoc", 1.0)])
def test_ce_kd_matches_torchdistill(td, resnet_like, labels, key, tau):
    s, t = resnet_like
    ref = td.KDLoss(".", "output", ".", "output", temperature=tau, alpha=0.5)(
        {".": {"output": s.logits}}, {".": {"output": t.logits}}, labels
    )
    out = get_method(key)()(s, t, labels)
    assert set(out) == {"ce", "kd", "loss"}
    close(out["loss"], ref)
    close(out["loss"], 0.5 * out["ce"] + 0.5 * out["kd"])


def test_mse_method_matches_torchdistill(td, resnet_like, labels):
    s, t = resnet_like
    from torchdistill.losses.registry import get_mid_level_loss

    wrapper = {"key": "SimpleLossWrapper", "kwargs": {
        "input": {"is_from_teacher": False, "module_path": ".", "io": "output"},
        "target": {"is_from_teacher": True, "module_path": ".", "io": "output"}}}
    ref = get_mid_level_loss({"key": "MSELoss", "kwargs": {}}, wrapper)(
        {".": {"output": s.logits}}, {".": {"output": t.logits}}, None)
    out = get_method("mse")()(s, t, labels)
    close(out["loss"], ref)
    close(get_method("mse")()(s, t, labels.flip(0))["loss"], ref)  # labels unused


def test_nkd_method(resnet_like, labels):
    s, t = resnet_like
    out = get_method("nkd")(tau=2.0, gamma=1.0)(s, t, labels)
    close(out["loss"], nkd_loss(s.logits, t.logits, labels, tau=2.0, gamma=1.0))
    close(out["loss"], out["nkd_target"] + out["nkd_non_target"])


@pytest.mark.parametrize("key", ["ce_kd", "ce_distildoc", "mse", "nkd"])
def test_teacher_required(resnet_like, labels, key):
    s, _ = resnet_like
    with pytest.raises(ValueError, match="teacher"):
        get_method(key)()(s, None, labels)
    with pytest.raises(ValueError, match="logits"):
        get_method(key)()(s, ModelOutputs(embedding=s.embedding), labels)


# ------------------------------------------------------------------------------------------ FitNet
@pytest.mark.parametrize(
    "s_hw, t_hw, kernel, stride, padding, mode",
    [(4, 4, 1, 1, 0, "1x1"), (8, 4, 3, 2, 1, "stride2"), (6, 4, 3, 1, 0, "shrink")],
)
def test_fitnet_matches_torchdistill(td, labels, s_hw, t_hw, kernel, stride, padding, mode):
    from torchdistill.losses.high_level import WeightedSumLoss
    from torchdistill.models.adaptation import ConvReg as TDConvReg

    s_map, t_map = rand(B, 6, s_hw, s_hw, seed=31), rand(B, 10, t_hw, t_hw, seed=32)
    logits = rand(B, K, seed=33)
    torch.manual_seed(0)
    method = FitNet(6, 10, s_hw, t_hw).double().train()
    assert method.regressor.mode == mode
    ref_reg = TDConvReg(6, 10, kernel, stride, padding).double().train()
    ref_reg.load_state_dict(method.regressor.state_dict())  # same weights, torchdistill's module

    def wrapper(inp, tgt):
        return {"key": "SimpleLossWrapper", "kwargs": {"input": inp, "target": tgt}}

    crit = WeightedSumLoss(sub_terms={
        "ce": {"criterion": {"key": "CrossEntropyLoss", "kwargs": {"reduction": "mean"}},
               "criterion_wrapper": wrapper({"is_from_teacher": False, "module_path": ".", "io": "output"},
                                            {"uses_label": True}),
               "weight": 1.0},
        "fitnet": {"criterion": {"key": "MSELoss", "kwargs": {"reduction": "mean"}},
                   "criterion_wrapper": wrapper({"is_from_teacher": False, "module_path": "regressor", "io": "output"},
                                                {"is_from_teacher": True, "module_path": "hint", "io": "output"}),
                   "weight": 1.0},
    })
    io = {"student": {".": {"output": logits}, "regressor": {"output": ref_reg(s_map)}},
          "teacher": {"hint": {"output": t_map}}}
    ref = crit(io, {}, labels)
    out = method(ModelOutputs(logits=logits, middle_map=s_map), ModelOutputs(middle_map=t_map), labels)
    assert set(out) == {"hint", "ce", "loss"}
    close(out["loss"], ref)


def test_convreg_rules_and_shapes():
    cases = [((4, 4), (4, 4), "1x1"), ((8, 8), (4, 4), "stride2"), ((2, 2), (4, 4), "transpose2"),
             ((7, 6), (4, 4), "shrink"), ((3, 3), (5, 5), "pool_teacher")]
    for s_hw, t_hw, mode in cases:
        reg = ConvReg(6, 10, s_hw, t_hw).double()
        assert reg.mode == mode
        y = reg(rand(2, 6, *s_hw, seed=40))
        target = reg.align_target(rand(2, 10, *t_hw, seed=41))
        assert y.shape == target.shape
        assert (y >= 0).all()  # conv + BN + ReLU
    assert isinstance(ConvReg(6, 10, 2, 4).conv, nn.ConvTranspose2d)
    assert ConvReg(6, 10).conv.kernel_size == (1, 1)
    with pytest.raises(ValueError):
        ConvReg(6, 10, (4, 4), None)


def test_fitnet_resnet_and_vit_like(resnet_like, vit_like, labels):
    for (s, t) in (resnet_like, vit_like):
        dims_s, dims_t = ModelDims.from_outputs(s), ModelDims.from_outputs(t)
        m = build_method("fitnet", dims_s, dims_t).double()
        out = m(s, t, labels)
        out["loss"].backward()
        assert all(p.grad is not None for p in m.parameters())
        assert m.predict(ModelOutputs(logits=s.logits)) is s.logits  # regressor is training-only
    s, t = resnet_like
    m = FitNet(8, 16, 8, 4).double()
    with pytest.raises(ValueError, match="regressor built for"):
        m(s, ModelOutputs(middle_map=rand(B, 16, 2, 2, seed=9)), labels)
    with pytest.raises(ValueError, match=r"\[B, 8, H, W\]"):
        m(ModelOutputs(logits=s.logits, middle_map=rand(B, 3, 8, 8, seed=9)), t, labels)


# ------------------------------------------------------------------------------------------- SimKD
def _optimiser_step(method, s, t, labels):
    head_before = copy.deepcopy(method.teacher_head.state_dict())
    proj_before = copy.deepcopy(method.projector.state_dict()) if hasattr(method, "projector") else None
    opt = torch.optim.SGD(method.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    method.train()
    for _ in range(2):
        opt.zero_grad()
        method(s, t, labels)["loss"].backward()
        opt.step()
    for name, value in method.teacher_head.state_dict().items():
        assert torch.equal(value, head_before[name]), f"teacher head {name} changed"
    assert all(not p.requires_grad and p.grad is None for p in method.teacher_head.parameters())
    assert not method.teacher_head.training and method.training
    return proj_before


def test_simkd_cls_mlp(vit_like, labels):
    s, t = vit_like
    original = head(24)
    m = SimKDClsMLP(12, 24, original).double()
    linears = [mod for mod in m.projector if isinstance(mod, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(12, 6), (6, 6), (6, 24)]
    assert [type(mod) for mod in m.projector] == [nn.Linear, nn.ReLU] * 3
    assert m.teacher_head is not original and m.teacher_head[1].weight is not original[1].weight
    assert original[1].weight.requires_grad  # the caller's module is untouched

    out = m(s, t, labels)
    z = m.projector(s.embedding)
    close(out["loss"], F.mse_loss(z, t.embedding))
    assert set(out) == {"simkd", "loss"}
    student_only = ModelOutputs(embedding=s.embedding)
    logits = m.predict(student_only)
    close(logits, original.eval()(z))  # frozen teacher head on the projected embedding
    close(m.forward_and_predict(s, t, labels)[1], logits)

    proj_before = _optimiser_step(m, s, t, labels)
    assert any(not torch.equal(v, proj_before[k]) for k, v in m.projector.state_dict().items())
    assert {id(p) for p in m.trainable_parameters()} == {id(p) for p in m.projector.parameters()}


def test_simkd_cnn_resnet_like(resnet_like, labels):
    s, t = resnet_like  # student 16×8×8, teacher 32×4×4
    m = SimKDCNN(16, 32, head(32)).double().train()
    convs = [mod for mod in m.projector if isinstance(mod, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding, c.bias) for c in convs] == [
        (16, 16, (1, 1), (0, 0), None), (16, 16, (3, 3), (1, 1), None), (16, 32, (1, 1), (0, 0), None)]
    assert [type(mod).__name__ for mod in m.projector] == ["Conv2d", "BatchNorm2d", "ReLU"] * 3

    out = m(s, t, labels)
    assert m.teacher_hw.tolist() == [4, 4]  # recorded for teacher-free inference
    m.eval()
    z = m.projector(F.adaptive_avg_pool2d(s.last_map, (4, 4)))  # student pooled to the teacher's size
    close(m(s, t, labels)["loss"], F.mse_loss(z, t.last_map))
    logits = m.predict(ModelOutputs(last_map=s.last_map))
    close(logits, m.teacher_head(z.mean(dim=(2, 3))))
    close(m.forward_and_predict(s, t, labels)[1], logits)
    assert torch.isfinite(out["loss"])

    # the state dict carries projector, frozen head and teacher size: a fresh method predicts the same
    fresh = SimKDCNN(16, 32, nn.Sequential(nn.Dropout(0.5), nn.Linear(32, K))).double().eval()
    fresh.load_state_dict(m.state_dict())
    close(fresh.predict(ModelOutputs(last_map=s.last_map)), logits)

    proj_before = _optimiser_step(m, s, t, labels)
    assert any(not torch.equal(v, proj_before[k]) for k, v in m.projector.state_dict().items())


def test_simkd_cnn_student_smaller_pools_teacher(labels):
    s_map, t_map = rand(B, 8, 4, 4, seed=51), rand(B, 16, 8, 8, seed=52)
    m = SimKDCNN(8, 16, head(16)).double().eval()
    out = m(ModelOutputs(last_map=s_map), ModelOutputs(last_map=t_map), labels)
    close(out["loss"], F.mse_loss(m.projector(s_map), F.adaptive_avg_pool2d(t_map, (4, 4))))
    close(m.predict(ModelOutputs(last_map=s_map)), m.teacher_head(m.projector(s_map).mean(dim=(2, 3))))


def test_simkd_cnn_vit_like(vit_like, labels):
    s, t = vit_like  # 12×4×4 -> 24×4×4
    m = build_method("simkd_cnn", ModelDims.from_outputs(s), ModelDims.from_outputs(t), head(24)).double()
    assert m.teacher_hw.tolist() == [4, 4]
    logits_before_training = m.eval().predict(ModelOutputs(last_map=s.last_map))
    assert logits_before_training.shape == (B, K)
    m.train()
    out = m(s, t, labels)
    assert m.projector(s.last_map).shape == t.last_map.shape
    proj_before = _optimiser_step(m, s, t, labels)
    assert any(not torch.equal(v, proj_before[k]) for k, v in m.projector.state_dict().items())
    assert torch.isfinite(out["loss"])


def test_simkd_identity(labels):
    with pytest.raises(ValueError) as err:
        SimKDIdentity(16, 32, head(32))
    assert "16" in str(err.value) and "32" in str(err.value)
    with pytest.raises(ValueError, match="teacher_head"):
        SimKDIdentity(16, 16, None)

    s_map, t_map = rand(B, 16, 4, 4, seed=61), rand(B, 16, 4, 4, seed=62)
    original = head(16)
    m = SimKDIdentity(16, 16, original).double()
    out = m(ModelOutputs(last_map=s_map), ModelOutputs(last_map=t_map), labels)
    close(out["loss"], F.mse_loss(s_map, t_map))
    close(m.predict(ModelOutputs(last_map=s_map)), original.eval()(s_map.mean(dim=(2, 3))))
    assert list(m.trainable_parameters()) == []
    # the student map is what learns: gradient reaches it, not the head
    s_req = s_map.clone().requires_grad_(True)
    m(ModelOutputs(last_map=s_req), ModelOutputs(last_map=t_map), labels)["loss"].backward()
    assert s_req.grad is not None
    assert all(p.grad is None for p in m.teacher_head.parameters())


def test_simkd_head_stays_frozen_after_requires_grad(vit_like, labels):
    s, t = vit_like
    m = SimKDClsMLP(12, 24, head(24)).double()
    m.requires_grad_(True)  # a careless caller
    m.train()
    m(s, t, labels)
    m.predict(ModelOutputs(embedding=s.embedding))
    assert all(not p.requires_grad for p in m.teacher_head.parameters())
    assert not m.teacher_head.training


def test_simkd_needs_head_and_dims():
    with pytest.raises(ValueError, match="teacher_head"):
        build_method("simkd_cnn", ModelDims(last_channels=8), ModelDims(last_channels=16), None)
    with pytest.raises(ValueError, match="embed_dim"):
        build_method("simkd_cls_mlp", ModelDims(), ModelDims(embed_dim=4), head(4))


# ------------------------------------------------------------------------------------ all methods
@pytest.mark.parametrize("key", sorted(ALL_KEYS))
@pytest.mark.parametrize("pair", ["resnet_like", "vit_like"])
def test_every_method_builds_trains_and_predicts_from_student_only(request, key, pair, labels):
    s, t = request.getfixturevalue(pair)
    dims_s, dims_t = ModelDims.from_outputs(s), ModelDims.from_outputs(t)
    if key == "simkd_identity":  # needs equal channels: use the teacher's own map as a "student"
        s = ModelOutputs(logits=s.logits, last_map=t.last_map + 0.1)
        dims_s = ModelDims.from_outputs(s)
    h = head(dims_t.embed_dim) if get_method(key).uses_teacher_head else None
    m = build_method(key, dims_s, dims_t, h).double().train()
    teacher = None if not m.needs else ModelOutputs(**{n: getattr(t, n) for n in m.needs})
    out = m(s, teacher, labels)
    assert "loss" in out and out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    m.eval()
    student_only = ModelOutputs(**{n: getattr(s, n) for n in m.predict_needs})
    logits = m.predict(student_only)
    assert logits.shape == (B, K)


# ----------------------------------------------------------------------------------------- helpers
def test_tokens_to_map_layout():
    tok = torch.arange(2 * 7 * 3, dtype=torch.float64).reshape(2, 7, 3)  # 1 prefix + 2×3 patches
    fmap = tokens_to_map(tok, num_prefix_tokens=1, grid=(2, 3))
    assert fmap.shape == (2, 3, 2, 3)
    for r in range(2):
        for c in range(3):
            assert torch.equal(fmap[:, :, r, c], tok[:, 1 + r * 3 + c, :])
    assert tokens_to_map(rand(1, 197, 8, seed=1)).shape == (1, 8, 14, 14)  # ViT-B/16 at 224
    with pytest.raises(ValueError, match="square"):
        tokens_to_map(rand(1, 7, 8, seed=1))


def test_model_outputs_and_dims(resnet_like):
    s, _ = resnet_like
    with pytest.raises(ValueError, match="'middle_map'"):
        ModelOutputs(logits=s.logits).require("middle_map", who="x", role="student")
    dims = ModelDims.from_outputs(s)
    assert dims == ModelDims(num_classes=K, embed_dim=16, last_channels=16, last_hw=(8, 8),
                             middle_channels=8, middle_hw=(8, 8))
    req = ModelOutputs(logits=s.logits.clone().requires_grad_(True))
    assert not req.detach().logits.requires_grad and req.detach().embedding is None


def test_methods_accept_the_models_package_outputs(resnet_like, labels):
    """Methods are duck-typed: ``distildoc.models.outputs.ModelOutputs`` (same fields) works too."""
    other = pytest.importorskip("distildoc.models.outputs")
    s, t = resnet_like
    s2 = other.ModelOutputs(logits=s.logits, embedding=s.embedding, last_map=s.last_map, middle_map=s.middle_map)
    t2 = other.ModelOutputs(logits=t.logits, embedding=t.embedding, last_map=t.last_map, middle_map=t.middle_map)
    dims_s, dims_t = ModelDims.from_outputs(s2), ModelDims.from_outputs(t2)
    assert dims_s == ModelDims.from_outputs(s)
    for key in sorted(ALL_KEYS - {"simkd_identity"}):
        h = head(dims_t.embed_dim) if get_method(key).uses_teacher_head else None
        m = build_method(key, dims_s, dims_t, h).double()
        ours = m(s, t, labels)["loss"]
        close(m(s2, t2, labels)["loss"], ours)
        m.eval()
        close(m.predict(s2), m.predict(s))
