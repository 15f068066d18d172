"""torchrun / DistributedDataParallel: 2 gloo processes on CPU train like 1 process with the same global batch.

Each run is ``python [-m torch.distributed.run --nproc_per_node 2] tests/test_distributed.py <kind> <out>``.
Why 2 processes are not bit-exact: DDP averages the two shards' gradients ((g_0 + g_1) / 2 of per-shard
means) where one process computes the mean over the whole batch in one reduction, so float32 sums are
taken in another order (~1e-7 relative per step), and AdamW amplifies these differences a little over the
steps. Expected agreement: equal accuracy, logits within 1e-3 (observed ~1e-6, see the assertion messages).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # starts torchrun process groups

HERE = Path(__file__).resolve()
LOGIT_ATOL = 1e-3


def _classification(out: Path) -> None:
    from distildoc.data.tensors import TensorSplit
    from distildoc.distill import build_method
    from distildoc.models.classification import build_model
    from distildoc.models.registry import get_spec
    from distildoc.train.classification import TrainConfig, fit, predict_logits, split_metrics
    from distildoc.utils import distributed as dist

    def split(n: int, seed: int) -> TensorSplit:
        g = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % 4
        images = (torch.rand(n, 32, 32, generator=g) * 60 + labels[:, None, None] * 50).to(torch.uint8)
        return TensorSplit(images, labels, [f"img{i}.png" for i in range(n)], [])

    train, val, test = split(36, 0), split(12, 1), split(16, 2)  # 36 = 4 batches of 8 + one of 4
    torch.manual_seed(0)
    spec = get_spec("ViT-T", "embedded", num_classes=4, img_size=32,
                    kwargs=dict(patch_size=8, embed_dim=16, depth=2, num_heads=2))
    model = build_model(spec)
    method = build_method("ce")
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, seed=0, progress=False)
    res = fit(model, method, train, val, cfg, ckpt_dir=out / "ckpt")
    if dist.is_main_process():
        logits = predict_logits(model, method, test)
        np.save(out / "logits.npy", logits)
        (out / "metrics.json").write_text(json.dumps({"test": split_metrics(logits, test), "history": res.history,
                                                      "world": dist.world_size()}))


def _detection(out: Path) -> None:
    sys.path.insert(0, str(HERE.parent))
    from detection_helpers import tiny_spec
    from test_resume import _detection_item

    from distildoc.models.detection import build_detector
    from distildoc.train.detection import train_detector
    from distildoc.utils import distributed as dist

    torch.manual_seed(0)
    model = build_detector(tiny_spec("ViT-T-FPN"))
    data = [_detection_item(i) for i in range(4)]
    cfg = dict(iterations=3, batch_size=2, lr=0.01, warmup_iters=1, seed=0, predecode=False, progress=False,
               log_every=1, optimizer="adamw")
    res = train_detector(model, data, cfg, ckpt_dir=out / "ckpt")
    if dist.is_main_process():
        (out / "metrics.json").write_text(json.dumps({"losses": [r["loss"] for r in res["history"]],
                                                      "world": dist.world_size()}))


def _run(kind: str, out: Path, nproc: int) -> dict:
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                   f"--nproc_per_node={nproc}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*launcher, str(HERE), kind, str(out)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    one = _run("classification", tmp_path / "one", 1)
    two = _run("classification", tmp_path / "two", 2)
    assert (one["world"], two["world"]) == (1, 2)
    diff = float(np.abs(np.load(tmp_path / "one" / "logits.npy") - np.load(tmp_path / "two" / "logits.npy")).max())
    print(f"DDP 2 x gloo vs 1 process: max |logit diff| {diff:.2e}; acc {one['test']['accuracy']} vs "
          f"{two['test']['accuracy']}; nll {one['test']['nll']:.7f} vs {two['test']['nll']:.7f}")
    assert diff < LOGIT_ATOL, f"max logit difference {diff}"
    assert two["test"]["accuracy"] == one["test"]["accuracy"]
    for key in ("nll", "ece", "brier", "aurc"):
        assert two["test"][key] == pytest.approx(one["test"][key], abs=1e-4)
    for a, b in zip(one["history"], two["history"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-4)
    assert (tmp_path / "two" / "ckpt" / "fit_checkpoint.pt").is_file()  # written once, by rank 0


def test_detection_trains_under_torchrun(tmp_path: Path) -> None:
    """Detection under 2 processes: same first-iteration loss (same weights, same images; the RPN / RoI
    samplers draw from each rank's own RNG stream, so later iterations drift) and rank-0 checkpoints."""
    one = _run("detection", tmp_path / "one", 1)
    two = _run("detection", tmp_path / "two", 2)
    print(f"detection losses 1 process {one['losses']} vs 2 processes {two['losses']}")
    assert two["world"] == 2 and len(two["losses"]) == len(one["losses"]) == 3
    assert two["losses"][0] == pytest.approx(one["losses"][0], rel=0.05)
    assert all(np.isfinite(two["losses"]))
    assert sorted(p.name for p in (tmp_path / "two" / "ckpt").iterdir()) == ["ckpt_00000003.pt"]


if __name__ == "__main__":
    from distildoc.utils import distributed

    torch.set_num_threads(1)
    distributed.init_distributed()
    what, out_dir = sys.argv[1], Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    (_classification if what == "classification" else _detection)(out_dir)
    distributed.cleanup()
