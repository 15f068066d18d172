"""OCR sources of the DocVQA stage: DUE / synthetic files and Tesseract on real DocVQA pages."""

from __future__ import annotations

import shutil

import pytest

from distildoc.data.docvqa import read_docvqa
from distildoc.data.due import to_due_record
from distildoc.data.ocr import OcrPage
from distildoc.docvqa.ocr import (
    OCR_SOURCES,
    TesseractNotAvailable,
    find_images,
    load_ocr,
    page_from_tesseract_data,
    page_key,
    tesseract_page,
)
from distildoc.utils.io import write_jsonl


def _page(doc_id: str, source: str, first: str = "INVOICE") -> OcrPage:
    return OcrPage(doc_id, [first, "No.", "42"], [(10, 10, 80, 30), (85, 10, 110, 30), (115, 10, 130, 30)],
                   [(0, 3)], 612, 792, source=source)


# ----------------------------------------------------------------------------------------------- DUE


def test_due_picks_microsoft_cv_layer(tmp_path) -> None:
    rec = to_due_record(_page("doc_1", "microsoft_cv", "AZURE"), "microsoft_cv")
    rec["contents"].insert(0, to_due_record(_page("doc_1", "tesseract", "TESS"), "tesseract")["contents"][0])
    write_jsonl(tmp_path / "documents_content.jsonl", [rec, to_due_record(_page("doc_2", "microsoft_cv"))])
    pages = load_ocr("due", tmp_path / "documents_content.jsonl")
    assert list(pages) == ["doc_1", "doc_2"]
    assert pages["doc_1"].words[0] == "AZURE" and pages["doc_1"].source == "microsoft_cv"
    assert load_ocr("due", tmp_path / "documents_content.jsonl", tool_name="tesseract",
                    doc_ids=["doc_1"])["doc_1"].words[0] == "TESS"
    # strict by default: doc_2 has no tesseract layer
    with pytest.raises(KeyError, match="doc_2.*tesseract"):
        load_ocr("due", tmp_path / "documents_content.jsonl", tool_name="tesseract")
    with pytest.raises(KeyError, match="missing_doc"):
        load_ocr("due", tmp_path / "documents_content.jsonl", doc_ids=["doc_1", "missing_doc"])


def test_source_errors(tmp_path) -> None:
    assert OCR_SOURCES == ("due", "tesseract", "synthetic")
    with pytest.raises(ValueError, match="unknown OCR source 'azure'"):
        load_ocr("azure", tmp_path)
    with pytest.raises(ValueError, match="needs the path"):
        load_ocr("due")
    with pytest.raises(FileNotFoundError):
        load_ocr("tesseract", tmp_path / "nope")


def test_synthetic_source_covers_every_question(synthetic_root) -> None:
    pages = load_ocr("synthetic", synthetic_root / "rvl" / "ocr" / "test.jsonl")
    assert pages and all(p.source == "synthetic" and p.words for p in pages.values())
    questions = read_docvqa(synthetic_root / "rvl" / "qa" / "test.json")
    for q in questions:
        page = pages[page_key(q, pages)]
        assert any(a.lower() in page.text.lower() for a in q.answers), (q.question, q.answers)


def test_page_key_prefers_page_id() -> None:
    (q,) = read_docvqa_from([{"questionId": 1, "question": "q", "image": "documents/abc_2.png",
                              "ucsf_document_id": "abc", "ucsf_document_page_no": "2", "answers": ["x"]}])
    assert page_key(q, {"abc_2": 1, "abc": 2}) == "abc_2"
    assert page_key(q, {"abc": 2}) == "abc"
    with pytest.raises(KeyError, match="abc_2"):
        page_key(q, {})


def read_docvqa_from(records):
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "qa.json"
        path.write_text(json.dumps({"data": records}))
        return read_docvqa(path)


# ------------------------------------------------------------------------------------ tesseract rows


