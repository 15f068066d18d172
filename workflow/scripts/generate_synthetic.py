"""Snakemake script: render one split of the synthetic benchmark (see distildoc.data.synthetic)."""

from pathlib import Path

from distildoc.data.synthetic.generate import generate_split
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
wc, p = snakemake.wildcards, snakemake.params  # noqa: F821
root = Path(snakemake.output.manifest).parents[1]  # noqa: F821 - .../synthetic
width, height = p.page_size
generate_split(root, wc.dataset, wc.split, p.n_per_class, p.seed, width, height, p.max_questions,
               inject_corrupt=bool(p.inject_corrupt))
