"""Snakemake script: the student trained on the real teacher's pseudo-labels with the layout stage's recipe
(`distildoc.train.dla.train_dla`; evaluated on the synthetic validation pages' ground truth)."""

from pathlib import Path

from distildoc.train.dla import train_dla
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
train_dla(Path(out.metrics).parent, p.role, p.dla, inp.train, inp.val, p.images_root, seed=p.seed)