def test_tesseract_rows_to_page() -> None:
    cols = ["level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width", "height",
            "conf", "text"]
    rows = [
        (1, 1, 0, 0, 0, 0, 0, 0, 200, 100, -1, ""),      # page
        (4, 1, 1, 1, 1, 0, 5, 5, 100, 10, -1, ""),       # line row: not a word
        (5, 1, 1, 1, 1, 1, 5, 5, 40, 10, 96.5, "Hello"),
        (5, 1, 1, 1, 1, 2, 50, 5, 40, 10, 0, "noise"),   # confidence 0: dropped
        (5, 1, 1, 1, 1, 3, 95, 5, 40, 10, 88, " "),      # blank: dropped
        (5, 1, 1, 1, 2, 1, 5, 20, 40, 10, 91, "world"),
        (5, 1, 2, 1, 1, 1, 180, 90, 40, 20, 70, "edge"),  # clipped to the 200 x 100 page
    ]
    data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    page = page_from_tesseract_data(data, "p", 200, 100)
    assert page.words == ["Hello", "world", "edge"]
    assert page.lines == [(0, 1), (1, 2), (2, 3)]
    assert page.boxes[2] == (180.0, 90.0, 200.0, 100.0)
    assert page.meta["scores"] == [0.965, 0.91, 0.7]
    assert page.source == "tesseract"


# ------------------------------------------------------------------------------- tesseract (real OCR)


@pytest.fixture(scope="module")
def tesseract_pages(realdata):
    pytest.importorskip("pytesseract")
    if shutil.which("tesseract") is None:
        pytest.skip("the tesseract binary is not installed (apt-get install tesseract-ocr)")
    return load_ocr("tesseract", realdata / "docvqa", workers=2)


def test_tesseract_real_pages(tesseract_pages, realdata) -> None:
    assert set(tesseract_pages) == set(find_images(realdata / "docvqa")) == {"ffbg0227_2", "ffhx0227_1", "ffjw0228_11"}
    for doc_id, page in tesseract_pages.items():
        assert page.doc_id == doc_id and page.source == "tesseract"
        assert len(page.words) > 20
        assert all(w.strip() == w and w for w in page.words)
        for x1, y1, x2, y2 in page.boxes:
            assert 0 <= x1 <= x2 <= page.width and 0 <= y1 <= y2 <= page.height
        # lines are consecutive, non-empty and cover every word in order
        assert page.lines[0][0] == 0 and page.lines[-1][1] == len(page.words)
        assert all(s < e for s, e in page.lines)
        assert all(a[1] == b[0] for a, b in zip(page.lines, page.lines[1:]))
        assert all(0 < s <= 1 for s in page.meta["scores"])
    from PIL import Image

    with Image.open(realdata / "docvqa" / "ffhx0227_1.png") as im:
        assert (tesseract_pages["ffhx0227_1"].width, tesseract_pages["ffhx0227_1"].height) == im.size


def test_tesseract_finds_gold_answers(tesseract_pages, realdata) -> None:
    assert "vanderbilt university" in tesseract_pages["ffhx0227_1"].text.lower()
    questions = read_docvqa(realdata / "docvqa" / "val_v1.0.json")
    found = 0
    for q in questions:
        text = " ".join(tesseract_pages[page_key(q, tesseract_pages)].words).lower()
        found += any(a.lower() in text for a in q.answers)
    assert found >= 9, f"only {found}/{len(questions)} gold answers in the Tesseract OCR"  # 10/12 with 5.3.0


def test_tesseract_is_deterministic(tesseract_pages, realdata) -> None:
    again = tesseract_page(realdata / "docvqa" / "ffhx0227_1.png", "ffhx0227_1")
    first = tesseract_pages["ffhx0227_1"]
    assert (again.words, again.boxes, again.lines) == (first.words, first.boxes, first.lines)


def test_missing_tesseract_binary_names_the_package(realdata, tmp_path) -> None:
    pytest.importorskip("pytesseract")
    with pytest.raises(TesseractNotAvailable, match="tesseract-ocr"):
        tesseract_page(realdata / "docvqa" / "ffhx0227_1.png", "x", tesseract_cmd=str(tmp_path / "no-tesseract"))
    with pytest.raises(TesseractNotAvailable, match="apt-get install tesseract-ocr"):
        load_ocr("tesseract", realdata / "docvqa", tesseract_cmd="definitely-not-tesseract")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        tesseract_page(tmp_path / "missing.png", "missing")


def test_tesseract_missing_image_id(realdata) -> None:
    with pytest.raises(KeyError, match="nope_1"):
        load_ocr("tesseract", realdata / "docvqa", doc_ids=["ffhx0227_1", "nope_1"])
