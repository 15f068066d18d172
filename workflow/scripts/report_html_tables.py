"""Snakemake script: each table the HTML report shows (a CSV of rules report_tables / report_compare /
report_claims) as a page of its own (distildoc.report.html_table), in input order."""

from pathlib import Path

from distildoc.report.html_table import csv_table_html
from distildoc.utils.io import write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
assert len(sm.input.tables) == len(sm.output), (len(sm.input.tables), len(sm.output))
for src, out, title in zip(map(Path, sm.input.tables), map(Path, sm.output), sm.params.titles):
    write_text(out, csv_table_html(src, title=title, source=str(src)))
    log.info("%s -> %s", src, out)
