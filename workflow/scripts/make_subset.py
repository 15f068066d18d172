"""Snakemake script: the paper's RVL-CDIP_1k student subset (shuffle with a seed, first N per class)."""

from distildoc.data.rvlcdip import read_label_file, subset_per_class
from distildoc.utils.io import write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
for split, n in (("train", p.train_per_class), ("val", p.val_per_class)):
    entries = read_label_file(inp[split])
    chosen = subset_per_class(entries, n, seed=p.seed)
    write_text(out[split], "".join(f"{path} {label}\n" for path, label in chosen))
    log.info("%s: %d of %d entries (%d per class) -> %s", split, len(chosen), len(entries), n, out[split])
