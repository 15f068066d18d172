"""Tiny detector specs shared by the detection tests (128 px, FPN 32)."""

from __future__ import annotations

from distildoc.models.detection import DetectorSpec, detector_spec

SIZE = 128


def tiny_spec(role: str, **overrides) -> DetectorSpec:
    """The embedded preset of ``role`` shrunk to 128 px / FPN 32 for tests."""
    spec = detector_spec(role, "embedded")
    common = dict(fpn_channels=32, box_head_dim=64, mask_channels=16, rpn_pre_nms_top_n_train=100,
                  rpn_post_nms_top_n_train=50, rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50,
                  box_batch_size_per_image=32, detections_per_img=10)
    if spec.arch == "resnet":
        layers = (1, 1, 2, 1) if role.startswith("R101") else (1, 1, 1, 1)
        common.update(backbone_kwargs=dict(layers=layers, channels=(8, 16, 32, 64)), min_size=SIZE, max_size=192)
    elif spec.arch == "efficientnet":
        # the real EfficientNet-Lite with its ImageNet weights (they fix the widths): only the input is small
        common.update(min_size=SIZE, max_size=192)
    else:
        dim = 48 if role.startswith("ViT-B") else 32
        common.update(backbone_kwargs=dict(img_size=SIZE, embed_dim=dim, depth=4, num_heads=2),
                      min_size=SIZE, max_size=SIZE, fixed_size=(SIZE, SIZE))
    common.update(overrides)
    return spec.replace(**common)
