"""Snakemake script: summary tables of the generated datasets and a contact sheet of rendered pages."""

from pathlib import Path

from distildoc.data.summary import contact_sheet, summarise_manifests, write_summary
from distildoc.utils.io import read_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out = snakemake.input, snakemake.output  # noqa: F821
df = summarise_manifests(list(inp.manifests))
subset_lines = Path(inp.subset).read_text().splitlines()
write_summary(df, Path(out.json), Path(out.csv), Path(out.md), extra={"student_subset_train": len(subset_lines)})
contact_sheet(Path(inp.manifests[0]).parents[1], Path(out.figure))  # .../synthetic
