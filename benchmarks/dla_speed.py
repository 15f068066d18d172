"""Are the layout students faster than their teachers? Times a preset's trained detectors side by side.

Loads every trained model of ``results/<preset>/dla/models/`` and measures them exactly as the
``dla_efficiency`` rule does (``distildoc.train.dla.measure_dla_models``: the first evaluation pages,
batch 1, the models interleaved page by page, median of the rounds), or reads an existing
``efficiency.json`` with ``--from-json``. Prints images/s of the whole detector and of backbone + FPN,
and checks the target of Table 3: **every student (supervised or distilled) is faster than its teacher**
(R50-FPN > R101-FPN, ViT-T-FPN > ViT-B-FPN), on the whole detector. Exits 1 when it is not met.

    python benchmarks/dla_speed.py [--preset default] [--rounds 5] [--iters 20] [--threads 2]
    python benchmarks/dla_speed.py --from-json results/default/dla/efficiency.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from distildoc.config import load_config
from distildoc.train.dla import measure_dla_models
from distildoc.utils.io import read_json, write_json

TEACHER_OF = {"R50-FPN": "R101-FPN", "ViT-T-FPN": "ViT-B-FPN"}


def teacher_model(name: str) -> str | None:
    """The supervised teacher's model folder name for a student model folder ``<teacher>__<role>__<method>``
    (None for a teacher role)."""
    _, role, _ = name.split("__")
    return f"none__{TEACHER_OF[role]}__supervised" if role in TEACHER_OF else None


def preset_models(preset: str, rounds: int | None = None, iters: int | None = None) -> tuple[dict, Path, list[Path], Path]:
    """A preset's `dla.efficiency` (with `rounds` / `iters` when given), its ``results/<preset>/dla`` folder, the
    trained model folders in it and the layout pages' image root (the workflow's DLA_DATA_ROOT,
    workflow/rules/dla_common.smk)."""
    cfg = load_config("params.yaml", preset=preset)
    eff = dict(cfg["dla"]["efficiency"])
    eff.update({k: v for k, v in (("rounds", rounds), ("iters", iters)) if v is not None})
    res_dir = Path("results") / preset / "dla"
    models = res_dir / "models"
    dirs = sorted(p for p in models.iterdir() if (p / "model.pt").is_file()) if models.is_dir() else []
    synthetic = cfg["data"]["source"] == "synthetic"
    images_root = Path("data") / preset / "synthetic" / "rvl" if synthetic else Path("data/raw/doclaynet")
    return eff, res_dir, dirs, images_root


def check_students_faster(models: dict[str, dict], key: str = "images_per_second") -> list[tuple[str, str, float, float, bool]]:
    """(student, teacher, student value, teacher value, faster?) for every student model folder
    ``<teacher>__<role>__<method>`` whose role has a teacher role with a supervised model in `models`."""
    rows = []
    for name, rec in sorted(models.items()):
        teacher = teacher_model(name)
        if teacher is None or teacher not in models:
            continue
        s, t = rec[key], models[teacher][key]
        rows.append((name, teacher, s, t, s > t))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--from-json", type=Path, default=None, help="check this efficiency.json instead of timing")
    parser.add_argument("--rounds", type=int, default=None, help="default: the preset's dla.efficiency")
    parser.add_argument("--iters", type=int, default=None, help="default: the preset's dla.efficiency")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the measurement here")
    args = parser.parse_args(argv)

    if args.from_json:
        result = read_json(args.from_json)
        print(f"read {args.from_json}: {result.get('note', '')}")
    else:
        torch.set_num_threads(args.threads)
        eff, res_dir, dirs, images_root = preset_models(args.preset, args.rounds, args.iters)
        if not dirs:
            print(f"no trained layout model under {res_dir / 'models'}: run `snakemake --cores 2 dla "
                  f"--config preset={args.preset}` first", file=sys.stderr)
            return 2
        result = measure_dla_models(dirs, eff, eval_ann=res_dir / "data" / "val.json", images_root=images_root)
        print(result["note"])
        if args.json:
            write_json(args.json, result)

    models = result["models"]
    print(f"\n{'model':36s} {'GFLOPs':>7s} {'im/s':>7s} {'backbone im/s':>14s}")
    for name, rec in models.items():
        print(f"{name:36s} {rec['gflops']:7.2f} {rec['images_per_second']:7.2f} "
              f"{rec.get('backbone_images_per_second', float('nan')):14.2f}")
    rows = check_students_faster(models)
    print("\nstudent faster than its teacher (whole detector):")
    for student, teacher, s, t, ok in rows:
        print(f"  {'yes' if ok else 'NO ':3s} {student:36s} {s:6.2f} vs {teacher} {t:6.2f} im/s ({s / t:.2f}x)")
    met = bool(rows) and all(ok for *_, ok in rows)
    print(f"target {'met' if met else 'NOT met'}: {sum(ok for *_, ok in rows)}/{len(rows)} students faster")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
