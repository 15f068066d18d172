"""Snakemake script: the layout train / evaluation page sets (the first N pages of each COCO split)."""

from distildoc.data.coco import load_coco
from distildoc.train.dla import subset_coco
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
for src, dst, n in ((inp.train, out.train, p.n_train), (inp.val, out.val, p.n_val)):
    sub = subset_coco(load_coco(src), n)
    write_json(dst, sub, indent=None)
    log.info("%s: %d pages, %d regions -> %s", src, len(sub["images"]), len(sub["annotations"]), dst)
