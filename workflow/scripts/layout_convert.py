"""Snakemake script: a real layout dataset -> the layout stage's COCO files ``layout/{train,val}.json``.

``params.dataset`` is ``doclaynet`` (COCO/{train,val}.json of DocLayNet core, precedence-0 annotations
only, file names made relative to the download folder) or ``prima`` (PAGE XML -> COCO with the 6 PRImA
categories; seeded split: ``params.test_fraction`` held out as val, ``params.seed``)."""

from pathlib import Path

from distildoc.data.coco import convert_doclaynet
from distildoc.data.prima import prepare_prima
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
raw = Path(inp.raw).parent  # the download marker data/raw/<name>/.complete
out_dir = Path(out.train).parent
if p.dataset == "doclaynet":
    written = convert_doclaynet(raw, out_dir, ("train", "val"))
elif p.dataset == "prima":
    written = prepare_prima(raw, out_dir, p.test_fraction, p.seed)
else:
    raise ValueError(f"layout_convert: unknown dataset {p.dataset!r}")
for split in ("train", "val"):
    if Path(written[split]) != Path(out[split]):
        raise RuntimeError(f"{p.dataset}: wrote {written[split]}, the rule declares {out[split]}")
    log.info("%s %s -> %s", p.dataset, split, written[split])
