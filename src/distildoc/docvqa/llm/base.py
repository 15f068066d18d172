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
* ``first_line``: the first non-empty line of that, stripped (small chat models tend to add a
  sentence after the answer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.prompts import build_prompt, document_text

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
        finish_reason: ``stop`` (end-of-sequence / stop string), ``length`` (hit max_new_tokens) or None.
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
    """A prompt as ``prefix + document + suffix``; only `document` may be cut to fit the context."""

    prefix: str
    document: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.document + self.suffix

    def with_document(self, document: str) -> PromptParts:
        return PromptParts(self.prefix, document, self.suffix)


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

    ``parts.text`` is exactly ``build_prompt(prompt_type, page, question, explain_tags)``.
    """
    full = build_prompt(prompt_type, page, question, explain_tags=explain_tags)
    doc = document_text(prompt_type, page)
    start = full.find(_DOCUMENT_HEADER)
    if start < 0 or full[start + len(_DOCUMENT_HEADER):start + len(_DOCUMENT_HEADER) + len(doc)] != doc:
        raise ValueError(f"prompt type {prompt_type!r}: cannot locate the document text in the prompt")
    start += len(_DOCUMENT_HEADER)
    parts = PromptParts(full[:start], doc, full[start + len(doc):])
    assert parts.text == full
    return parts


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


def postprocess(text: str, mode: str = "none") -> str:
    """Apply a post-processing mode (``none`` / ``first_line``) to a decoded continuation."""
    if mode not in POSTPROCESS:
        raise ValueError(f"unknown postprocess {mode!r}; allowed: {', '.join(POSTPROCESS)}")
    text = text.strip()
    if mode == "first_line":
        for line in text.splitlines():
            if line.strip():
                return line.strip()
        return ""
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
