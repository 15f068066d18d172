"""distildoc.report.html_table: a CSV as the self-contained HTML page Snakemake's report shows."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from distildoc.report.html_table import csv_table_html


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs) -> None:  # noqa: ANN001
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag) -> None:  # noqa: ANN001
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data) -> None:  # noqa: ANN001
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Cells:
    parser = _Cells()
    parser.feed(page)
    return parser


def test_every_row_and_cell_as_written_and_the_csv_linked(tmp_path: Path) -> None:
    csv = tmp_path / "table6.csv"
    csv.write_text('Teacher,Method,ACC\nViT-B,ce_kd,0.8125\nViT-B,<b>mse</b>,\n"R101, x",simkd,NA\n')
    page = csv_table_html(csv, title="table6 (this run)", source="results/smoke/report/tables/dic_table6.csv")
    cells = _parse(page)
    assert cells.rows == [["Teacher", "Method", "ACC"], ["ViT-B", "ce_kd", "0.8125"], ["ViT-B", "<b>mse</b>", ""],
                          ["R101, x", "simkd", "NA"]]  # escaped, empty and "NA" cells kept as written
    assert "script" not in cells.tags and "<b>mse" not in page  # no scripts, markup escaped
    assert "results/smoke/report/tables/dic_table6.csv, 3 rows" in page
    link = re.search(r'href="data:text/csv;base64,([^"]+)"', page)
    assert base64.b64decode(link.group(1)) == csv.read_bytes()
    assert 'class="empty"' not in page


def test_a_header_only_csv_says_it_has_no_rows(tmp_path: Path) -> None:
    csv = tmp_path / "table17.csv"
    csv.write_text("Prompt,DLA,ANLS\n")
    page = csv_table_html(csv, title="docvqa_table17 (this run)")
    cells = _parse(page)
    assert cells.rows == [["Prompt", "DLA", "ANLS"]]
    assert 'class="empty"' in page and "No rows in this run" in page
