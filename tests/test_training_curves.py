"""Training curves (DVCLive files, `distildoc.train.curves`): a classifier logs one row per epoch, a detector one
per `log_every` iterations; a run resumed from its checkpoint keeps every earlier step exactly once; the files stay
plain (no dvc.yaml, no DVC / git state touched)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
import torch

from distildoc.data.tensors import TensorSplit
from distildoc.distill import build_method
from distildoc.models.classification import ALL_FEATURES, build_model
from distildoc.models.registry import get_spec
from distildoc.train.classification import TeacherCache, TrainConfig, compute_teacher_outputs, fit
from distildoc.train.curves import write_summary

SIZE = 32


def read_curve(live_dir: Path, name: str) -> list[tuple[int, str]]:
    """(step, value as written) rows of ``plots/metrics/<name>.tsv``, checking the header."""
    path = live_dir / "plots" / "metrics" / f"{name}.tsv"
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["step", name.split("/")[-1]], (path, rows[0])
    return [(int(r[0]), r[1]) for r in rows[1:]]


def curve_names(live_dir: Path) -> set[str]:
    root = live_dir / "plots" / "metrics"
    return {p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.tsv")}


# ------------------------------------------------------------------------------------------ classification
class Interrupted(RuntimeError):
    pass


class KillableSplit(TensorSplit):
    """Raises on the `kill_at`-th batch read (a crash mid-run); `None`: never."""

    kill_at: int | None = None
    reads = 0

    def batch(self, index, channels=3):
        self.reads += 1
        if self.kill_at is not None and self.reads >= self.kill_at:
            raise Interrupted(f"killed at batch read {self.reads}")
        return super().batch(index, channels)


def _split(n: int, seed: int, cls=TensorSplit) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = (torch.rand(n, SIZE, SIZE, generator=g) * 60 + labels[:, None, None] * 50).to(torch.uint8)
    return cls(images, labels, [f"img{i}.png" for i in range(n)], [])


def _spec(role: str):
    kw = {"ViT-B": dict(patch_size=8, embed_dim=32, depth=2, num_heads=2),
          "ViT-T": dict(patch_size=8, embed_dim=16, depth=2, num_heads=2)}[role]
    return get_spec(role, "embedded", num_classes=4, img_size=SIZE, kwargs=kw)


@pytest.fixture(scope="module")
def kd_setup():
    """Train / val splits and a (random) ViT-B teacher's cached outputs, for a ce_kd student (named losses ce, kd)."""
    train, val = _split(40, 0), _split(12, 1)
    torch.manual_seed(0)
    teacher = build_model(_spec("ViT-B"))
    caches = tuple(TeacherCache(compute_teacher_outputs(teacher, s, ALL_FEATURES, progress=False), k)
                   for s, k in ((train, "t"), (val, "v")))
    return train, val, caches, teacher.classifier_head(), teacher.dims()


def _fit_student(kd_setup, cfg: TrainConfig, ckpt_dir: Path | None, live_dir: Path | None, kill_at: int | None = None):
    train, val, (cache_train, cache_val), head, tdims = kd_setup
    train = KillableSplit(train.images, train.labels, train.ids, [])
    train.kill_at = kill_at
    torch.manual_seed(0)
    model = build_model(_spec("ViT-T"))
    method = build_method("ce_kd", model.dims(), tdims, head)
    return fit(model, method, train, val, cfg, cache_train, cache_val, ckpt_dir=ckpt_dir, live_dir=live_dir)


