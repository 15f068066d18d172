"""Snakemake script: collect every classification run into runs.csv and write the paper's DIC tables."""

from pathlib import Path

from distildoc.report.dic import dic_summary, load_runs, write_dic_tables
from distildoc.utils.io import write_json, write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out = snakemake.input, snakemake.output  # noqa: F821
paths = [Path(p) for p in inp.teachers] + sorted(m for d in inp.runs for m in Path(d).glob("*/metrics.json"))
df = load_runs(paths)
write_text(out.runs_csv, df.to_csv(index=False))
write_json(out.summary, dic_summary(df))
written = write_dic_tables(df, Path(out.tables))
log.info("read %d runs; wrote %d table files", len(paths), len(written))
