"""Snakemake script: collect every layout model's metrics into runs.csv and Table 3."""

from pathlib import Path

from distildoc.report.dla import load_dla_runs, write_dla_tables
from distildoc.utils.io import write_json, write_text
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
df = load_dla_runs(list(snakemake.input.metrics), snakemake.input.efficiency)  # noqa: F821
write_text(snakemake.output.runs_csv, df.to_csv(index=False))  # noqa: F821
summary = {f"{r.teacher}__{r.role}__{r.method}": {"mAP": r.mAP, "gflops": r.gflops, "params_M": r.params_M,
                                                  "images_per_second": r.images_per_second} for r in df.itertuples()}
write_json(snakemake.output.summary, summary)  # noqa: F821
write_dla_tables(df, Path(snakemake.output.tables))  # noqa: F821
