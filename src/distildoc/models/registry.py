"""Role presets: which concrete architecture plays each teacher / student role.

- :data:`PAPER_ARCHS`: the paper's Hugging Face checkpoints at 224 px (teachers fine-tuned on RVL-CDIP;
  students ImageNet-pretrained, their 1000-class head re-initialised to 16 classes).
- :data:`EMBEDDED_ARCHS`: CPU-scaled timm models for the embedded benchmark (96 px input, random init).
  Each keeps its role's family and layout — the timm entry point of the real architecture with reduced
  width/depth, so e.g. the DiT-B stand-in is a BEiT (relative position bias, layer scale, mean pooling
  with fc_norm) — and the size ordering ViT-B > ViT-S > ViT-T, R101 > R50. Patch 16 at 96 px gives a
  6×6 token grid (patch 8 measured 4× the cost). The two ResNets share their stage widths, hence the
  stage-4 channel count (512; 2048 in the real R50/R101), which ``simkd_identity`` needs for R101→R50;
  as in the real pair, the R101 stand-in is deeper, most of all in stage 3.

Measured on this project's 2-core CPU (96 px, batch 32, ``torch.set_num_threads(1)``; forward = eval,
no_grad, all four features; train = forward + backward of the logits), per image:

    role   params   forward   train    (ResNets with channels_last: forward / train)
    ViT-B  2.83 M   3.3 ms    9.2 ms
    DiT-B  2.82 M   2.9 ms    8.8 ms
    R101   1.18 M   2.7 ms    7.8 ms   (1.5 / 5.6 ms)
    ViT-S  0.90 M   0.9 ms    2.8 ms
    ViT-T  0.53 M   0.6 ms    1.7 ms
    R50    0.59 M   2.2 ms    6.1 ms   (1.1 / 3.4 ms)

The ResNets' time is mostly the fixed 64-channel stem and its max-pool at 48×48 (PyTorch's CPU
max-pool is slow in NCHW); ``model.to(memory_format=torch.channels_last)`` plus channels_last inputs
halves it (same outputs up to float rounding).
"""

from __future__ import annotations

import copy
from typing import Any

from .classification import ROLES, ModelSpec

#: RVL-CDIP's class count, the head size of every preset
NUM_CLASSES = 16
EMBEDDED_IMG_SIZE = 96
PAPER_IMG_SIZE = 224

# stage widths (Bottleneck expansion 4 -> 64/128/256/512 channels out); the standard 7×7 stem keeps its
# fixed 64 channels (timm ignores stem_width for it), as in the real ResNets
_RESNET_EMBEDDED_WIDTHS = dict(channels=(16, 32, 64, 128))


def _embedded(role: str, name: str, **kwargs: Any) -> ModelSpec:
    return ModelSpec(role=role, source="timm", name=name, pretrained=False, num_classes=NUM_CLASSES,
                     img_size=EMBEDDED_IMG_SIZE, in_chans=3, kwargs=kwargs)


EMBEDDED_ARCHS: dict[str, ModelSpec] = {
    # teachers
    "ViT-B": _embedded("ViT-B", "vit_base_patch16_224", patch_size=16, embed_dim=192, depth=6, num_heads=3),
    # timm's BEiT scales its head's initial weights by 1e-3 (``head_init_scale``, meant for fine-tuning a
    # pre-trained trunk); from scratch that starves the trunk of gradient and the teacher stayed at
    # chance (0.081 test accuracy after 8 epochs vs 0.252 with a unit scale), so the stand-in uses 1.0
    "DiT-B": _embedded("DiT-B", "beit_base_patch16_224", patch_size=16, embed_dim=192, depth=6, num_heads=3,
                       head_init_scale=1.0),
    "R101": _embedded("R101", "resnet101", layers=(2, 2, 6, 2), **_RESNET_EMBEDDED_WIDTHS),
    # students
    "ViT-S": _embedded("ViT-S", "vit_small_patch16_224", patch_size=16, embed_dim=128, depth=4, num_heads=2),
    "ViT-T": _embedded("ViT-T", "vit_tiny_patch16_224", patch_size=16, embed_dim=96, depth=4, num_heads=2),
    "R50": _embedded("R50", "resnet50", layers=(1, 1, 2, 1), **_RESNET_EMBEDDED_WIDTHS),
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


def get_spec(role: str, preset: str = "embedded", **overrides: Any) -> ModelSpec:
    """The spec of `role` in an architecture preset (``"embedded"`` or ``"paper"``), with field
    overrides (e.g. ``pretrained=False``, ``num_classes=10``, ``kwargs={...}``)."""
    if preset not in ARCH_PRESETS:
        raise ValueError(f"unknown architecture preset {preset!r}; allowed values: {', '.join(ARCH_PRESETS)}")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; allowed values: {', '.join(ROLES)}")
    spec = ARCH_PRESETS[preset][role]
    changes = {"kwargs": copy.deepcopy(dict(spec.kwargs))}
    changes.update(overrides)
    return spec.replace(**changes)
