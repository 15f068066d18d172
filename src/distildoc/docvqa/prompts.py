"""Zero-shot DocVQA prompts of DistilDoc's Table 2 (after LATIN-Prompt, Wang et al. 2023).

Templates are copied from the released code that produced the paper's numbers
(``src/downstream/LATIN-Prompt-fork/examples/llama_docvqa_due_azure.py`` of ``Jordy-VL/DistilDoc_ICDAR24``,
identical to ``examples/{llama,vllm}_docvqa_due_azure.py`` of ``WenjinW/LATIN-Prompt``):

=============  ==========================  ================================  =========================
prompt type    released name               template                          document text
=============  ==========================  ================================  =========================
``plain``      ``plain``                   ``prompt_plain``                  line texts joined by " "
``space``      ``space``                   ``prompt_plain``                  space layout
``task``       ``task_instruction``        ``prompt_task``                   line texts joined by " "
``task_space`` ``task_instruction_space``  ``prompt_task`` (= LATIN-Prompt)  space layout
=============  ==========================  ================================  =========================

Beyond the paper (not in the defaults; :data:`TABLE_PROMPT_TYPES`): ``table`` and ``task_table`` are
``space`` and ``task_space`` with the table-aware page text of :func:`distildoc.docvqa.tables.table_layout`
(the space layout with each detected table written row by row, ``Salaries | 1987: $117,047 | 1986*: $123,110``);
``focus`` and ``task_focus`` (:data:`FOCUS_PROMPT_TYPES`) keep only the lines of that text that best match the
question (Okapi BM25, :mod:`distildoc.docvqa.focus`; :data:`distildoc.docvqa.focus.FOCUS_LINES` lines), and
extractive decoding then takes its spans from the OCR words of those lines.
:data:`PROMPT_TYPES` stays the paper's four (the pipeline's defaults); :data:`ALL_PROMPT_TYPES` is what
configurations and callers may name.

DLA enrichment does not change the template: the released runs fed DLA-enriched OCR through the same
prompt types. ``explain_tags=True`` adds the sentence of DistilDoc's (unused) ``prompt_task_DLA``.

Differences from the paper's Table 2 / the brief, all deliberate (the released strings win):

* "with as few words as possible ." keeps the released space before the full stop (LATIN's Claude
  script and the paper's table have "possible."); the paper's table also says "answer *to* the question",
  the code "answer *of* the question".
* a blank line separates the document from "Question:", and "Question: …" from the instruction (the
  paper's table shows no blank line after the document).
* the ``plain`` / ``space`` (no-task) prompts use the short instruction "Directly extract the answer of
  the question from the document." without "with as few words as possible".
* plain document text joins the OCR lines with single spaces ("single-spaced OCR tokens" in the paper),
  not newlines; only the space layout carries line breaks.
* for ``plain`` / ``space`` with ``explain_tags`` (no released template) the tag sentence is the first line.
"""

from __future__ import annotations

from distildoc.data.ocr import OcrPage
from distildoc.docvqa import focus
from distildoc.docvqa.enrich import is_tag
from distildoc.docvqa.layout import plain_text, space_layout
from distildoc.docvqa.tables import table_layout

#: the paper's Table 2 prompt types (the defaults)
PROMPT_TYPES: tuple[str, ...] = ("plain", "space", "task", "task_space")
#: beyond the paper: the space / task_space wording with the table-aware page text
TABLE_PROMPT_TYPES: tuple[str, ...] = ("table", "task_table")
#: beyond the paper: the table / task_table wording with only the lines that best match the question
FOCUS_PROMPT_TYPES: tuple[str, ...] = ("focus", "task_focus")
#: every prompt type a configuration may name
ALL_PROMPT_TYPES: tuple[str, ...] = PROMPT_TYPES + TABLE_PROMPT_TYPES + FOCUS_PROMPT_TYPES

#: Names of the same prompt types in the released LATIN-Prompt / DistilDoc scripts.
RELEASED_PROMPT_NAMES: dict[str, str] = {
    "plain": "plain",
    "space": "space",
    "task": "task_instruction",
    "task_space": "task_instruction_space",
}

