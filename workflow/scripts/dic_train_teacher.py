"""Snakemake script: train (or take as published) one classification teacher, evaluate it, and cache
its outputs on the student train / val splits (content-keyed; every student run of this teacher reuses them).

Training checkpoints go to `<run dir>.ckpt/` (not an output, so Snakemake keeps it when the job fails):
a re-run of a killed job resumes there; it is removed once every output is written. Under torchrun
(`resources: gpu` > 1) every rank trains and rank 0 writes."""

import shutil
from pathlib import Path

from distildoc.data.tensors import load_split
from distildoc.train.classification import write_teacher_cache
from distildoc.train.dic import train_teacher
from distildoc.utils import distributed as dist
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
dist.init_distributed()
inp, out, wc, p = snakemake.input, snakemake.output, snakemake.wildcards, snakemake.params  # noqa: F821
evals = {k[len("eval_"):]: load_split(v) for k, v in inp.items() if k.startswith("eval_")}
init_from = Path(inp.init_from).parent if "init_from" in inp.keys() else None
run_dir = Path(out.metrics).parent
ckpt_dir = run_dir.with_name(run_dir.name + ".ckpt")
train_teacher(run_dir, wc.dsname, wc.teacher, p.dic, load_split(inp.train), load_split(inp.val), evals,
              init_from=init_from, ckpt_dir=ckpt_dir)
if dist.is_main_process():
    for split_path, cache_path in zip(inp.student_splits, (out.cache_train, out.cache_val)):
        write_teacher_cache(run_dir, load_split(split_path), cache_path, p.dic["cache_dtype"], p.dic["eval_batch_size"])
    shutil.rmtree(ckpt_dir, ignore_errors=True)
dist.cleanup()
