"""Where a layout detector's time goes: speed and bbox mAP at fewer test-time RPN proposals.

torchvision's Mask R-CNN keeps ``rpn_pre_nms_top_n_test`` proposals per pyramid level and
``rpn_post_nms_top_n_test`` after NMS (1,000 each in the embedded detectors, as detectron2); the box head runs
on every kept proposal, so at 1,000 it is a large part of the forward pass, and it is the same for a teacher and
its student (SimKD students reuse the teacher's heads). This loads a preset's trained detectors, makes a copy of
each at every ``--proposals`` count (a deploy-time setting: no retraining), scores each copy's bbox mAP on the
layout evaluation pages and times them all side by side as the ``dla_efficiency`` rule does
(``distildoc.evaluate.detection.measure_efficiency``: batch 1, models interleaved page by page, median of the
rounds). Prints a table with each student's speed-up against its teacher at the same count and at the first
count (the trained setting).

    python benchmarks/dla_proposals.py [--preset default] [--proposals 1000,300,100] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

from dla_speed import preset_models, teacher_model  # benchmarks/dla_speed.py (the script's own folder)

from distildoc.data.coco import CocoDetectionDataset
from distildoc.evaluate.detection import coco_evaluate, measure_efficiency, predict_dataset
from distildoc.train.dla import efficiency_pages, load_detector
from distildoc.utils.io import write_json


def with_proposals(model: torch.nn.Module, n: int) -> torch.nn.Module:
    """A copy of a torchvision detector keeping `n` RPN proposals per level before NMS and `n` after, at test."""
    out = copy.deepcopy(model)
    out.rpn._pre_nms_top_n["testing"] = n
    out.rpn._post_nms_top_n["testing"] = n
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--proposals", default="1000,300,100", help="comma-separated counts; the first is the reference")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None, help="default: the preset's dla.efficiency")
    parser.add_argument("--iters", type=int, default=None, help="default: the preset's dla.efficiency")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurement here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    counts = [int(c) for c in args.proposals.split(",")]
    eff, res_dir, dirs, images_root = preset_models(args.preset, args.rounds, args.iters)
    if not dirs:
        print(f"no trained layout model under {res_dir / 'models'}: run `snakemake --cores 2 dla "
              f"--config preset={args.preset}` first", file=sys.stderr)
        return 2
    val = res_dir / "data" / "val.json"
    evalset = CocoDetectionDataset(images_root, val)
    evalset.drop_unreadable()

    models, maps = {}, {}
    for d in dirs:
        base = load_detector(d)
        for n in counts:
            key = (d.name, n)
            models[key] = with_proposals(base, n)
            maps[key] = coco_evaluate(evalset.coco, predict_dataset(models[key], evalset, batch_size=2),
                                      iou_types=("bbox",))["bbox"]["AP"]
            print(f"{d.name} @ {n} proposals: bbox mAP {maps[key]:.2f} ({len(evalset)} pages)", flush=True)
    pages, _ = efficiency_pages(val, images_root, eff["pages"])
    rounds = eff.get("rounds", 3)
    timed = measure_efficiency({f"{name}@{n}": m for (name, n), m in models.items()}, tuple(eff["input_size"]),
                               warmup=eff["warmup"], iters=eff["iters"], rounds=rounds, pages=pages)
    rows = {key: {"model": key[0], "proposals": key[1], "mAP": maps[key], **timed[f"{key[0]}@{key[1]}"]}
            for key in models}

    print(f"\nbatch 1, {args.threads} thread(s), median of {rounds} rounds of {eff['iters']} pages")
    print(f"{'model':36s} {'props':>5s} {'mAP':>6s} {'GFLOPs':>7s} {'im/s':>6s} {'vs teacher same':>15s} "
          f"{'vs teacher @' + str(counts[0]):>16s}")
    for (name, n), r in rows.items():
        teacher = teacher_model(name)
        ratios = [f"{r['images_per_second'] / t['images_per_second']:.2f}x" if t else "-"
                  for t in (rows.get((teacher, n)), rows.get((teacher, counts[0])))]
        print(f"{name:36s} {n:5d} {r['mAP']:6.2f} {r['gflops']:7.2f} {r['images_per_second']:6.2f} "
              f"{ratios[0]:>15s} {ratios[1]:>16s}")
    if args.json:
        write_json(args.json, list(rows.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
