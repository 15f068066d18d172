"""Snakemake script: decode classification splits once to uint8 tensors at the final size."""

from distildoc.data.tensors import build_split
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, p = snakemake.input, snakemake.params  # noqa: F821
for labels, root, out in zip(inp.labels, p.roots, snakemake.output):  # noqa: F821
    build_split(labels, root, p.size, out)
