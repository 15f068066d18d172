"""Snakemake script: decode classification splits once to uint8 tensors at the final size.

Unreadable images (missing, empty, truncated) are skipped; each tensor file names them (`skipped`), the log
says `skipped_inputs=<n>` per split, and every run evaluated on the split carries them in its metrics."""

from distildoc.data.tensors import build_split
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, p = snakemake.input, snakemake.params  # noqa: F821
for labels, root, out in zip(inp.labels, p.roots, snakemake.output):  # noqa: F821
    split = build_split(labels, root, p.size, out)
    log.info("%s: skipped_inputs=%d %s", out, len(split.skipped), split.skipped)
