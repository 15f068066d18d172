"""Question-focused page text (``docvqa/focus.py``; prompt types ``focus`` / ``task_focus``)."""

from __future__ import annotations

import math
import shutil

import pytest

from distildoc.docvqa.focus import bm25_scores, focus_line_indices, focus_text, terms
from distildoc.docvqa.llm.base import page_words, prompt_parts
from distildoc.docvqa.prompts import (
    ALL_PROMPT_TYPES,
    FOCUS_PROMPT_TYPES,
    PLAIN_TEMPLATE,
    TASK_PREAMBLE,
    TASK_TEMPLATE,
    build_prompt,
    document_text,
    focused_page,
)
from distildoc.docvqa.tables import table_layout
from test_docvqa_tables import table_page


def test_terms_lowercase_strip_punctuation_and_stopwords():
    assert terms("What is the Expenses for Salaries for 1986?") == ["expenses", "salaries", "1986"]
    assert terms("Salaries | 1987: $117,047 (5%)") == ["salaries", "1987", "$117,047", "5%"]
    assert terms("what is the ?") == []


def test_bm25_hand_worked():
    # N = 3 non-empty lines of 2, 2 and 3 terms: avgdl = 7/3; "rent" is in 2 of them:
    # idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6
    # line 0 (f = 1, |d| = 2): 2.5 / (1 + 1.5 (0.25 + 0.75 * 2 / (7/3))) = 2.5 / 2.339286 = 1.068702
    # line 3 (f = 2, |d| = 3): 5 / (2 + 1.5 (0.25 + 0.75 * 3 / (7/3))) = 5 / 3.821429 = 1.308411
    lines = ["Rent 800", "Salaries 1200", "", "rent, Rent total"]
    scores = bm25_scores(lines, "What is the rent?")
    assert scores[1] == scores[2] == 0.0
    assert scores[0] == pytest.approx(math.log(1.6) * 1.068702, abs=1e-6)
    assert scores[3] == pytest.approx(math.log(1.6) * 1.308411, abs=1e-6)
    assert focus_line_indices(lines, "What is the rent?", 1) == [3]
    assert focus_line_indices(lines, "What is the rent?", 2) == [0, 3]  # page order, not score order
    # a rarer term weighs more: "salaries" (1 line) beats "rent" (2 lines) at equal counts and lengths
    assert focus_line_indices(["rent a", "salaries b", "rent c"], "rent salaries", 1) == [1]
    assert focus_line_indices(lines, "What colour?") is None
    with pytest.raises(ValueError, match="at least one line"):
        focus_line_indices(lines, "rent", 0)


def test_focus_keeps_the_table_row_the_question_names():
    page, question = table_page(), "What is the Rent for 2019?"
    assert focus_text(table_layout(page), question) == ("Rent | 2020: $800 | 2019: $750", [2])
    parts = prompt_parts("task_focus", page, question)
    assert parts.document == document_text("task_focus", page, question) == "Rent | 2020: $800 | 2019: $750"
    # extractive answers come from the OCR words of the kept line, not the header words or separators
    assert parts.words == ("Rent", "$800", "$750")
    assert parts.text == build_prompt("task_focus", page, question) == TASK_TEMPLATE.format(
        preamble=TASK_PREAMBLE, document="Rent | 2020: $800 | 2019: $750", question=question)
    assert build_prompt("focus", page, question) == PLAIN_TEMPLATE.format(
        preamble="", document="Rent | 2020: $800 | 2019: $750", question=question)
    assert focused_page(page, question, k=2) == ("Salaries | 2020: $1,200 | 2019: $1,100\nRent | 2020: $800 | 2019: $750",
                                                 ("Salaries", "$1,200", "$1,100", "Rent", "$800", "$750"))


def test_focus_without_a_matching_line_keeps_the_page():
    page = table_page()
    parts = prompt_parts("focus", page, "Which colour is the logo?")
    assert parts.document == table_layout(page)
    assert parts.words == page_words(page)


def test_focus_prompt_types_need_the_question():
    assert FOCUS_PROMPT_TYPES == ("focus", "task_focus") and set(FOCUS_PROMPT_TYPES) <= set(ALL_PROMPT_TYPES)
    with pytest.raises(ValueError, match="pass question="):
        document_text("focus", table_page())


def test_focus_finds_the_named_row_on_the_real_table_page(realdata):
    """Tesseract on the fixture's expense table (ffjw0228_11): each table question's focus line is the row
    the question names (the 1987 / 1986 columns stay the reader's job)."""
    pytest.importorskip("pytesseract")
    if shutil.which("tesseract") is None:
        pytest.skip("the tesseract binary is not installed (apt-get install tesseract-ocr)")
    from distildoc.docvqa.ocr import load_ocr
    from distildoc.docvqa.realchain import fixture_questions

    questions = [q for q in fixture_questions(realdata / "docvqa", None) if q["doc_id"] == "ffjw0228_11"]
    assert len(questions) == 10
    page = load_ocr("tesseract", images={"ffjw0228_11": questions[0]["image_path"]}, doc_ids=["ffjw0228_11"],
                    config="--psm 3 --oem 1")["ffjw0228_11"]
    for q in questions:
        row = q["question"].removeprefix("What is the Expenses for ").rsplit(" for ", 1)[0]
        text, words = focused_page(page, q["question"])
        assert text.lower().startswith(row.lower() + " |"), (q["question"], text)
        assert words and words[0].lower() == row.split()[0].lower()
