"""What every LLM reader shares: results, the reader protocol, prompt parts and the context policy.

Context policy (all backends): a prompt must leave room for the answer, i.e. its token count (after the
chat template, when one is used) must be at most ``max_context - max_new_tokens``. A longer prompt is
shortened by cutting the *document text* from its end, at a word boundary, until it fits; the
instructions, the question and the trailing ``Answer:`` are never cut, and the result is flagged
``truncated=True``. Callers pass :class:`PromptParts` (see :func:`prompt_parts`) so the document is
known; a plain string prompt that does not fit loses words from its *start* instead (its end holds the
question and ``Answer:``), also flagged. A prompt that does not fit even with an empty document is not
generated: it becomes a failure record. (The paper's released script did not truncate: it fed the whole
prompt to Llama-2 and skipped, without a record, any question whose generation raised.)

Post-processing (``postprocess=``):

* ``none``: the continuation with surrounding whitespace stripped, as the released script
  (``.strip()`` of the decoded continuation, special tokens skipped);
* ``first_line``: the first line that holds an answer, stripped: a lead-in (:data:`LEAD_IN`: "Answer:",
  "The answer is:", "A:"...) is removed from the start of a line, and a line that is empty or holds
  nothing but a lead-in is passed over (small chat models tend to put "The answer is:" on a line of its
  own, and to add a sentence after the answer).

Stop rule (``stop_at_newline`` of the local readers): a continuation is done once it holds a complete line
(ended by a newline) with answer text, in the sense of ``first_line`` (:func:`answer_line_complete`); a
lead-in line or a blank line does not end it. So stopping never changes a ``first_line`` answer.

Finish reasons (:attr:`GenerationResult.finish_reason`): ``stop`` (the stop rule or a stop string),
``eos`` (the model's end-of-sequence token), ``length`` (``max_new_tokens`` reached); an OpenAI-compatible
server reports its own (``stop`` covers its end-of-sequence there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.enrich import is_tag
from distildoc.docvqa.prompts import FOCUS_PROMPT_TYPES, document_text, focused_page, format_prompt

POSTPROCESS: tuple[str, ...] = ("none", "first_line")

_DOCUMENT_HEADER = "Document:\n"
_WORD_END = re.compile(r"\S+")


@dataclass
class GenerationResult:
    """One prompt's outcome.

    Attributes:
        text: the post-processed answer; None when generation failed (see `error`).
        prompt_tokens: tokens of the prompt actually sent (after truncation / chat template; the
            server's count for the ``openai`` backend when it reports one).
        truncated: the document text (or, for a plain string prompt, its start) was cut to fit.
        error: why `text` is None (exception type and message), else None.
        raw_text: the decoded continuation before post-processing.
        completion_tokens: generated tokens (up to and including the end-of-sequence token).
        finish_reason: what ended the answer: ``stop`` (the stop rule / a stop string), ``eos`` (the
            end-of-sequence token), ``length`` (hit max_new_tokens), or None (not generated).
    """

    text: str | None
    prompt_tokens: int = 0
    truncated: bool = False
    error: str | None = None
    raw_text: str | None = None
    completion_tokens: int = 0
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromptParts:
    """A prompt as ``prefix + document + suffix``; only `document` may be cut to fit the context.

    `words` (optional, not part of equality): the page's OCR words in reading order, layout tags left out,
    which extractive decoding (:mod:`distildoc.docvqa.llm.extractive`) restricts answers to; `question`
    (optional, not part of equality): the question the prompt asks, whose own words extractive decoding
    may refuse as an answer. Both are set by :func:`prompt_parts`.
    """

    prefix: str
    document: str
    suffix: str
    words: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    question: str | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return self.prefix + self.document + self.suffix

    def with_document(self, document: str) -> PromptParts:
        return PromptParts(self.prefix, document, self.suffix, self.words, self.question)


Prompt = str | PromptParts


@runtime_checkable
class Reader(Protocol):
    """An LLM that answers prompts.

    ``generate`` returns exactly one :class:`GenerationResult` per prompt, in order; failures are
    records (``text=None``, ``error`` set), never missing items or exceptions (except for programming
    errors such as a wrong argument type).
    """

    name: str
    max_context: int
    max_new_tokens: int

    def count_tokens(self, text: str) -> int: ...

    def generate(self, prompts: Sequence[Prompt]) -> list[GenerationResult]: ...


# ------------------------------------------------------------------------------------------- prompts


def prompt_parts(prompt_type: str, page: OcrPage, question: str, explain_tags: bool = False) -> PromptParts:
    """:func:`distildoc.docvqa.prompts.build_prompt` split around its document text.

    ``parts.text`` is exactly ``build_prompt(prompt_type, page, question, explain_tags)``; ``parts.words``
    are the page's OCR words without layout tags (the answer vocabulary of extractive decoding; for the focus
    prompt types, the OCR words of the lines kept), ``parts.question`` is `question`.
    """
    words = page_words(page)
    if prompt_type in FOCUS_PROMPT_TYPES:
        doc, focus_words = focused_page(page, question)
        words = focus_words or words
    else:
        doc = document_text(prompt_type, page, question)
    # the page text is built once: the focus types' BM25 and every table detection are not repeated
    full = format_prompt(prompt_type, doc, question, explain_tags=explain_tags)
    start = full.find(_DOCUMENT_HEADER)
    if start < 0 or full[start + len(_DOCUMENT_HEADER):start + len(_DOCUMENT_HEADER) + len(doc)] != doc:
        raise ValueError(f"prompt type {prompt_type!r}: cannot locate the document text in the prompt")
    start += len(_DOCUMENT_HEADER)
    parts = PromptParts(full[:start], doc, full[start + len(doc):], words, question)
    assert parts.text == full
    return parts


def page_words(page: OcrPage) -> tuple[str, ...]:
    """The OCR words of a (possibly DLA-enriched) page in reading order, layout tags left out."""
    return tuple(w for w in page.words if not is_tag(w))


def span_words(prompt: Prompt) -> tuple[str, ...]:
    """The words an extractive answer to `prompt` is made of: ``prompt.words`` when set, else the
    whitespace-separated words of its document text (a plain string: of the whole prompt), tags left out."""
    parts = as_parts(prompt)
    if parts.words is not None:
        return tuple(parts.words)
    return tuple(w for w in parts.document.split() if not is_tag(w))


def question_of(prompt: Prompt) -> str | None:
    """The question `prompt` asks when it says so (:attr:`PromptParts.question`), else None."""
    return prompt.question if isinstance(prompt, PromptParts) else None


def as_parts(prompt: Prompt) -> PromptParts:
    if isinstance(prompt, PromptParts):
        return prompt
    if isinstance(prompt, str):
        return PromptParts("", prompt, "")
    raise TypeError(f"a prompt must be a str or PromptParts, got {type(prompt).__name__}")


class PromptTooLong(ValueError):
    """The prompt does not fit the context even without its document text."""


@dataclass(frozen=True)
class FittedPrompt:
    text: str
    n_tokens: int
    truncated: bool
    document_chars: int = field(default=0)  # characters of the document text kept
    words: tuple[str, ...] | None = field(default=None, compare=False, repr=False)  # see PromptParts.words
    question: str | None = field(default=None, compare=False, repr=False)  # see PromptParts.question


def fit_prompt(prompt: Prompt, budget: int, measure: Callable[[str], int]) -> FittedPrompt:
    """Shorten `prompt` so that ``measure(text) <= budget`` (see the module docstring for the policy).

    Args:
        prompt: :class:`PromptParts` (the document is cut from its end) or a str (cut from its start).
        budget: the token budget, ``max_context - max_new_tokens``.
        measure: tokens of a prompt string *as it will be sent* (e.g. after the chat template).

    Cuts fall on word boundaries; the longest document prefix that fits is found by binary search over
    the word ends (token counts grow with the kept text, up to tokenizer merges at the cut, which the
    final check covers). Raises :class:`PromptTooLong` when even an empty document does not fit.
    """
    parts = as_parts(prompt)
    full = parts.text
    n = measure(full)
    if n <= budget:
        return FittedPrompt(full, n, False, len(parts.document))
    from_start = not isinstance(prompt, PromptParts)
    doc = parts.document
    if from_start:
        # candidate documents doc[cut:], cut at word starts; fewer words kept = larger index
        cuts = [m.start() for m in _WORD_END.finditer(doc)] + [len(doc)]

        def candidate(i: int) -> str:
            return doc[cuts[len(cuts) - 1 - i]:]
    else:
        cuts = [0] + [m.end() for m in _WORD_END.finditer(doc)]

        def candidate(i: int) -> str:
            return doc[:cuts[i]]

    def size(i: int) -> int:
        return measure(parts.prefix + candidate(i) + parts.suffix)

    n0 = size(0)
    if n0 > budget:
        raise PromptTooLong(
            f"the prompt needs {n0} tokens without any document text, more than the budget of {budget} "
            f"(context minus max_new_tokens)")
    lo, hi = 0, len(cuts) - 1  # size(lo) <= budget; size(hi) > budget
    best_n = n0
    n_hi = size(hi)  # the whole document minus surrounding whitespace
    if n_hi <= budget:
        lo, best_n = hi, n_hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        m = size(mid)
        if m <= budget:
            lo, best_n = mid, m
        else:
            hi = mid
    kept = candidate(lo)
    return FittedPrompt(parts.prefix + kept + parts.suffix, best_n, True, len(kept))


# -------------------------------------------------------------------------------------- post-processing


#: What a small model writes before its answer, removed from the start of a line by ``first_line``
#: (case-insensitive): "Answer:", "Final answer:", "The answer is", "The answer is:", "The correct answer
#: would be:", "The answer to the question is", "Ans:", "A:" ("A" needs its colon: "A Study of..." is
#: an answer). A line holding nothing else is a lead-in line, not an answer.
LEAD_IN = re.compile(
    r"^\s*(?:"
    r"(?:the\s+)?(?:final\s+|correct\s+|short\s+)?answer(?:\s+(?:to|of|for)\s+(?:the|this)\s+question)?"
    r"(?:\s*:|\s+(?:is|would\s+be)\b\s*:?)"
    r"|ans\s*:|a\s*:"
    r")\s*",
    re.IGNORECASE)


def strip_lead_in(line: str) -> str:
    """`line` stripped, without its lead-ins (:data:`LEAD_IN`, repeated ones too)."""
    line = line.strip()
    while True:
        m = LEAD_IN.match(line)
        if m is None or m.end() == 0:
            return line
        line = line[m.end():].strip()


def answer_lines(text: str, complete_only: bool = False) -> list[str]:
    """The answer texts of `text`'s lines: lead-ins stripped, empty lines dropped. With `complete_only`,
    only lines ended by a newline count (the last, unfinished line of a continuation is left out)."""
    if complete_only:
        text = text[:text.rfind("\n") + 1]  # "" when no line is complete
    return [a for a in (strip_lead_in(line) for line in text.splitlines()) if a]


def answer_line_complete(text: str) -> bool:
    """The stop rule: `text` holds a complete (newline-ended) line with answer text (see the module
    docstring). ``"The answer is:\n"`` or ``"\n\n"`` is not complete; ``" 42\n"`` is."""
    return bool(answer_lines(text, complete_only=True))


def postprocess(text: str, mode: str = "none") -> str:
    """Apply a post-processing mode (``none`` / ``first_line``) to a decoded continuation."""
    if mode not in POSTPROCESS:
        raise ValueError(f"unknown postprocess {mode!r}; allowed: {', '.join(POSTPROCESS)}")
    text = text.strip()
    if mode == "first_line":
        found = answer_lines(text)
        return found[0] if found else ""
    return text


def check_postprocess(mode: str) -> str:
    if mode not in POSTPROCESS:
        raise ValueError(f"unknown postprocess {mode!r}; allowed: {', '.join(POSTPROCESS)}")
    return mode


def failure(error: BaseException | str, prompt_tokens: int = 0, truncated: bool = False) -> GenerationResult:
    msg = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return GenerationResult(text=None, prompt_tokens=prompt_tokens, truncated=truncated, error=msg)


def batches(indices: Sequence[int], size: int) -> list[list[int]]:
    size = max(1, int(size))
    return [list(indices[i:i + size]) for i in range(0, len(indices), size)]
