"""Snakemake script: every DocVQA cell into docvqa_runs.csv, docvqa.json and Tables 4, 16, 17 (and Table 16's reader
dimension when the preset has `docvqa.extra_readers`)."""

from pathlib import Path

from distildoc.report.docvqa import (docvqa_summary, load_docvqa_runs, reader_label, write_docvqa_tables,
                                     write_readers_table)
from distildoc.utils.io import read_json, write_json, write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
df = load_docvqa_runs(list(sm.input.metrics))
write_text(sm.output.runs_csv, df.to_csv(index=False, na_rep="NaN", lineterminator="\n"))
grids = [read_json(f) for f in sm.input.summaries]
reader = grids[0].get("reader", {}) if grids else {}
write_json(sm.output.summary, docvqa_summary(df, grids))
paths = write_docvqa_tables(df, sm.params.tables_dir, sm.params.datasets, sm.params.table4_dla_model,
                            reader=reader_label(reader))
if sm.input.reader_summaries:  # Table 16's reader dimension: the preset's reader, then docvqa.extra_readers
    readers = [{"name": "docvqa.reader", "info": reader, "df": df}]
    for summary in sm.input.reader_summaries:
        folder = Path(summary).parent
        cells = [f for f in sm.input.reader_metrics if Path(f).is_relative_to(folder)]
        readers.append({"name": folder.name, "info": read_json(summary).get("reader", {}),
                        "df": load_docvqa_runs(cells)})
    paths += write_readers_table(readers, sm.params.tables_dir, sm.params.datasets[0], sm.params.prompts)
missing = sorted(set(sm.output.tables) - {str(p) for p in paths})
if missing:
    raise RuntimeError(f"tables not written: {missing}")
log.info("%d cells -> %s", len(df), sm.output.runs_csv)
