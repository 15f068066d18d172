"""Snakemake script: collect every classification run into runs.csv and write the paper's DIC tables, the
KD-vs-supervised intervals, the knowledge-gap table and the post-hoc calibration tables (distildoc.report.dic,
distildoc.report.dic_stats, distildoc.report.calibration)."""

from pathlib import Path

from distildoc.report.calibration import write_calibration_tables
from distildoc.report.dic import dic_summary, load_runs, write_dic_tables
from distildoc.report.dic_stats import interval_summary, kd_vs_supervised, knowledge_gap, write_interval_tables
from distildoc.utils.io import write_json, write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out = snakemake.input, snakemake.output  # noqa: F821
paths = [Path(p) for p in dict.fromkeys(inp.teachers)] + sorted(m for d in inp.runs for m in Path(d).glob("*/metrics.json"))
df = load_runs(paths)
write_text(out.runs_csv, df.to_csv(index=False))
written = write_dic_tables(df, Path(out.tables))
# 95 % intervals, 2000 page resamples drawn with seed 0 (the functions' defaults)
kd = kd_vs_supervised(df)
gap = knowledge_gap(df, kd)
write_text(out.kd_csv, kd.to_csv(index=False, na_rep="NaN"))
write_text(out.gap_csv, gap.to_csv(index=False, na_rep="NaN"))
written += write_interval_tables(kd, gap, Path(out.tables))
# ECE / AURC / NLL before and after temperature scaling (fitted on each run's val split)
written += write_calibration_tables(df, Path(out.tables))
summary = dic_summary(df)
for dataset, cells in interval_summary(kd, gap).items():  # per dataset: {init: {kd_vs_supervised, knowledge_gap}}
    summary.setdefault(dataset, {})["intervals"] = cells
write_json(out.summary, summary)
log.info("read %d runs; %d KD-vs-supervised comparisons; wrote %d table files", len(paths), len(kd), len(written))
