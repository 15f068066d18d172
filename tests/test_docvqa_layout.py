"""Hand-worked tests of LATIN-Prompt's space layout (with DistilDoc's tag-free character width)."""

from __future__ import annotations

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.enrich import enrich_page
from distildoc.docvqa.layout import (
    char_width,
    group_rows,
    is_same_row,
    line_segments,
    plain_text,
    space_layout,
)


def three_line_page() -> OcrPage:
    #   line 0 "Invoice"           box (100,10,240,30)   \ same visual row (midpoints 20 / 20)
    #   line 1 "No: 42"            box (500,10,600,30)   /
    #   line 2 "Total amount due"  box (100,50,400,70)
    return OcrPage(
        doc_id="inv",
        words=["Invoice", "No:", "42", "Total", "amount", "due"],
        boxes=[
            (100, 10, 240, 30),
            (500, 10, 560, 30),
            (570, 10, 600, 30),
            (100, 50, 200, 70),
            (210, 50, 330, 70),
            (340, 50, 400, 70),
        ],
        lines=[(0, 1), (1, 3), (3, 6)],
        width=1000,
        height=1000,
    )


def test_three_line_page_by_hand():
    page = three_line_page()
    rows = group_rows(line_segments(page))
    assert [[s.text for s in row] for row in rows] == [["Invoice", "No: 42"], ["Total amount due"]]
    # row 0: 7 + 6 = 13 chars over x 100..600; row 1: 16 chars over x 100..400 -> the widest in chars.
    assert char_width(rows) == pytest.approx(300 / 16)  # 18.75
    # columns: int(100 / 18.75) = 5, int(500 / 18.75) = 26 -> 26 - len("     Invoice") = 14 spaces.
    expected = "     Invoice" + " " * 14 + "No: 42\n" + "     Total amount due"
    assert space_layout(page) == expected
    assert plain_text(page) == "Invoice\nNo: 42\nTotal amount due"
    assert plain_text(page, sep=" ") == "Invoice No: 42 Total amount due"


def test_tags_not_counted_in_char_width():
    page = three_line_page()
    tagged = OcrPage(
        doc_id="inv",
        words=["<Title>", "Invoice", "</Title>"] + page.words[1:],
        boxes=[(99.0, 9.9, 237.6, 29.7), page.boxes[0], (101.0, 10.1, 242.4, 30.3)] + page.boxes[1:],
        lines=[(0, 3), (3, 5), (5, 8)],
        width=1000,
        height=1000,
    )
    rows = group_rows(line_segments(tagged))
    # Still 13 chars in row 0 (tags dropped) -> char width from row 1 as before. Counting the tags
    # would make row 0 (24 + 6 = 30 chars) the widest and the char width 500 / 30.
    assert char_width(rows) == pytest.approx(18.75)
    # the segment box ignores the tags' scaled boxes: column int(100 / 18.75) = 5
    assert line_segments(tagged)[0].box == (100, 10, 240, 30)
    # "     <Title> Invoice </Title>" is 29 chars > column 26 of "No: 42": one separating space.
    assert space_layout(tagged) == "     <Title> Invoice </Title> No: 42\n     Total amount due"


def test_enriched_page_layout_end_to_end():
    page = three_line_page()
    preds = {"boxes": [(90, 0, 250, 40)], "labels": ["Title"], "scores": [0.9], "image_size": (1000, 1000)}
    assert space_layout(enrich_page(page, preds)) == "     <Title> Invoice </Title> No: 42\n     Total amount due"


def test_empty_pages():
    assert space_layout(OcrPage("e", [], [], [], 10, 10)) == ""
    assert space_layout(OcrPage("e", ["x"], [(0, 0, 1, 1)], [(0, 0), (1, 1)], 10, 10)) == ""
    assert plain_text(OcrPage("e", [], [], [], 10, 10)) == ""


def test_overlapping_rows_midpoint_rule():
    a = (0, 0, 100, 20)  # midpoint 10
    assert is_same_row(a, (200, 5, 300, 25))  # 15 in (0,20) and 10 in (5,25)
    assert not is_same_row(a, (200, 12, 300, 40))  # 26 not in (0,20) although the boxes overlap
    assert not is_same_row(a, (200, 10, 300, 30))  # 10 not strictly inside (10,30)

    # Chaining: each line is compared with the previous segment of the row, not the first one.
    page = OcrPage(
        doc_id="chain",
        words=["aa", "bb", "cc"],
        boxes=[(0, 0, 100, 20), (200, 8, 300, 28), (400, 16, 500, 36)],
        lines=[(0, 1), (1, 2), (2, 3)],
        width=1000,
        height=1000,
    )
    assert [len(r) for r in group_rows(line_segments(page))] == [3]
    # One row of 6 chars over x 0..500 -> char width 83.33; columns 0, int(2.4) = 2, int(4.8) = 4.
    # "bb" would start right at len("aa") = 2 and "cc" inside "bb": at least one space separates segments.
    assert space_layout(page) == "aa bb cc"


def test_ocr_order_is_kept_and_segments_never_glued():
    page = three_line_page()
    swapped = OcrPage(
        doc_id="swap",
        words=["No:", "42", "Invoice", "Total", "amount", "due"],
        boxes=[page.boxes[1], page.boxes[2], page.boxes[0]] + page.boxes[3:],
        lines=[(0, 2), (2, 3), (3, 6)],
        width=1000,
        height=1000,
    )
    # "No: 42" at column 26, then "Invoice" (column 5 already passed) after a single space.
    assert space_layout(swapped) == " " * 26 + "No: 42 Invoice\n     Total amount due"


def test_long_row_and_far_columns():
    # The widest row (in chars) is narrow -> small char width -> far segments get long padding.
    page = OcrPage(
        doc_id="long",
        words=["abcdefghij", "x", "y"],
        boxes=[(0, 0, 100, 10), (0, 20, 10, 30), (1000, 20, 1010, 30)],
        lines=[(0, 1), (1, 2), (2, 3)],
        width=2000,
        height=100,
    )
    # row 0: 10 chars over 100 px -> char width 10; row 1: "x" col 0, "y" col 100.
    assert space_layout(page) == "abcdefghij\nx" + " " * 99 + "y"


def test_char_width_ties_and_fallback():
    # Equal char counts: the later row wins (LATIN's >=): 80 / 4 = 20.
    page = OcrPage("t", ["abcd", "wxyz"], [(0, 0, 40, 10), (0, 20, 80, 30)], [(0, 1), (1, 2)], 100, 100)
    assert char_width(group_rows(line_segments(page))) == 20
    # Only tags / zero width -> 1.
    tags_only = OcrPage("t", ["<Table>", "</Table>"], [(5, 0, 10, 10), (5, 0, 10, 10)], [(0, 2)], 100, 100)
    assert char_width(group_rows(line_segments(tags_only))) == 1.0
    assert space_layout(tags_only) == "     <Table> </Table>"
