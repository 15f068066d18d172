"""Detection KD: registry, SimKD-FPN (reused frozen teacher heads), ReviewKD (ABF + HCL), resume (CPU, tiny)."""

from __future__ import annotations

import copy

import pytest
import torch

from distildoc.distill import available_methods as classification_methods
from distildoc.distill.detection import (
    ABF,
    ReviewFusion,
    ReviewKDDet,
    SimKDFPN,
    available_methods,
    build_method,
    get_method,
    init_fpn_from_teacher,
)
from distildoc.distill.losses import feature_mse, hcl_loss
from distildoc.models.detection import FPN_KEYS, build_detector, detector_spec, fpn_features, transform_images
from distildoc.train.detection import DetectionTrainConfig, train_detector

torch.set_num_threads(1)
from detection_helpers import SIZE, tiny_spec  # noqa: E402




class ToySet:
    """Four 160×128 pages with two boxes each (labels in 1..11), as (float image, target) items."""

    def __init__(self, n: int = 4) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = []
        for i in range(n):
            img = torch.rand(3, 160, 128, generator=g) * 0.2 + 0.8
            boxes = torch.tensor([[10.0 + i, 10, 90, 40], [20, 60 + i, 110, 150]])
            masks = torch.zeros(2, 160, 128, dtype=torch.uint8)
            for k, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
                masks[k, y1:y2, x1:x2] = 1
                img[:, y1:y2, x1:x2] *= 0.3
            self.items.append((img, {"boxes": boxes, "labels": torch.tensor([10, 1 + i]), "masks": masks,
                                     "image_id": i}))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _pair(student_role="R50-FPN", teacher_role="R101-FPN"):
    torch.manual_seed(0)
    teacher = build_detector(tiny_spec(teacher_role))
    torch.manual_seed(1)
    student = build_detector(tiny_spec(student_role))
    return student, teacher


def test_registry_is_separate():
    assert available_methods() == ["pkd", "reviewkd", "simkd_fpn"]
    assert get_method("simkd_fpn") is SimKDFPN and get_method("reviewkd") is ReviewKDDet
    assert not {"simkd_fpn", "reviewkd"} & set(classification_methods())
    with pytest.raises(KeyError, match="allowed: pkd, reviewkd, simkd_fpn"):
        get_method("fitnet")


def test_simkd_teacher_heads_stay_bit_identical_after_training():
    student, teacher = _pair()
    teacher_state = copy.deepcopy(teacher.state_dict())
    student_backbone_before = copy.deepcopy(student.backbone.body.state_dict())
    method = build_method("simkd_fpn", student, teacher, with_detection_loss=True)
    cfg = DetectionTrainConfig(iterations=2, batch_size=2, lr=0.05, progress=False, log_every=1)
    result = train_detector(student, ToySet(), cfg, method=method, teacher=teacher)
    assert result["completed"] and len(result["history"]) == 2
    # FPN lateral inputs: EfficientNet-Lite2 24/48/120/352 vs Lite0 24/40/112/320 channels, so the P3-P5 lateral
    # 1x1 convs (weight and bias) keep their own init and the rest (P2 lateral, 3x3 output convs) is the teacher's
    skipped = result["fpn_init"]["skipped"]
    assert [n.split(":")[0] for n in skipped] == [f"inner_blocks.{i}.0.{t}" for i in (1, 2, 3)
                                                  for t in ("weight", "bias")], skipped
    assert len(result["fpn_init"]["copied"]) == 10
    for head in ("rpn", "roi_heads"):
        s_head, t_head = getattr(student, head), getattr(teacher, head)
        assert s_head is not t_head
        assert not s_head.training
        assert all(not p.requires_grad for p in s_head.parameters())
        s_state, t_state = s_head.state_dict(), t_head.state_dict()
        assert s_state.keys() == t_state.keys()
        assert all(torch.equal(s_state[k], t_state[k]) for k in s_state)
        assert all(torch.equal(s_state[k], teacher_state[f"{head}.{k}"]) for k in s_state)
    # the teacher did not move at all, the student backbone did
    assert all(torch.equal(v, teacher_state[k]) for k, v in teacher.state_dict().items())
    after = student.backbone.body.state_dict()
    assert any(not torch.equal(after[k], v) for k, v in student_backbone_before.items())
    assert any("loss_classifier" in r and "simkd_p2" in r for r in result["history"])


def test_simkd_loss_is_sum_of_level_mses_and_distill_only_by_default():
    student, teacher = _pair()
    method = SimKDFPN()
    method.prepare(student, teacher)
    student.train()
    images = [item[0] for item in ToySet(2).items]
    torch.manual_seed(3)
    losses = method(student, teacher, images, None)
    assert "loss_classifier" not in losses
    # recompute on the same transformed batch (student still in train mode: BN uses batch statistics)
    with torch.no_grad():
        image_list, _ = transform_images(student, images)
        s = fpn_features(student, image_list)
        t = fpn_features(teacher, image_list)
    manual = sum(feature_mse(s[k], t[k]) for k in FPN_KEYS)
    assert torch.allclose(losses["simkd"], manual, rtol=1e-5, atol=1e-7)
    assert torch.allclose(losses["loss"], manual, rtol=1e-5, atol=1e-7)
    assert torch.allclose(losses["simkd_p2"], feature_mse(s["0"], t["0"]), rtol=1e-5)


