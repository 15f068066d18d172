"""Hand-built pages for the table-aware page text (``docvqa/tables.py``) and its prompt types."""

from __future__ import annotations

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.layout import space_layout
from distildoc.docvqa.llm.base import page_words, prompt_parts
from distildoc.docvqa.prompts import (
    ALL_PROMPT_TYPES,
    FOCUS_PROMPT_TYPES,
    PROMPT_TYPES,
    TABLE_PROMPT_TYPES,
    TASK_PREAMBLE,
    build_prompt,
    document_text,
)
from distildoc.docvqa.run import grid_cells
from distildoc.docvqa.tables import TableRow, detect_tables, line_cells, serialise_row, table_layout

# Words are 20 px high; every x below is chosen by hand. Columns: 2020 over x 290..345, 2019 over 440..495.
PARAGRAPH = [("Annual", 100, 220), ("costs", 240, 340), ("of", 360, 400), ("the", 420, 480), ("club", 500, 580)]
HEADER = [("2020", 300, 340), ("2019", 450, 490)]
ROWS = [
    [("Salaries", 100, 180), ("$1,200", 290, 345), ("$1,100", 440, 495)],
    [("Rent", 100, 140), ("$800", 305, 345), ("$750", 455, 495)],
    [("Travel", 100, 160), ("costs", 170, 220), ("$300", 305, 345), ("$250", 455, 495)],
]


def make_page(lines: list[tuple[list[tuple[str, float, float]], float]], doc_id: str = "t") -> OcrPage:
    """One OCR line per ``(words, top)``: words ``(text, x1, x2)``, 20 px high from `top`."""
    words, boxes, ranges = [], [], []
    for line, top in lines:
        ranges.append((len(words), len(words) + len(line)))
        for text, x1, x2 in line:
            words.append(text)
            boxes.append((float(x1), float(top), float(x2), float(top) + 20))
    return OcrPage(doc_id, words, boxes, ranges, 1000, 1000)


def table_page(rows: list[list[tuple[str, float, float]]] = ROWS) -> OcrPage:
    # paragraph at y 10, header at 50, body rows at 90, 130, 170
    return make_page([(PARAGRAPH, 10), (HEADER, 50)] + [(r, 90 + 40 * k) for k, r in enumerate(rows)])


def test_cells_split_at_wide_gaps():
    cells = line_cells(["Travel", "costs", "$300", "$250"], [(100, 0, 160, 20), (170, 0, 220, 20),
                                                              (305, 0, 345, 20), (455, 0, 495, 20)])
    assert [(c.text, c.box, c.n_words) for c in cells] == [
        ("Travel costs", (100, 0, 220, 20), 2), ("$300", (305, 0, 345, 20), 1), ("$250", (455, 0, 495, 20), 1)]


def test_two_column_table_serialised_row_by_row():
    page = table_page()
    # char width: the paragraph is the row with the most characters (24 over x 100..580) -> 20 px, column 5
    assert table_layout(page) == (
        "     Annual costs of the club\n"
        "Salaries | 2020: $1,200 | 2019: $1,100\n"
        "Rent | 2020: $800 | 2019: $750\n"
        "Travel costs | 2020: $300 | 2019: $250"
    )
    [table] = detect_tables(page)
    assert table.header == ("2020", "2019") and table.label_header == ""
    assert table.lines == frozenset({1, 2, 3, 4})  # the header line and the three rows, not the paragraph
    assert set(page.words) <= {w.rstrip(":") for w in table_layout(page).split()}  # no word lost


def test_a_header_cell_over_no_value_is_no_table():
    # "Page 1" on the header's line would head an empty column: no table, so no word goes missing
    header = HEADER + [("Page", 700, 760), ("1", 770, 780)]
    page = make_page([(PARAGRAPH, 10), (header, 50)] + [(r, 90 + 40 * k) for k, r in enumerate(ROWS)])
    assert detect_tables(page) == []
    assert table_layout(page) == space_layout(page)


