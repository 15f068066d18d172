"""Snakemake script: train, evaluate and measure one layout detector (optionally distilled)."""

from pathlib import Path

from distildoc.train.dla import train_dla
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, wc, p = snakemake.input, snakemake.wildcards, snakemake.params  # noqa: F821
teacher_dir = Path(inp.teacher).parent if "teacher" in inp.keys() else None
train_dla(Path(snakemake.output.metrics).parent, wc.dla_role, p.dla, inp.train, inp.val, p.images_root,  # noqa: F821
          method_key=None if wc.dla_method == "supervised" else wc.dla_method, teacher_dir=teacher_dir, seed=p.seed)
