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

from distildoc.config import load_config
from distildoc.data.coco import CocoDetectionDataset
from distildoc.evaluate.detection import coco_evaluate, measure_efficiency, predict_dataset
from distildoc.train.dla import efficiency_pages, load_detector
from distildoc.utils.io import write_json

TEACHER_OF = {"R50-FPN": "R101-FPN", "ViT-T-FPN": "ViT-B-FPN"}


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
    cfg = load_config("params.yaml", preset=args.preset)
    eff = dict(cfg["dla"]["efficiency"])
    eff.update({k: v for k, v in (("rounds", args.rounds), ("iters", args.iters)) if v is not None})
    res_dir = Path("results") / args.preset / "dla"
    dirs = sorted(p for p in (res_dir / "models").iterdir() if (p / "model.pt").is_file()) if (res_dir / "models").is_dir() else []
    if not dirs:
        print(f"no trained layout model under {res_dir / 'models'}: run `snakemake --cores 2 dla "
              f"--config preset={args.preset}` first", file=sys.stderr)
        return 2
    synthetic = cfg["data"]["source"] == "synthetic"  # the workflow's DLA_DATA_ROOT (workflow/rules/dla_common.smk)
    images_root = Path("data") / args.preset / "synthetic" / "rvl" if synthetic else Path("data/raw/doclaynet")
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
    timed = measure_efficiency({f"{name}@{n}": m for (name, n), m in models.items()}, tuple(eff["input_size"]),
                               warmup=eff["warmup"], iters=eff["iters"], rounds=eff.get("rounds", 3), pages=pages)
    rows = {key: {"model": key[0], "proposals": key[1], "mAP": maps[key], **timed[f"{key[0]}@{key[1]}"]}
            for key in models}

    print(f"\nbatch 1, {args.threads} thread(s), median of {eff.get('rounds', 3)} rounds of {eff['iters']} pages")
    print(f"{'model':36s} {'props':>5s} {'mAP':>6s} {'GFLOPs':>7s} {'im/s':>6s} {'vs teacher same':>15s} "
          f"{'vs teacher @' + str(counts[0]):>16s}")
    for (name, n), r in rows.items():
        _, role, _ = name.split("__")
        teacher = f"none__{TEACHER_OF[role]}__supervised" if role in TEACHER_OF else None
        same = rows.get((teacher, n)) if teacher else None
        ref = rows.get((teacher, counts[0])) if teacher else None
        ratio = (lambda t: f"{r['images_per_second'] / t['images_per_second']:.2f}x" if t else "-")  # noqa: E731
        print(f"{name:36s} {n:5d} {r['mAP']:6.2f} {r['gflops']:7.2f} {r['images_per_second']:6.2f} "
              f"{ratio(same):>15s} {ratio(ref):>16s}")
    if args.json:
        write_json(args.json, [{k: v for k, v in r.items()} for r in rows.values()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
