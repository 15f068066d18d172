"""Snakemake script: the regenerated paper tables (the stages' CSVs) gathered for the HTML report."""

import shutil
from pathlib import Path

from distildoc.utils.io import atomic_path, write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
sources = {"dic": Path(sm.input.dic_tables), "dla": Path(sm.input.dla_tables),
           "docvqa": Path(sm.input.docvqa_tables[0]).parent}
for out in map(Path, sm.output):
    stage, name = out.stem.split("_", 1)
    src = sources[stage] / f"{name}.csv"
    if src.exists():
        with atomic_path(out) as tmp:
            shutil.copyfile(src, tmp)
    else:  # a stage skips a table that has no runs in this preset (e.g. no pretrained students)
        log.warning("%s: not written by the %s stage in this preset", src, stage)
        write_text(out, f"note\n{src.name} was not produced in this preset (no runs for it)\n")
