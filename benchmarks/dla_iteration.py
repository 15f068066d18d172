"""Per-iteration training time and inference throughput of the embedded DLA detectors (1 CPU thread).

For every embedded role (``R101-FPN``, ``R50-FPN``, ``ViT-B-FPN``, ``ViT-T-FPN``) this prints

* params (M), GFLOPs of one page (792×612 input, resized by the detector's transform; FlopCounterMode,
  2 FLOPs per MAC) for the whole eval forward and for backbone + FPN only;
* seconds per training iteration (batch 2, supervised Mask R-CNN losses, SGD) measured with
  ``train_detector`` on synthetic pages pre-decoded at the detector's input size (median and minimum of
  the timed iterations after warm-up; on a shared CPU the minimum is the better estimate);
* inference images/s (eval, batch 1, a full 792×612 page in, boxes + masks out at page size).

Usage::

    python benchmarks/dla_iteration.py [--roles R50-FPN ViT-T-FPN] [--iters 6] [--warmup 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from distildoc.data.coco import CocoDetectionDataset
from distildoc.data.synthetic.generate import generate_split
from distildoc.evaluate.detection import count_flops, count_params, images_per_second
from distildoc.models.detection import EMBEDDED_DETECTORS, build_detector, final_image_size
from distildoc.train.detection import DetectionTrainConfig, train_detector
from distildoc.utils.io import write_json

PAGE = (792, 612)  # (height, width) of a synthetic / letter page at 72 dpi


def bench_role(role: str, dataset: CocoDetectionDataset, iters: int, warmup: int) -> dict:
    torch.manual_seed(0)
    spec = EMBEDDED_DETECTORS[role]
    model = build_detector(spec)
    params = count_params(model)
    gflops_all = count_flops(model, PAGE)
    gflops_backbone = count_flops(model, PAGE, part="backbone")
    # clipped and warmed up as the presets' recipes: ImageNet-initialised pyramids diverge without (NaN by step 8)
    cfg = DetectionTrainConfig(iterations=warmup + iters, batch_size=2, lr=0.01, log_every=1, progress=False,
                               clip_grad_norm=5.0, warmup_iters=max(1, warmup))
    result = train_detector(model, dataset, cfg)
    times = [r["time_s"] for r in result["history"]]
    per_iter = [b - a for a, b in zip(times[warmup - 1 if warmup else 0:], times[warmup if warmup else 1:])]
    if not warmup:
        per_iter = [times[0]] + per_iter
    ips = images_per_second(model, PAGE, warmup=2, iters=max(3, iters))
    w, h = final_image_size(spec, PAGE[1], PAGE[0])
    return {
        "role": role,
        "input_wh": [w, h],
        "params_M": round(params, 3),
        "gflops_page": round(gflops_all, 3),
        "gflops_backbone_fpn": round(gflops_backbone, 3),
        "train_s_per_iter_b2": round(statistics.median(per_iter), 4),
        "train_s_per_iter_b2_min": round(min(per_iter), 4),
        "train_s_per_iter_all": [round(t, 4) for t in per_iter],
        "infer_images_per_s": round(ips, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", nargs="+", default=list(EMBEDDED_DETECTORS))
    parser.add_argument("--iters", type=int, default=6, help="timed training iterations per role")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training iterations per role")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        generate_split(tmp, "rvl", "train", n_per_class=1, seed=0, progress=False)
        root = Path(tmp) / "rvl"
        dataset = CocoDetectionDataset(root, root / "layout" / "train.json")
        rows = [bench_role(role, dataset, args.iters, args.warmup) for role in args.roles]

    header = f"{'role':10s} {'input':>8s} {'params M':>9s} {'GFLOPs':>8s} {'bb GFLOPs':>10s} {'s/iter b2':>10s} {'(min)':>7s} {'img/s':>7s}"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); page 612x792; GFLOPs = 2 x GMACs")
    print(header)
    for r in rows:
        print(f"{r['role']:10s} {r['input_wh'][0]:>4d}x{r['input_wh'][1]:<3d} {r['params_M']:9.2f} "
              f"{r['gflops_page']:8.2f} {r['gflops_backbone_fpn']:10.2f} {r['train_s_per_iter_b2']:10.3f} {r['train_s_per_iter_b2_min']:7.3f} "
              f"{r['infer_images_per_s']:7.2f}")
    if args.json:
        write_json(args.json, {"threads": torch.get_num_threads(), "torch": torch.__version__, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