def test_column_read_as_a_separate_block_joins_its_rows():
    # the OCR read the 2019 column after the table (as Tesseract did on the fixture), then a footnote
    lines = [(PARAGRAPH, 10), ([HEADER[0]], 50)] + [([r[0], r[1]], 90 + 40 * k) for k, r in enumerate(ROWS[:2])]
    lines += [([("Travel", 100, 160), ("costs", 170, 220), ("$300", 305, 345)], 170), ([HEADER[1]], 50)]
    lines += [([r[-1]], 90 + 40 * k) for k, r in enumerate(ROWS)] + [([("Note", 100, 180)], 300)]
    assert table_layout(make_page(lines)) == (
        "     Annual costs of the club\n"
        "Salaries | 2020: $1,200 | 2019: $1,100\n"
        "Rent | 2020: $800 | 2019: $750\n"
        "Travel costs | 2020: $300 | 2019: $250\n"
        "     Note"
    )


def test_ragged_row_omits_the_missing_cell():
    rows = [ROWS[0], ROWS[1][:2], ROWS[2]]  # Rent has no 2019 value
    assert table_layout(table_page(rows)).splitlines()[1:] == [
        "Salaries | 2020: $1,200 | 2019: $1,100",
        "Rent | 2020: $800",
        "Travel costs | 2020: $300 | 2019: $250",
    ]
    assert serialise_row(("2020", "2019"), TableRow("", (None, "$9"))) == "2019: $9"


def test_label_column_heading():
    header = [("Item", 100, 140)] + HEADER
    page = make_page([(header, 50)] + [(r, 90 + 40 * k) for k, r in enumerate(ROWS)])
    assert table_layout(page).splitlines() == [
        "Item: Salaries | 2020: $1,200 | 2019: $1,100",
        "Item: Rent | 2020: $800 | 2019: $750",
        "Item: Travel costs | 2020: $300 | 2019: $250",
    ]


def test_page_without_table_is_the_space_layout():
    # a paragraph, a two-cell line ("Invoice ... No: 42") and a line to its right in another OCR line
    page = make_page([
        (PARAGRAPH, 10),
        ([("Invoice", 100, 240), ("No:", 500, 560), ("42", 570, 600)], 50),
        ([("Total", 100, 200), ("amount", 210, 330)], 90),
        ([("due", 600, 660)], 90),
    ])
    assert detect_tables(page) == []
    assert table_layout(page) == space_layout(page)
    empty = OcrPage("e", [], [], [], 10, 10)
    assert table_layout(empty) == space_layout(empty) == ""


def test_aligned_prose_columns_are_not_a_table():
    # two columns of short text lines: aligned like a table, but no numbers
    left = [("alpha", 100, 200), ("beta", 210, 290)]
    right = [("gamma", 450, 550), ("delta", 560, 640)]
    page = make_page([(left + right, 10 + 40 * k) for k in range(4)])
    assert detect_tables(page) == []
    assert table_layout(page) == space_layout(page)


def test_a_header_line_with_a_layout_tag_is_no_table():
    page = table_page()
    page.words[5] = "<Table>"  # the first word of the header line becomes a tag
    assert detect_tables(page) == []
    assert table_layout(page) == space_layout(page)


def test_table_prompt_types_build():
    assert PROMPT_TYPES == ("plain", "space", "task", "task_space")
    assert TABLE_PROMPT_TYPES == ("table", "task_table")
    assert ALL_PROMPT_TYPES == PROMPT_TYPES + TABLE_PROMPT_TYPES + FOCUS_PROMPT_TYPES
    page, question = table_page(), "What is the Rent for 2019?"
    for table_type, space_type in (("table", "space"), ("task_table", "task_space")):
        prompt = build_prompt(table_type, page, question)
        assert document_text(table_type, page) == table_layout(page)
        assert prompt == build_prompt(space_type, page, question).replace(space_layout(page), table_layout(page))
        assert "Rent | 2020: $800 | 2019: $750" in prompt
    assert build_prompt("task_table", page, question).startswith(TASK_PREAMBLE)
    assert not build_prompt("table", page, question).startswith(TASK_PREAMBLE)
    assert [c.prompt for c in grid_cells(["table", "task_table"], ["task_table"], ["m"])] == [
        "table", "task_table", "task_table"]
    with pytest.raises(ValueError, match="unknown prompt type"):
        build_prompt("tables", page, question)


def test_extractive_words_are_the_ocr_words():
    # the table text adds header words and separators ("2019:", "|"); answers still come from the OCR words
    page = table_page()
    parts = prompt_parts("task_table", page, "What is the Rent for 2019?")
    assert parts.document == table_layout(page)
    assert parts.words == page_words(page) == tuple(page.words)
    assert "2019:" not in parts.words and "|" not in parts.words