def test_fit_logs_one_row_per_epoch_as_plain_files(kd_setup, tmp_path: Path, monkeypatch) -> None:
    # the working directory is a git repository without DVC: dvclive's own Live would `dvc init` it
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    monkeypatch.chdir(work)
    live = tmp_path / "run" / "dvclive"
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, seed=0, progress=False)
    res = _fit_student(kd_setup, cfg, None, live)

    assert curve_names(live) == {"train/loss", "train/ce", "train/kd", "lr", "val/loss", "val/accuracy", "time_s"}
    for name in curve_names(live):
        assert [s for s, _ in read_curve(live, name)] == [1, 2], name
    for key, name in (("train_loss", "train/loss"), ("val_loss", "val/loss"), ("val_accuracy", "val/accuracy")):
        assert [float(v) for _, v in read_curve(live, name)] == pytest.approx([h[key] for h in res.history])
    # the named losses' epoch means add up to the total's as the method weighs them (ce_kd: 0.5 ce + 0.5 kd)
    ce = [float(v) for _, v in read_curve(live, "train/ce")]
    kd = [float(v) for _, v in read_curve(live, "train/kd")]
    total = [float(v) for _, v in read_curve(live, "train/loss")]
    assert all(c > 0 and k >= 0 for c, k in zip(ce, kd))
    assert [0.5 * c + 0.5 * k for c, k in zip(ce, kd)] == pytest.approx(total, rel=1e-5)
    lrs = [float(v) for _, v in read_curve(live, "lr")]
    assert 0 < lrs[1] < lrs[0] <= 1e-3  # linear decay after the warm-up
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 2 and summary["train"]["loss"] == pytest.approx(res.history[-1]["train_loss"])
    assert summary["val"]["accuracy"] == pytest.approx(res.history[-1]["val_accuracy"])
    # final numbers join the summary; the step stays the last epoch
    assert write_summary(live, {"best_epoch": res.best_epoch, "test/accuracy": 0.5, "test/nll": float("nan")})
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 2 and summary["best_epoch"] == res.best_epoch and summary["test"] == {"accuracy": 0.5}
    assert summary["train"]["loss"] == pytest.approx(res.history[-1]["train_loss"])
    # plain files only: no dvc.yaml / report / params, nothing DVC or git in the working directory
    files = {p.relative_to(live).as_posix() for p in live.rglob("*") if p.is_file()}
    assert files == {"metrics.json"} | {f"plots/metrics/{n}.tsv" for n in curve_names(live)}
    assert not (work / ".dvc").exists() and not (work / "dvc.yaml").exists()
    assert sorted(p.name for p in work.iterdir()) == [".git"]
    assert subprocess.run(["git", "-C", str(work), "status", "--porcelain"], capture_output=True, text=True,
                          check=True).stdout == ""
    # no live_dir: nothing written, same training
    again = _fit_student(kd_setup, cfg, None, None)
    assert again.history[-1]["train_loss"] == pytest.approx(res.history[-1]["train_loss"])
    assert write_summary(tmp_path / "none" / "dvclive", {"x": 1.0}) is False


def test_fit_resumed_after_a_crash_keeps_every_epoch(kd_setup, tmp_path: Path) -> None:
    # 40 examples / batch 8 = 5 steps an epoch; checkpoints every 2 steps and at epoch ends
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, seed=0, progress=False, checkpoint_every=2)
    full = tmp_path / "full" / "dvclive"
    _fit_student(kd_setup, cfg, tmp_path / "full" / "ckpt", full)

    killed = tmp_path / "killed" / "dvclive"
    with pytest.raises(Interrupted):  # the 9th batch read: step 4 of epoch 2, after the checkpoint at its step 3
        _fit_student(kd_setup, cfg, tmp_path / "killed" / "ckpt", killed, kill_at=9)
    assert [s for s, _ in read_curve(killed, "train/loss")] == [1]
    _fit_student(kd_setup, cfg, tmp_path / "killed" / "ckpt", killed)  # resumes mid-epoch 2

    assert curve_names(killed) == curve_names(full)
    for name in curve_names(full) - {"time_s"}:
        got, want = read_curve(killed, name), read_curve(full, name)
        assert [s for s, _ in got] == [1, 2, 3], name
        # epoch 2's means cover the steps before the crash (from the checkpoint) and after it
        assert [float(v) for _, v in got] == pytest.approx([float(v) for _, v in want], rel=1e-6), name
    assert json.loads((killed / "metrics.json").read_text())["step"] == 3

    # a finished run called again (a re-run job whose final checkpoint is kept) rewrites the same curves
    _fit_student(kd_setup, cfg, tmp_path / "killed" / "ckpt", killed)
    assert [s for s, _ in read_curve(killed, "val/loss")] == [1, 2, 3]


# -------------------------------------------------------------------------------------------------- detection
class ToyPages:
    """Four 160x128 pages with two boxes each; raises on the `kill_at`-th item read (with predecode=False, an
    iteration reads batch_size items)."""

    def __init__(self, kill_at: int | None = None) -> None:
        g = torch.Generator().manual_seed(0)
        self.items, self.kill_at, self.reads = [], kill_at, 0
        for i in range(4):
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
        self.reads += 1
        if self.kill_at is not None and self.reads >= self.kill_at:
            raise Interrupted(f"killed at item read {self.reads}")
        return self.items[i]


