"""Snakemake script: label files of the real classification test / split sets (paper preset).

``params.dataset`` is ``rvl_cdip_n`` (parquet shards or the folder-per-class release under ``input.raw``'s
folder -> images in folder-per-class layout under ``output.images`` + ``output.labels``, RVL-CDIP ids) or
``tobacco3482`` (class folders under the download -> ``tobacco_{train,val,test}.txt``, 80/20/rest per class,
seed ``params.seed``, paths relative to the download folder)."""

from pathlib import Path

from distildoc.data.rvlcdip import class_counts, prepare_rvl_cdip_n, tobacco3482_label_files
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
raw = Path(inp.raw).parent  # the download marker data/raw/<name>/.complete
if p.dataset == "rvl_cdip_n":
    entries = prepare_rvl_cdip_n(raw, out.images, out.labels)
    log.info("RVL-CDIP-N: %d images, per RVL-CDIP class %s -> %s", len(entries), class_counts(entries), out.labels)
elif p.dataset == "tobacco3482":
    written = tobacco3482_label_files(raw, Path(out.train).parent, p.train_per_class, p.val_per_class, p.seed)
    for split, path in written.items():
        if str(path) != str(out[split]):
            raise RuntimeError(f"tobacco3482: wrote {path}, the rule declares {out[split]}")
else:
    raise ValueError(f"real_labels: unknown dataset {p.dataset!r}")
