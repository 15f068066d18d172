"""Table-aware page text: LATIN's space layout with table rows linearised as ``label | header: value | ...``.

Beyond the paper. A small reader cannot follow a table's columns in the space layout (the header "1987" sits
far above "$117,047", and an OCR engine may read a column as a separate block after the table); writing each
table row as one line that names its column headers turns a 2-D lookup into a key-value lookup. This is the
row-by-row *table linearisation* of table QA (TaPas, Herzig et al. 2020, flattens a table row by row with
row / column ids; TAPEX, Liu et al. 2022, writes "col : h1 | h2 row 1 : v1 | v2"; Sui et al. 2024, "Table
Meets LLM", compare such serialisations for LLMs), here with each value next to its header, applied to
tables found in OCR geometry instead of given as cells:

1. **Cells.** Each OCR line (tags left out) is split into cells where the gap between two words is wider than
   ``gap_factor`` (2) times the line's median word height ("Salaries  ...  $117,047" -> two cells).
2. **Rows.** Lines are grouped into visual rows by geometry, whatever their OCR order (LATIN's
   :func:`~distildoc.docvqa.layout.is_same_row` against the row's first line, lines taken by vertical
   midpoint), so a column read as a separate block joins its rows again. A row with a layout tag is never
   part of a table.
3. **Tables.** Top-down, a *header* is a row of cells of at most ``max_cell_words`` (5) words, none an amount
   (a currency sign or digits around "." / ","; years are fine); its cells are the columns (>= 2). The rows right below it join the table while each is a *body row*: cells ending left
   of the first column form the row label; every other cell x-overlaps a column (the column of largest
   overlap takes it, cells sharing a column are joined; the column's range grows by it) and has at most
   ``max_cell_words`` words; at least one value; a row without a label needs >= 2 values (a total line,
   not a stray heading under one column). The table is kept when it has >= 2 labelled rows, some row fills
   >= 2 columns, every column has a value (so no header word is lost from the text) and at least half of
   its values hold a digit (multi-column prose has short aligned lines too, but no numbers). Failing that, the header's first cell is tried as the heading of the label column
   ("Item  1987  1986": the other cells are the columns); failing both, the next row is tried as a header.
4. **Text.** Each body row becomes ``label | header: value | header: value`` (``Item: label | ...`` under a
   label-column heading; an empty cell is left out; a row without a label starts with its first
   ``header: value``); the header row itself is not repeated. The lines of a table replace its OCR lines
   at the first space-layout row that holds one of them; every other line is rendered as
   :func:`~distildoc.docvqa.layout.space_layout` renders it (same rows, same character width), so a page
   without a table gives exactly its space layout.

The table text only re-orders the page's words and adds header words and separators; extractive decoding
still takes its spans from the OCR words (:func:`distildoc.docvqa.llm.base.page_words`), not from this text.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from distildoc.data.ocr import Box, OcrPage
from distildoc.docvqa.enrich import is_tag
from distildoc.docvqa.layout import (
    char_width,
    group_rows,
    is_same_row,
    line_segments,
    render_row,
    space_layout,
    union_box,
)

#: a gap wider than this many word heights (the line's median) separates two cells of one line
GAP_FACTOR = 2.0
#: header and value cells are short; a longer cell is text, not a table cell (row labels may be longer)
MAX_CELL_WORDS = 5
#: a table needs at least this many rows with a label
MIN_LABELLED_ROWS = 2
#: an amount ("$1,200", "3.5"): a body value, never a column header (a table's first row is not its header)
AMOUNT = re.compile(r"[$€£]|\d[.,]\d")


@dataclass(frozen=True)
class Cell:
    text: str
    box: Box
    n_words: int


@dataclass(frozen=True)
class TableRow:
    """One body row: its label ("" when none) and one value per column (None: empty cell)."""

    label: str
    values: tuple[str | None, ...]


@dataclass(frozen=True)
class Table:
    """A detected table: column headers (left to right), body rows (top to bottom), the indices (into
    ``page.lines``) of the OCR lines it replaces, and the header of the label column ("" when none)."""

    header: tuple[str, ...]
    rows: tuple[TableRow, ...]
    lines: frozenset[int]
    label_header: str = ""


@dataclass
class _Row:
    lines: list[int]
    cells: list[Cell]
    tagged: bool


def line_cells(words: Sequence[str], boxes: Sequence[Box], gap_factor: float = GAP_FACTOR) -> list[Cell]:
    """The cells of one OCR line: its words split where the horizontal gap exceeds `gap_factor` x the median
    word height (words in OCR order; tags are the caller's business)."""
    if not words:
        return []
    gap = gap_factor * statistics.median(b[3] - b[1] for b in boxes)
    groups: list[list[int]] = [[0]]
    for i in range(1, len(words)):
        if boxes[i][0] - boxes[i - 1][2] > gap:
            groups.append([])
        groups[-1].append(i)
    return [Cell(" ".join(words[i] for i in g), union_box([boxes[i] for i in g]), len(g)) for g in groups]


def visual_rows(page: OcrPage, gap_factor: float = GAP_FACTOR) -> list[_Row]:
    """Non-empty OCR lines grouped into visual rows by geometry (top to bottom), with their cells left to right."""
    lines: list[tuple[float, float, int, Box]] = []  # (vertical midpoint, x1, line index, box)
    for i, (s, e) in enumerate(page.lines):
        boxes = [b for w, b in zip(page.words[s:e], page.boxes[s:e]) if not is_tag(w)]
        if boxes:
            box = union_box(boxes)
            lines.append(((box[1] + box[3]) / 2, box[0], i, box))
    rows: list[_Row] = []
    anchor: Box | None = None
    for _, _, i, box in sorted(lines):
        s, e = page.lines[i]
        words = [(w, b) for w, b in zip(page.words[s:e], page.boxes[s:e]) if not is_tag(w)]
        cells = line_cells([w for w, _ in words], [b for _, b in words], gap_factor)
        tagged = len(words) < e - s
        if rows and anchor is not None and is_same_row(anchor, box):
            rows[-1].lines.append(i)
            rows[-1].cells.extend(cells)
            rows[-1].tagged |= tagged
        else:
            rows.append(_Row([i], list(cells), tagged))
            anchor = box
    for row in rows:
        row.cells.sort(key=lambda c: c.box[0])
    return rows


def _x_overlap(box: Box, column: Sequence[float]) -> float:
    return min(box[2], column[1]) - max(box[0], column[0])


def body_row(
    cells: Sequence[Cell], columns: list[list[float]], max_cell_words: int = MAX_CELL_WORDS
) -> TableRow | None:
    """`cells` (left to right) as a row under `columns` (``[x1, x2]`` each, widened in place by the cells
    of an accepted row), or None when they do not fit the rules of the module docstring."""
    label: list[str] = []
    taken: list[tuple[int, Cell]] = []
    for cell in cells:
        if not taken and cell.box[2] <= columns[0][0]:
            label.append(cell.text)
            continue
        k = max(range(len(columns)), key=lambda c: _x_overlap(cell.box, columns[c]))
        if _x_overlap(cell.box, columns[k]) <= 0 or cell.n_words > max_cell_words:
            return None
        taken.append((k, cell))
    values: list[list[str]] = [[] for _ in columns]
    for k, cell in taken:
        values[k].append(cell.text)
    n_values = sum(1 for v in values if v)
    if n_values == 0 or (not label and n_values < 2):
        return None
    for k, cell in taken:
        columns[k][0], columns[k][1] = min(columns[k][0], cell.box[0]), max(columns[k][1], cell.box[2])
    return TableRow(" ".join(label), tuple(" ".join(v) if v else None for v in values))


def _table_at(rows: Sequence[_Row], i: int, label_column: bool, max_cell_words: int) -> tuple[Table, int] | None:
    """The table whose header is ``rows[i]`` (its first cell heading the labels when `label_column`) and
    the index of the first row after it, or None."""
    head = rows[i].cells[1:] if label_column else rows[i].cells
    if (rows[i].tagged or len(head) < 2 or any(c.n_words > max_cell_words for c in rows[i].cells)
            or any(AMOUNT.search(c.text) for c in head)):
        return None
    columns = [[c.box[0], c.box[2]] for c in head]
    body: list[TableRow] = []
    j = i + 1
    while j < len(rows) and not rows[j].tagged and (row := body_row(rows[j].cells, columns, max_cell_words)):
        body.append(row)
        j += 1
    values = [v for r in body for v in r.values if v is not None]
    if (sum(1 for r in body if r.label) < MIN_LABELLED_ROWS
            or not any(sum(v is not None for v in r.values) >= 2 for r in body)
            or not all(any(r.values[k] is not None for r in body) for k in range(len(head)))
            or 2 * sum(1 for v in values if any(ch.isdigit() for ch in v)) < len(values)):
        return None
    label_header = rows[i].cells[0].text if label_column else ""
    lines = frozenset(k for r in rows[i:j] for k in r.lines)
    return Table(tuple(c.text for c in head), tuple(body), lines, label_header), j


def detect_tables(
    page: OcrPage, gap_factor: float = GAP_FACTOR, max_cell_words: int = MAX_CELL_WORDS
) -> list[Table]:
    """The table-like blocks of `page`, top to bottom (rules in the module docstring)."""
    rows = visual_rows(page, gap_factor)
    tables: list[Table] = []
    i = 0
    while i < len(rows):
        found = _table_at(rows, i, False, max_cell_words) or _table_at(rows, i, True, max_cell_words)
        if found is None:
            i += 1
        else:
            tables.append(found[0])
            i = found[1]
    return tables


def serialise_row(header: Sequence[str], row: TableRow, label_header: str = "") -> str:
    """``label | header: value | ...``; empty cells left out (``Rent | 1987: 9,154``); with a label column
    header: ``Item: Rent | 1987: 9,154``."""
    parts = [f"{label_header}: {row.label}" if label_header else row.label] if row.label else []
    parts += [f"{h}: {v}" for h, v in zip(header, row.values) if v is not None]
    return " | ".join(parts)


def serialise_table(table: Table) -> list[str]:
    return [serialise_row(table.header, row, table.label_header) for row in table.rows]


def table_layout(page: OcrPage, gap_factor: float = GAP_FACTOR, max_cell_words: int = MAX_CELL_WORDS) -> str:
    """The space layout of `page` with each detected table written row by row (module docstring)."""
    tables = detect_tables(page, gap_factor, max_cell_words)
    if not tables:
        return space_layout(page)
    segments = line_segments(page)
    line_ids = [i for i, (s, e) in enumerate(page.lines) if e > s]  # line_segments' lines, in its order
    line_of = {id(seg): i for seg, i in zip(segments, line_ids)}
    owner = {line: t for t, table in enumerate(tables) for line in table.lines}
    rows = group_rows(segments)
    cw = char_width(rows)
    out: list[str] = []
    emitted: set[int] = set()
    for row in rows:
        kept = [seg for seg in row if line_of[id(seg)] not in owner]
        if kept:
            out.append(render_row(kept, cw))
        for seg in row:
            t = owner.get(line_of[id(seg)])
            if t is not None and t not in emitted:
                emitted.add(t)
                out.extend(serialise_table(tables[t]))
    return "\n".join(out)
