"""Exact prompt strings for a tiny page (templates of the released LATIN-Prompt / DistilDoc code)."""

from __future__ import annotations

import pytest

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.prompts import PROMPT_TYPES, build_prompt, document_text, to_chat_messages

QUESTION = "What is the total?"

PREAMBLE = (
    "You are asked to answer questions asked on a document image.\n"
    "The answers to questions are short text spans taken verbatim from the document. "
    "This means that the answers comprise a set of contiguous text tokens present in the document.\n"
)
DLA_SENTENCE = (
    "The logical layout regions are indicated with opening and closing tags such as <Table> and </Table> "
    "to help localizing answers. \n"
)


def tiny_page() -> OcrPage:
    # line 0 "Date: May 5" (10,10,120,20); line 1 "Total:" (10,30,70,40); line 2 "$10" (200,30,230,40).
    # Rows: [line 0], [line 1, line 2]; widest row in chars is row 0 (11 chars over 110 px) -> char width 10.
    # Columns: 1 / 1 and 20 -> " Date: May 5" and " Total:" + 13 spaces + "$10".
    return OcrPage(
        doc_id="tiny",
        words=["Date:", "May", "5", "Total:", "$10"],
        boxes=[(10, 10, 60, 20), (70, 10, 100, 20), (110, 10, 120, 20), (10, 30, 70, 40), (200, 30, 230, 40)],
        lines=[(0, 3), (3, 4), (4, 5)],
        width=300,
        height=100,
    )


PLAIN_DOC = "Date: May 5 Total: $10"
SPACE_DOC = " Date: May 5\n Total:" + " " * 13 + "$10"


def test_document_texts():
    page = tiny_page()
    assert document_text("plain", page) == PLAIN_DOC
    assert document_text("task", page) == PLAIN_DOC
    assert document_text("space", page) == SPACE_DOC
    assert document_text("task_space", page) == SPACE_DOC


def test_plain_prompt():
    assert build_prompt("plain", tiny_page(), QUESTION) == (
        "Document:\nDate: May 5 Total: $10\n\n"
        "Question: What is the total?\n\n"
        "Directly extract the answer of the question from the document.\n\n"
        "Answer:"
    )


def test_space_prompt():
    assert build_prompt("space", tiny_page(), QUESTION) == (
        "Document:\n Date: May 5\n Total:             $10\n\n"
        "Question: What is the total?\n\n"
        "Directly extract the answer of the question from the document.\n\n"
        "Answer:"
    )


def test_task_prompt():
    assert build_prompt("task", tiny_page(), QUESTION) == (
        "You are asked to answer questions asked on a document image.\n"
        "The answers to questions are short text spans taken verbatim from the document. "
        "This means that the answers comprise a set of contiguous text tokens present in the document.\n"
        "Document:\nDate: May 5 Total: $10\n\n"
        "Question: What is the total?\n\n"
        "Directly extract the answer of the question from the document with as few words as possible .\n\n"
        "Answer:"
    )


def test_task_space_prompt_is_latin():
    assert build_prompt("task_space", tiny_page(), QUESTION) == (
        PREAMBLE + "Document:\n Date: May 5\n Total:             $10\n\n"
        "Question: What is the total?\n\n"
        "Directly extract the answer of the question from the document with as few words as possible .\n\n"
        "Answer:"
    )


def test_explain_tags_sentence():
    page = tiny_page()
    task = build_prompt("task_space", page, QUESTION, explain_tags=True)
    assert task == build_prompt("task_space", page, QUESTION).replace(PREAMBLE, PREAMBLE + DLA_SENTENCE)
    assert task.startswith(PREAMBLE + DLA_SENTENCE + "Document:\n")
    plain = build_prompt("plain", page, QUESTION, explain_tags=True)
    assert plain == DLA_SENTENCE + build_prompt("plain", page, QUESTION)


def test_braces_in_question_and_document_survive():
    page = OcrPage("b", ["{document}"], [(0, 0, 10, 10)], [(0, 1)], 10, 10)
    prompt = build_prompt("plain", page, "what is {x}?")
    assert "Document:\n{document}\n\nQuestion: what is {x}?\n\n" in prompt


def test_unknown_prompt_type():
    with pytest.raises(ValueError) as err:
        build_prompt("latin", tiny_page(), QUESTION)
    for name in PROMPT_TYPES:
        assert name in str(err.value)
    assert PROMPT_TYPES == ("plain", "space", "task", "task_space")


def test_chat_messages():
    prompt = build_prompt("task", tiny_page(), QUESTION)
    assert to_chat_messages(prompt) == [{"role": "user", "content": prompt}]
    assert to_chat_messages(prompt, system="Be brief.") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": prompt},
    ]
