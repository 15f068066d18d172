"""Does timing models in turns at 2 threads measure them fairly? The deployment table's timing, checked.

Exports the default preset's ViT-B (teacher) and ViT-T (student) stand-ins through the project's exporter
(``distildoc.export.classifier``: ONNX fp32 and dynamic int8, as ``distildoc export`` writes them; random
initialisation, which does not change their speed) and times the four ONNX models at batch 1 and 32 on the
default preset's input (3×96×96):

* **alone**: one model at a time, nothing else loaded (the deployment case);
* **call by call**: the four models take turns batch by batch (the deployment table's scheme until Dec 8 2026);
* **in rounds**: each model runs a block of batches in turn, rounds rotating the order
  (``distildoc.export.deploy.throughput_in_rounds``, the deployment table's scheme since),

each at 1 thread and at ``--threads`` intra-op threads. Prints images/s per model and the classification target's
ratio (the student's best form ÷ the teacher's ONNX int8). With more than one thread, models taking turns call by
call slow each other down: after its call a session's worker threads keep spinning on the cores the next model
needs. At 1 thread a session has no worker threads.

    python benchmarks/deploy_threads.py [--threads 2] [--iters 10] [--rounds 5] [--repeats 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from distildoc.distill.registry import build_method
from distildoc.export.classifier import DeployedClassifier, export_onnx, quantize_classifier
from distildoc.export.common import ort_session
from distildoc.export.deploy import classifier_batches, throughput_in_rounds
from distildoc.models.classification import build_model
from distildoc.models.registry import EMBEDDED_ARCHS

ROLES = ("ViT-B", "ViT-T")


def export_pair(folder: Path) -> dict[str, Path]:
    """ONNX fp32 + dynamic int8 of the ViT-B and ViT-T stand-ins: ``{"ViT-B fp32": path, ...}``."""
    torch.manual_seed(0)
    paths = {}
    for role in ROLES:
        spec = EMBEDDED_ARCHS[role]
        model = DeployedClassifier(build_model(spec), build_method("ce")).eval()
        fp32 = export_onnx(model, spec.img_size, folder / f"{role}.onnx")
        quantize_classifier(fp32, folder / f"{role}.int8.onnx", "dynamic")
        paths[f"{role} fp32"], paths[f"{role} int8"] = fp32, folder / f"{role}.int8.onnx"
    return paths


def runner(path: Path, threads: int):
    """A callable running one batch through the ONNX model at `path` (its session made once)."""
    session = ort_session(path, threads)
    feed = session.get_inputs()[0].name
    return lambda x: session.run(None, {feed: x})


def alone(paths: dict[str, Path], pages: np.ndarray, batch: int, threads: int, iters: int, rounds: int) -> dict[str, float]:
    """Images/s of each model timed by itself (one session alive at a time)."""
    batches = classifier_batches(pages, batch)
    return {name: throughput_in_rounds({name: runner(path, threads)}, batches, batch, warmup=1, iters=iters,
                                       rounds=rounds)[name]["images_per_second"] for name, path in paths.items()}


def call_by_call(paths: dict[str, Path], pages: np.ndarray, batch: int, threads: int, iters: int,
                 rounds: int) -> dict[str, float]:
    """Images/s of the models taking turns batch by batch: each round, every timed batch goes through all of them
    in turn; a model's round is ``iters × batch / its summed seconds``; the median round."""
    runners = {name: runner(path, threads) for name, path in paths.items()}
    batches = classifier_batches(pages, batch)
    for fn in runners.values():
        fn(batches[0])
    per_round: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        spent = dict.fromkeys(runners, 0.0)
        for k in range(iters):
            for name, fn in runners.items():
                t0 = time.perf_counter()
                fn(batches[k % len(batches)])
                spent[name] += time.perf_counter() - t0
        for name, sec in spent.items():
            per_round[name].append(iters * batch / sec)
    return {name: float(np.median(v)) for name, v in per_round.items()}


def in_rounds(paths: dict[str, Path], pages: np.ndarray, batch: int, threads: int, iters: int, rounds: int) -> dict[str, float]:
    """Images/s as the deployment table measures them (:func:`distildoc.export.deploy.throughput_in_rounds`)."""
    runners = {name: runner(path, threads) for name, path in paths.items()}
    res = throughput_in_rounds(runners, classifier_batches(pages, batch), batch, warmup=1, iters=iters, rounds=rounds)
    return {name: r["images_per_second"] for name, r in res.items()}


def ratio(ips: dict[str, float]) -> float:
    """The student's best ONNX form ÷ the teacher's ONNX int8."""
    return max(ips["ViT-T fp32"], ips["ViT-T int8"]) / ips["ViT-B int8"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="the multi-thread setting compared with 1 thread (default 2)")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1, help="run the whole comparison this many times")
    args = ap.parse_args()
    size = EMBEDDED_ARCHS["ViT-B"].img_size
    pages = np.random.default_rng(0).random((64, 3, size, size), dtype=np.float32)
    names = [f"{r} {v}" for r in ROLES for v in ("fp32", "int8")]
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_pair(Path(tmp))
        print(f"| setting | batch | {' | '.join(names)} | student best ÷ teacher int8 |")
        print(f"|---|---:|{'---:|' * len(names)}---:|")
        for _ in range(args.repeats):
            for batch in (1, 32):
                for label, fn, threads in ((f"alone, {args.threads} threads", alone, args.threads),
                                           (f"call by call, {args.threads} threads", call_by_call, args.threads),
                                           (f"in rounds, {args.threads} threads", in_rounds, args.threads),
                                           ("alone, 1 thread", alone, 1),
                                           ("call by call, 1 thread", call_by_call, 1),
                                           ("in rounds, 1 thread", in_rounds, 1)):
                    ips = fn(paths, pages, batch, threads, args.iters, args.rounds)
                    print(f"| {label} | {batch} | {' | '.join(f'{ips[n]:.0f}' for n in names)} | {ratio(ips):.2f}x |",
                          flush=True)


if __name__ == "__main__":
    main()
