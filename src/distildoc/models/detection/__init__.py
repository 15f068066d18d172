"""Mask R-CNN layout detectors (DLA) with ResNet-, EfficientNet- and ViT-FPN backbones, by role and preset.

    from distildoc.models.detection import detector_spec, build_detector, fpn_features
    model = build_detector(detector_spec("R50-FPN", preset="embedded"))
    feats = fpn_features(model, images)          # OrderedDict '0','1','2','3','pool' = P2..P6
"""

from .backbones import (
    FPN_KEYS,
    FPN_STRIDES,
    EfficientNetFPNBackbone,
    FPNBackbone,
    ResNetFPNBackbone,
    SimplePyramid,
    ViTFPNBackbone,
    vit_tap_blocks,
)
from .maskrcnn import (
    DETECTOR_PRESETS,
    DETECTOR_ROLES,
    EMBEDDED_DETECTORS,
    PAPER_DETECTORS,
    STUDENT_DETECTORS,
    TEACHER_DETECTORS,
    DetectorSpec,
    build_backbone,
    build_detector,
    check_same_transform,
    detection_losses,
    detector_spec,
    final_image_size,
    fpn_features,
    transform_images,
)

__all__ = [
    "FPN_KEYS", "FPN_STRIDES", "EfficientNetFPNBackbone", "FPNBackbone", "ResNetFPNBackbone", "SimplePyramid",
    "ViTFPNBackbone",
    "vit_tap_blocks", "DETECTOR_PRESETS", "DETECTOR_ROLES", "EMBEDDED_DETECTORS", "PAPER_DETECTORS",
    "STUDENT_DETECTORS", "TEACHER_DETECTORS", "DetectorSpec", "build_backbone", "build_detector",
    "check_same_transform", "detection_losses", "detector_spec", "final_image_size", "fpn_features",
    "transform_images",
]
