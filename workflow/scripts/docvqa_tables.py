"""Snakemake script: every DocVQA cell into docvqa_runs.csv, docvqa.json and Tables 4, 16, 17."""

from distildoc.report.docvqa import docvqa_summary, load_docvqa_runs, write_docvqa_tables
from distildoc.utils.io import read_json, write_json, write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
df = load_docvqa_runs(list(sm.input.metrics))
write_text(sm.output.runs_csv, df.to_csv(index=False, na_rep="NaN", lineterminator="\n"))
grids = [read_json(f) for f in sm.input.summaries]
reader = grids[0].get("reader", {}) if grids else {}
reader_name = reader.get("model") or reader.get("backend") or "the reader"
if reader.get("gguf_file"):
    reader_name = reader["gguf_file"]
write_json(sm.output.summary, docvqa_summary(df, grids))
paths = write_docvqa_tables(df, sm.params.tables_dir, sm.params.datasets, sm.params.table4_dla_model,
                            reader=reader_name)
missing = sorted(set(sm.output.tables) - {str(p) for p in paths})
if missing:
    raise RuntimeError(f"tables not written: {missing}")
log.info("%d cells -> %s", len(df), sm.output.runs_csv)