TASK_PREAMBLE = (
    "You are asked to answer questions asked on a document image.\n"
    "The answers to questions are short text spans taken verbatim from the document. "
    "This means that the answers comprise a set of contiguous text tokens present in the document.\n"
)

#: DistilDoc's ``prompt_task_DLA`` extra line (trailing space before the newline as released).
DLA_TAG_EXPLANATION = (
    "The logical layout regions are indicated with opening and closing tags such as <Table> and </Table> "
    "to help localizing answers. \n"
)

TASK_TEMPLATE = (
    "{preamble}"
    "Document:\n{document}\n\n"
    "Question: {question}\n\n"
    "Directly extract the answer of the question from the document with as few words as possible .\n\n"
    "Answer:"
)

PLAIN_TEMPLATE = (
    "{preamble}"
    "Document:\n{document}\n\n"
    "Question: {question}\n\n"
    "Directly extract the answer of the question from the document.\n\n"
    "Answer:"
)

#: Separator between OCR lines in the plain document text (released: ``" ".join(texts)``).
PLAIN_LINE_SEPARATOR = " "


def document_text(prompt_type: str, page: OcrPage, question: str | None = None) -> str:
    """The page text of a prompt type; the focus types need the `question`."""
    _check(prompt_type)
    if prompt_type in ("space", "task_space"):
        return space_layout(page)
    if prompt_type in TABLE_PROMPT_TYPES:
        return table_layout(page)
    if prompt_type in FOCUS_PROMPT_TYPES:
        return focused_page(page, _question_for(prompt_type, question))[0]
    return plain_text(page, sep=PLAIN_LINE_SEPARATOR)


def focused_page(page: OcrPage, question: str, k: int | None = None) -> tuple[str, tuple[str, ...] | None]:
    """The focus prompt types' page text (the `k` lines of the table-aware text that best match
    `question`; default :data:`distildoc.docvqa.focus.FOCUS_LINES`, read at call time) and the OCR words of
    those lines in their order, the answer vocabulary of extractive decoding. When no line matches, the
    whole table-aware text and None (the page's own words)."""
    text, keep = focus.focus_text(table_layout(page), question, focus.FOCUS_LINES if k is None else k)
    if keep is None:
        return text, None
    ocr = {w for w in page.words if not is_tag(w)}
    # header words with a colon ("1987:") and the separators ("|") of table rows are not OCR words
    words = tuple(w for w in text.split() if w in ocr)
    return text, (words or None)


def build_prompt(prompt_type: str, page: OcrPage, question: str, explain_tags: bool = False) -> str:
    """The raw-text prompt for one question on one (optionally DLA-enriched) page."""
    return format_prompt(prompt_type, document_text(prompt_type, page, question), question, explain_tags)


def format_prompt(prompt_type: str, document: str, question: str, explain_tags: bool = False) -> str:
    """The prompt type's template around an already built page text (:func:`document_text`)."""
    _check(prompt_type)
    task = prompt_type.startswith("task")
    preamble = (TASK_PREAMBLE if task else "") + (DLA_TAG_EXPLANATION if explain_tags else "")
    template = TASK_TEMPLATE if task else PLAIN_TEMPLATE
    # Braces inside the document or question are safe: str.format does not re-parse substituted values.
    return template.format(preamble=preamble, document=document, question=question)


def to_chat_messages(prompt: str, system: str | None = None) -> list[dict[str, str]]:
    """Wrap a raw prompt as chat messages for ``tokenizer.apply_chat_template`` (one user turn).

    The paper fed the raw prompt string to Llama-2-7b-chat without a chat template; callers choose.
    """
    messages = [] if system is None else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": prompt})
    return messages


def _question_for(prompt_type: str, question: str | None) -> str:
    if question is None:
        raise ValueError(f"prompt type {prompt_type!r} keeps the lines that match the question: pass question=")
    return question


def _check(prompt_type: str) -> None:
    if prompt_type not in ALL_PROMPT_TYPES:
        raise ValueError(f"unknown prompt type {prompt_type!r}; allowed: {', '.join(ALL_PROMPT_TYPES)}")
