"""Snakemake script: train, evaluate and measure one layout detector (optionally distilled).

Checkpoints live in `<model dir>/ckpt/<configuration key>/` (not an output: Snakemake keeps them when the
job fails, and a re-run resumes). Under torchrun every rank trains and rank 0 evaluates and writes."""

from pathlib import Path

from distildoc.train.dla import train_dla
from distildoc.utils import distributed as dist
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
dist.init_distributed()
inp, wc, p = snakemake.input, snakemake.wildcards, snakemake.params  # noqa: F821
teacher_dir = Path(inp.teacher).parent if "teacher" in inp.keys() else None
train_dla(Path(snakemake.output.metrics).parent, wc.dla_role, p.dla, inp.train, inp.val, p.images_root,  # noqa: F821
          method_key=None if wc.dla_method == "supervised" else wc.dla_method, teacher_dir=teacher_dir, seed=p.seed)
dist.cleanup()
