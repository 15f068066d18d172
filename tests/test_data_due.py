"""DUE ``documents_content.jsonl`` <-> OcrPage: round trips with both layer keys, and a hand-written line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distildoc.data.due import from_due_record, read_due_jsonl, to_due_record, write_due_jsonl
from distildoc.data.ocr import OcrPage


def _page(doc_id: str = "ffbg0227_2", source: str = "microsoft_cv") -> OcrPage:
    words = ["INVOICE", "No.", "42", "Total:", "$1,200"]
    boxes = [(10.0, 12.0, 90.0, 30.0), (95.0, 12.0, 120.0, 30.0), (125.0, 12.0, 140.0, 30.0),
             (10.0, 40.0, 60.0, 55.0), (70.0, 41.0, 130.0, 58.0)]
    return OcrPage(doc_id, words, boxes, [(0, 3), (3, 5)], 612, 792, source=source)


def _same(a: OcrPage, b: OcrPage) -> None:
    assert (a.doc_id, a.words, a.boxes, a.lines, a.width, a.height, a.source) == \
           (b.doc_id, b.words, b.boxes, b.lines, b.width, b.height, b.source)


def test_record_layout_by_hand() -> None:
    rec = to_due_record(_page())
    assert rec["name"] == "ffbg0227_2"
    (content,) = rec["contents"]
    assert content["tool_name"] == "microsoft_cv"
    assert content["text"] == "INVOICE No. 42 Total: $1,200"
    layer = content["common_format"]
    assert layer["tokens"] == ["INVOICE", "No.", "42", "Total:", "$1,200"]
    assert layer["positions"][4] == [70.0, 41.0, 130.0, 58.0]
    assert layer["scores"] == [1.0] * 5
    assert layer["structures"]["pages"] == {"positions": [[0, 0, 612, 792]], "structure_value": [[0, 5]]}
    # line boxes: union of their words' boxes
    assert layer["structures"]["lines"] == {"positions": [[10.0, 12.0, 140.0, 30.0], [10.0, 40.0, 130.0, 58.0]],
                                            "structure_value": [[0, 3], [3, 5]]}
    json.dumps(rec)  # JSON-serialisable


@pytest.mark.parametrize("layer_key", ["common_format", "tokens_layer"])
def test_round_trip_both_layer_keys(layer_key: str) -> None:
    page = _page()
    rec = to_due_record(page, "tesseract")
    content = rec["contents"][0]
    content[layer_key] = content.pop("common_format")
    back = from_due_record(rec, "tesseract", strict=True)
    _same(back, OcrPage(page.doc_id, page.words, page.boxes, page.lines, 612, 792, source="tesseract"))
    assert back.meta == {}


@pytest.mark.parametrize("layer_key", ["common_format", "tokens_layer"])
def test_jsonl_round_trip(tmp_path: Path, layer_key: str) -> None:
    pages = [_page("a_1", "synthetic"), _page("b_2", "synthetic"),
             OcrPage("empty_1", [], [], [], 100, 200, source="synthetic")]
    path = write_due_jsonl(tmp_path / "documents_content.jsonl", pages)
    if layer_key == "tokens_layer":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            row["contents"][0]["tokens_layer"] = row["contents"][0].pop("common_format")
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    back = read_due_jsonl(path, tool_name="synthetic", strict=True)
    assert list(back) == ["a_1", "b_2", "empty_1"]
    for page in pages:
        _same(back[page.doc_id], page)
    assert back["empty_1"].text == ""


# a line in the DUE layout, written by hand: two engines, the newer `tokens_layer` key for one of them
HAND_LINE = (
    '{"name": "doc7_p1", "contents": ['
    '{"tool_name": "tesseract", "text": "Hello world", "tokens_layer": {'
    '"tokens": ["Hello", "world"], "positions": [[1, 2, 30, 12], [35, 2, 70, 12]], "scores": [0.9, 0.8],'
    ' "structures": {"pages": {"positions": [[0, 0, 100, 150]], "structure_value": [[0, 2]]}}}},'
    '{"tool_name": "microsoft_cv", "text": "Hello, world! Bye", "common_format": {'
    '"tokens": ["Hello,", "world!", "Bye"], "positions": [[1, 2, 31, 12], [34, 2, 72, 12], [1, 20, 20, 30]],'
    ' "scores": [1.0, 1.0, 1.0], "structures": {'
    '"pages": {"positions": [[0, 0, 100, 150]], "structure_value": [[0, 3]]},'
    '"lines": {"positions": [[1, 2, 72, 12], [1, 20, 20, 30]], "structure_value": [[0, 2], [2, 3]]}}}}'
    ']}\n'
)


def test_hand_written_line(tmp_path: Path) -> None:
    path = tmp_path / "documents_content.jsonl"
    path.write_text(HAND_LINE)
    ms = read_due_jsonl(path)["doc7_p1"]  # default tool: microsoft_cv
    assert ms.source == "microsoft_cv"
    assert ms.words == ["Hello,", "world!", "Bye"]
    assert ms.boxes[2] == (1.0, 20.0, 20.0, 30.0)
    assert ms.lines == [(0, 2), (2, 3)] and ms.line_texts() == ["Hello, world!", "Bye"]
    assert (ms.width, ms.height) == (100, 150)
    assert ms.meta == {}
    tess = read_due_jsonl(path, tool_name="tesseract", strict=True)["doc7_p1"]
    assert tess.words == ["Hello", "world"] and tess.source == "tesseract"
    assert tess.lines == [(0, 2)]  # no line structure: the page is one line
    assert tess.meta == {"scores": [0.9, 0.8]}
    # an absent engine falls back to the first content, or fails naming the doc and tools when strict
    fallback = read_due_jsonl(path, tool_name="textract")["doc7_p1"]
    assert fallback.source == "tesseract"
    with pytest.raises(KeyError, match=r"'doc7_p1' has no OCR from tool 'textract'; available: tesseract, microsoft_cv"):
        read_due_jsonl(path, tool_name="textract", strict=True)
    # the read page writes back to the same microsoft_cv content
    assert to_due_record(ms)["contents"][0] == json.loads(HAND_LINE)["contents"][1]


def test_malformed_records(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(HAND_LINE + HAND_LINE)
    with pytest.raises(ValueError, match=r"bad\.jsonl, record 2: document 'doc7_p1' appears twice"):
        read_due_jsonl(path)
    path.write_text('{"name": "x", "contents": [{"tool_name": "t", "text": ""}]}\n')
    with pytest.raises(ValueError, match=r"record 1: DUE document 'x', tool 't': no token layer"):
        read_due_jsonl(path)
    path.write_text('{"name": "x", "contents": []}\n')
    with pytest.raises(ValueError, match="'x' has no 'contents'"):
        read_due_jsonl(path)
