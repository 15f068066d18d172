"""Time one training step of a ViT-T student: CE, CE+KD with the online ViT-B teacher, CE+KD with the
teacher-output cache (the `default` preset's sizes: 96 px, batch 32, embedded architectures).

    python benchmarks/kd_step.py [--steps 30] [--threads 1] [--batch 32]

Prints ms/step for each and the two ratios to CE. Target: cached KD / CE <= 1.10.
"""

from __future__ import annotations

import argparse
import time

import torch

from distildoc.data.tensors import TensorSplit
from distildoc.distill import build_method
from distildoc.models.classification import ALL_FEATURES
from distildoc.models.registry import get_spec
from distildoc.models.classification import build_model
from distildoc.train.classification import OnlineTeacher, TeacherCache, compute_teacher_outputs


def step_time(model, method, split, teacher, batch: int, steps: int, warmup: int = 5) -> float:
    opt = torch.optim.AdamW(list(model.parameters()) + list(method.trainable_parameters()), lr=1e-3)
    model.train()
    feats = frozenset(method.student_needs | method.predict_needs)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        idx = torch.randint(0, len(split), (batch,), generator=gen)
        t0 = time.perf_counter()
        x, y = split.batch(idx)
        s = model(x, feats)
        t = teacher.outputs(idx, x) if teacher is not None else None
        loss = method(s, t, y)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]  # median


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--n", type=int, default=512, help="examples in the synthetic split")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    size = 96
    split = TensorSplit(torch.randint(0, 256, (args.n, size, size), dtype=torch.uint8),
                        torch.randint(0, 16, (args.n,)), [str(i) for i in range(args.n)], [])
    teacher = build_model(get_spec("ViT-B", "embedded", img_size=size))
    t0 = time.perf_counter()
    cache = TeacherCache(compute_teacher_outputs(teacher, split, frozenset({"logits"}), progress=False), "bench")
    cache_s = time.perf_counter() - t0

    def student():
        torch.manual_seed(0)
        return build_model(get_spec("ViT-T", "embedded", img_size=size))

    ce = step_time(student(), build_method("ce"), split, None, args.batch, args.steps)
    online = step_time(student(), build_method("ce_kd"), split, OnlineTeacher(teacher, frozenset({"logits"})),
                       args.batch, args.steps)
    cached = step_time(student(), build_method("ce_kd"), split, cache, args.batch, args.steps)
    print(f"threads={args.threads} batch={args.batch} img={size}px student=ViT-T teacher=ViT-B (embedded)")
    print(f"cache build: {cache_s:.2f} s for {args.n} examples ({1000 * cache_s / args.n:.2f} ms/example)")
    print(f"CE            {1000 * ce:8.1f} ms/step")
    print(f"CE+KD online  {1000 * online:8.1f} ms/step   ratio to CE {online / ce:.2f}")
    print(f"CE+KD cached  {1000 * cached:8.1f} ms/step   ratio to CE {cached / ce:.2f}   (target <= 1.10)")


if __name__ == "__main__":
    main()
