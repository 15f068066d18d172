"""Kill-and-resume: a training run SIGKILLed after its first checkpoint and started again ends with exactly
the metrics (and logits) of an uninterrupted run, for classification (`fit`) and detection
(`train_detector`). Each run is a subprocess of this file (``python tests/test_resume.py <kind> <out>``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from process_helpers import kill_when

HERE = Path(__file__).resolve()
SLOW_S = 0.25  # per batch, so that the run is still going when the test kills it


# -------------------------------------------------------------------------------------- the training runs
def _classification_run(out: Path, method_key: str) -> None:
    from distildoc.data.tensors import TensorSplit
    from distildoc.distill import build_method
    from distildoc.models.classification import ALL_FEATURES, build_model
    from distildoc.models.registry import get_spec
    from distildoc.train.classification import (
        TeacherCache,
        TrainConfig,
        compute_teacher_outputs,
        fit,
        predict_logits,
        split_metrics,
    )

    size = 32

    class SlowSplit(TensorSplit):
        def batch(self, index, channels=3):
            if os.environ.get("RESUME_TEST_SLOW"):
                time.sleep(SLOW_S)
            return super().batch(index, channels)

    def split(n: int, seed: int) -> TensorSplit:
        g = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % 4
        images = (torch.rand(n, size, size, generator=g) * 60 + labels[:, None, None] * 50).to(torch.uint8)
        return SlowSplit(images, labels, [f"img{i}.png" for i in range(n)], [])

    def spec(role: str):
        kw = {"ViT-B": dict(patch_size=8, embed_dim=32, depth=2, num_heads=2),
              "ViT-T": dict(patch_size=8, embed_dim=16, depth=2, num_heads=2)}[role]
        return get_spec(role, "embedded", num_classes=4, img_size=size, kwargs=kw)

    train, val, test = split(40, 0), split(12, 1), split(16, 2)
    torch.manual_seed(0)
    model = build_model(spec("ViT-T"))
    cache_train = cache_val = head = tdims = None
    if method_key != "ce":
        teacher = build_model(spec("ViT-B"))
        cache_train = TeacherCache(compute_teacher_outputs(teacher, train, ALL_FEATURES, progress=False), "t")
        cache_val = TeacherCache(compute_teacher_outputs(teacher, val, ALL_FEATURES, progress=False), "v")
        head, tdims = teacher.classifier_head(), teacher.dims()
    method = build_method(method_key, model.dims(), tdims, head)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-3, seed=0, progress=False, checkpoint_every=2)
    res = fit(model, method, train, val, cfg, cache_train, cache_val, ckpt_dir=out / "ckpt")
    logits = predict_logits(model, method, test)
    np.save(out / "logits.npy", logits)
    (out / "metrics.json").write_text(json.dumps({"test": split_metrics(logits, test), "history": res.history,
                                                  "best_epoch": res.best_epoch}))


def _detection_run(out: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from detection_helpers import tiny_spec

    from distildoc.models.detection import build_detector
    from distildoc.train.detection import train_detector

    torch.manual_seed(0)
    model = build_detector(tiny_spec("R50-FPN"))
    data = [_detection_item(i) for i in range(4)]

    class Slow(list):
        def __getitem__(self, i):
            if os.environ.get("RESUME_TEST_SLOW"):
                time.sleep(SLOW_S)
            return list.__getitem__(self, i)

    cfg = dict(iterations=6, batch_size=2, lr=0.01, warmup_iters=2, checkpoint_every=2, keep_checkpoints=1,
               seed=0, predecode=False, progress=False, log_every=1)
    res = train_detector(model, Slow(data), cfg, ckpt_dir=out / "ckpt")
    model.eval()
    with torch.no_grad():
        pred = model([data[0][0]])[0]
    np.save(out / "logits.npy", pred["scores"].numpy())
    history = [{k: v for k, v in r.items() if k != "time_s"} for r in res["history"]]
    (out / "metrics.json").write_text(json.dumps({"history": history, "iterations": res["iterations"],
                                                  "boxes": pred["boxes"].tolist()}))


def _detection_item(i: int) -> tuple[torch.Tensor, dict]:
    g = torch.Generator().manual_seed(i)
    image = torch.rand(3, 128, 128, generator=g)
    boxes = torch.tensor([[10.0, 10.0, 60.0, 40.0], [20.0, 60.0, 110.0, 120.0]])
    masks = torch.zeros(2, 128, 128, dtype=torch.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
        masks[k, y1:y2, x1:x2] = 1
        image[:, y1:y2, x1:x2] *= 0.3
    return image, {"boxes": boxes, "labels": torch.tensor([1, 2]), "masks": masks, "image_id": i}


# -------------------------------------------------------------------------------------- the test driver
def _cmd(kind: str, out: Path) -> list[str]:
    return [sys.executable, str(HERE), kind, str(out)]


def _env(slow: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    env.pop("RESUME_TEST_SLOW", None)
    if slow:
        env["RESUME_TEST_SLOW"] = "1"
    return env


def _kill_after_first_checkpoint(kind: str, out: Path, ckpt_glob: str, timeout: float = 300) -> Path:
    proc = subprocess.Popen(_cmd(kind, out), env=_env(slow=True), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(proc, lambda: bool(list((out / "ckpt").glob(ckpt_glob))), timeout, "its first checkpoint",
              on_early_exit=lambda: f": {proc.stderr.read().decode()[-2000:]}")
    assert not (out / "metrics.json").exists()
    return next((out / "ckpt").glob(ckpt_glob))


def _run(kind: str, out: Path) -> dict:
    subprocess.run(_cmd(kind, out), env=_env(slow=False), check=True, capture_output=True)
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("method", ["ce", "ce_kd"])
def test_classification_resumes_after_sigkill(tmp_path: Path, method: str) -> None:
    kind = f"classification:{method}"
    full = _run(kind, tmp_path / "full")
    ckpt = _kill_after_first_checkpoint(kind, tmp_path / "killed", "fit_checkpoint.pt")
    state = torch.load(ckpt, weights_only=False)
    killed_at = (state["epoch"], state["step_in_epoch"])
    assert killed_at < (3, 0), "killed after training had finished"
    resumed = _run(kind, tmp_path / "killed")
    print(f"{method}: killed at epoch {killed_at[0]} step {killed_at[1]}; uninterrupted test acc "
          f"{full['test']['accuracy']:.6f} nll {full['test']['nll']:.8f}; resumed acc "
          f"{resumed['test']['accuracy']:.6f} nll {resumed['test']['nll']:.8f}")
    assert resumed == full  # accuracy, ECE, AURC, NLL, Brier, history (train / val losses), best epoch: all equal
    np.testing.assert_array_equal(np.load(tmp_path / "killed" / "logits.npy"), np.load(tmp_path / "full" / "logits.npy"))


def test_detection_resumes_after_sigkill(tmp_path: Path) -> None:
    full = _run("detection", tmp_path / "full")
    ckpt = _kill_after_first_checkpoint("detection", tmp_path / "killed", "ckpt_*.pt")
    it = torch.load(ckpt, weights_only=False)["iteration"]
    assert 0 < it < 6
    resumed = _run("detection", tmp_path / "killed")
    print(f"detection: killed after iteration {it}; final loss {full['history'][-1]['loss']:.8f} "
          f"vs resumed {resumed['history'][-1]['loss']:.8f}")
    assert resumed == full
    np.testing.assert_array_equal(np.load(tmp_path / "killed" / "logits.npy"), np.load(tmp_path / "full" / "logits.npy"))


if __name__ == "__main__":
    torch.set_num_threads(1)
    what, out_dir = sys.argv[1], Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    if what.startswith("classification:"):
        _classification_run(out_dir, what.split(":", 1)[1])
    else:
        _detection_run(out_dir)
