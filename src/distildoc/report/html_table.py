"""One CSV table as a self-contained HTML page for Snakemake's report.

Snakemake's HTML report (`snakemake --report report.html`) shows images, PDFs and HTML results in the page, but
offers a CSV only as a download: a table registered as CSV does not render. The report therefore registers this
page per table (workflow/rules/report.smk, rule report_html_tables): the table itself, where its CSV lives in the
run's results, and the CSV as a download link. No scripts and no outside resources, so the page renders the same
offline and inside the report's sandboxed frame.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 13px; margin: 12px; color: #1e293b; }
h1 { font-size: 16px; margin: 0 0 4px 0; }
p.source { color: #64748b; margin: 0 0 10px 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #cbd5e1; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f1f5f9; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: #f8fafc; }
p.empty { color: #b45309; font-weight: 600; }
"""


def csv_table_html(csv_path: str | Path, title: str, source: str | None = None) -> str:
    """The HTML page for one CSV: `title` as heading, `source` (the CSV's path in the run) and a download link,
    then every row of the CSV, cells exactly as written there."""
    csv_path = Path(csv_path)
    raw = csv_path.read_bytes()
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    table = frame.to_html(index=False, border=0, escape=True)
    link = (f'<a download="{html.escape(csv_path.name)}" '
            f'href="data:text/csv;base64,{base64.b64encode(raw).decode("ascii")}">CSV</a>')
    where = f"{html.escape(source)}, " if source else ""
    # a header-only CSV (e.g. Table 17 in a preset without a `table17` DocVQA dataset) says so instead of
    # showing a bare header
    empty = ('<p class="empty">No rows in this run: the preset produces nothing for this table (the CSV has its '
             'header only).</p>\n') if frame.empty else ""
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f"<p class=\"source\">{where}{len(frame)} rows &middot; {link}</p>\n"
        f"{empty}{table}\n</body>\n</html>\n"
    )