def test_fpn_init_copies_only_matching_shapes():
    student, teacher = _pair("ViT-T-FPN", "ViT-B-FPN")  # lateral inputs 32 vs 48 channels
    report = init_fpn_from_teacher(student, teacher)
    inner_w = [n for n in report["skipped"] if n.startswith("inner_blocks") and ".weight" in n]
    assert len(inner_w) == 4
    assert all(n.startswith("layer_blocks") for n in report["copied"]) and len(report["copied"]) == 8
    t_fpn, s_fpn = teacher.backbone.fpn.state_dict(), student.backbone.fpn.state_dict()
    assert all(torch.equal(s_fpn[n], t_fpn[n]) for n in report["copied"])


def test_fpn_init_real_r101_to_r50_copies_everything():
    """The paper's pair: both ResNets feed 256/512/1024/2048 channels to a 256-wide FPN."""
    teacher = build_detector(detector_spec("R101-FPN", "paper", pretrained=False, norm="bn"))
    student = build_detector(detector_spec("R50-FPN", "paper", pretrained=False, norm="bn"))
    assert student.backbone.in_channels_list == teacher.backbone.in_channels_list == [256, 512, 1024, 2048]
    report = init_fpn_from_teacher(student, teacher)
    assert report["skipped"] == [] and len(report["copied"]) == 16
    t_fpn = teacher.backbone.fpn.state_dict()
    assert all(torch.equal(v, t_fpn[k]) for k, v in student.backbone.fpn.state_dict().items())


def test_abf_shapes_and_fusion():
    torch.manual_seed(0)
    top = ABF(32, 16, 48, fuse=False)
    assert top.att_conv is None
    out, res = top(torch.randn(2, 32, 4, 5))
    assert out.shape == (2, 48, 4, 5) and res.shape == (2, 16, 4, 5)
    abf = ABF(32, 16, 48, fuse=True)
    out2, res2 = abf(torch.randn(2, 32, 8, 10), res)
    assert out2.shape == (2, 48, 8, 10) and res2.shape == (2, 16, 8, 10)
    fusion = ReviewFusion([32] * 5, [48] * 5, 16)
    feats = [torch.randn(2, 32, 32 // 2**i, 24 // 2**i + (i == 4)) for i in range(5)]
    outs = fusion(feats)
    assert [o.shape for o in outs] == [(2, 48, *f.shape[-2:]) for f in feats]
    assert fusion.abfs[0].att_conv is None and all(a.att_conv is not None for a in fusion.abfs[1:])


def test_reviewkd_uses_shared_hcl_and_weight():
    student, teacher = _pair()
    method = build_method("reviewkd", student, teacher)
    assert method.mid_channels == 32 and method.loss_weight == 0.8
    method.prepare(student, teacher)
    student.train()
    method.train()
    item_set = ToySet(2)
    images = [it[0] for it in item_set.items]
    targets = [it[1] for it in item_set.items]
    torch.manual_seed(5)
    losses = method(student, teacher, images, targets)
    det = sum(v for k, v in losses.items() if k.startswith("loss_"))
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    # recompute the HCL term with the shared function on the same transformed batch
    torch.manual_seed(5)
    image_list, _ = transform_images(student, images, targets)
    with torch.no_grad():
        t = teacher.backbone(image_list.tensors)
        s = student.backbone(image_list.tensors)
        reviewed = method.fusion([s[k] for k in FPN_KEYS])
        hcl = hcl_loss(reviewed, [t[k] for k in FPN_KEYS])
    assert torch.allclose(losses["reviewkd"], 0.8 * hcl, rtol=1e-4)
    assert torch.allclose(losses["loss"], det + losses["reviewkd"], rtol=1e-6)
    losses["loss"].backward()
    assert all(p.grad is not None for p in method.trainable_parameters())
    assert all(p.grad is None for p in teacher.parameters())


def test_checkpoint_resume_gives_identical_weights(tmp_path):
    cfg = dict(iterations=4, batch_size=2, optimizer="adamw", lr=1e-3, schedule="cosine", warmup_iters=1,
               clip_grad_norm=5.0, checkpoint_every=1, progress=False, log_every=1, seed=3)

    def run(ckpt_dir, stop_after=None):
        student, teacher = _pair()
        method = build_method("reviewkd", student, teacher)
        res = train_detector(student, ToySet(), cfg, method=method, teacher=teacher, ckpt_dir=ckpt_dir,
                             stop_after=stop_after)
        return student, method, res

    full, full_method, res_full = run(tmp_path / "full")
    _, _, res_half = run(tmp_path / "killed", stop_after=2)
    assert res_half["iterations"] == 2 and not res_half["completed"]
    resumed, resumed_method, res_resumed = run(tmp_path / "killed")
    assert res_resumed["resumed_from"] == 2 and res_resumed["completed"]
    for a, b in ((full.state_dict(), resumed.state_dict()), (full_method.state_dict(), resumed_method.state_dict())):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in res_full["history"]] == [r["loss"] for r in res_resumed["history"]]
    assert sorted(p.name for p in (tmp_path / "killed").glob("ckpt_*.pt")) == ["ckpt_00000003.pt", "ckpt_00000004.pt"]
    with pytest.raises(ValueError, match="configuration changed"):
        student, teacher = _pair()
        train_detector(student, ToySet(), {**cfg, "lr": 1e-2}, method=build_method("reviewkd", student, teacher),
                       teacher=teacher, ckpt_dir=tmp_path / "killed")