def test_detector_logs_losses_and_kd_terms_and_resumes(tmp_path: Path) -> None:
    from detection_helpers import tiny_spec

    from distildoc.distill.detection import build_method as build_det_method
    from distildoc.models.detection import build_detector
    from distildoc.train.detection import train_detector

    cfg = dict(iterations=4, batch_size=2, lr=0.01, warmup_iters=1, checkpoint_every=2, keep_checkpoints=1,
               seed=0, predecode=False, progress=False, log_every=1)

    def run(name: str, kill_at: int | None = None):
        torch.manual_seed(0)
        teacher = build_detector(tiny_spec("R101-FPN"))
        torch.manual_seed(1)
        student = build_detector(tiny_spec("R50-FPN"))
        method = build_det_method("reviewkd", student, teacher)
        return train_detector(student, ToyPages(kill_at), cfg, method=method, teacher=teacher,
                              ckpt_dir=tmp_path / name / "ckpt", live_dir=tmp_path / name / "dvclive")

    res = run("full")
    full = tmp_path / "full" / "dvclive"
    names = curve_names(full)
    # the Mask R-CNN components, the KD term(s) and the total, the learning rate
    assert {"train/loss", "train/loss_classifier", "train/loss_box_reg", "train/loss_mask", "train/loss_objectness",
            "train/loss_rpn_box_reg", "train/reviewkd", "lr", "time_s"} <= names
    for name in names:
        assert [s for s, _ in read_curve(full, name)] == [1, 2, 3, 4], name
    assert [float(v) for _, v in read_curve(full, "train/loss")] == pytest.approx([r["loss"] for r in res["history"]])
    assert [float(v) for _, v in read_curve(full, "lr")] == pytest.approx([r["lr"] for r in res["history"]])
    assert json.loads((full / "metrics.json").read_text())["step"] == 4
    write_summary(full, {"eval/mAP": 12.5, "eval/segm_mAP": None})
    summary = json.loads((full / "metrics.json").read_text())
    assert summary["eval"] == {"mAP": 12.5} and summary["step"] == 4 and "reviewkd" in summary["train"]

    # killed while reading iteration 4's pages: iterations 1-3 are logged, the last checkpoint is at 2
    killed = tmp_path / "killed" / "dvclive"
    with pytest.raises(Interrupted):
        run("killed", kill_at=7)
    assert [s for s, _ in read_curve(killed, "train/loss")] == [1, 2, 3]
    resumed = run("killed")
    assert resumed["resumed_from"] == 2 and resumed["completed"]
    for name in names - {"time_s"}:
        got, want = read_curve(killed, name), read_curve(full, name)
        assert [s for s, _ in got] == [1, 2, 3, 4], name  # iteration 3 once: replayed up to 2, then recomputed
        assert [float(v) for _, v in got] == pytest.approx([float(v) for _, v in want], rel=1e-6), name


def test_train_dla_writes_curves_with_the_final_map(synthetic_root: Path, tmp_path: Path) -> None:
    import copy

    from distildoc.config import load_preset
    from distildoc.data.coco import load_coco
    from distildoc.train.dla import subset_coco, train_dla
    from distildoc.utils.io import write_json

    repo = Path(__file__).resolve().parents[1]
    coco = load_coco(synthetic_root / "rvl" / "layout" / "train.json")
    write_json(tmp_path / "train.json", subset_coco(coco, 2))
    write_json(tmp_path / "val.json", subset_coco(coco, 1))
    cfg = copy.deepcopy(load_preset(repo / "params.yaml", "smoke")["dla"])
    cfg["recipes"]["resnet"].update(iterations=2, checkpoint_every=1, warmup_iters=1, log_every=1)
    out = tmp_path / "model"
    metrics = train_dla(out, "R50-FPN", cfg, tmp_path / "train.json", tmp_path / "val.json", synthetic_root / "rvl")
    live = out / "dvclive"
    assert [s for s, _ in read_curve(live, "train/loss")] == [1, 2]
    summary = json.loads((live / "metrics.json").read_text())
    assert summary["step"] == 2
    if metrics["mAP"] is not None and metrics["mAP"] == metrics["mAP"]:  # NaN (nothing detected) is left out
        assert summary["eval"]["mAP"] == pytest.approx(metrics["mAP"])
