"""Span-constrained (extractive) decoding: answers that spell a contiguous span of the page's OCR words.

DocVQA answers are "short text spans taken verbatim from the document" (the task prompt says so); a small
reader often answers with a year from the question, a sentence, or nothing. With ``decoding="extractive"``
the transformers reader only lets a prompt's generation spell, token by token, one contiguous span of at
most `max_words` of the page's OCR words (:attr:`~distildoc.docvqa.llm.base.PromptParts.words`, layout
tags left out), then end it:

* **Trie.** Every span ``words[i:j]`` (``1 <= j - i <= max_words``) is tokenised the way it would be
  tokenised after the prompt: ``tokenize(anchor + " " + span)`` minus the tokens of ``anchor``, the tail of
  the rendered prompt (``"Answer:"``), so a BPE tokenizer's leading-space tokens (``" 1986"``) are the ones
  the model generates there; the same without the space is also allowed (a chat template ends with a
  newline; ``"Answer:1986"``), when its anchor tokens survive (``":$"`` would merge: that variant is
  dropped). The token sequences go into a prefix trie (nodes = prefixes; a node that completes a span is
  *accepting*). A page's trie is cached (few thousand nodes for a DocVQA page).
* **Logits processor** (:class:`SpanConstraint`, a transformers ``LogitsProcessor``): per batch row, the
  trie node of the tokens generated so far; only its children may follow, plus, at an accepting node (a
  word boundary after at least one word), the end-of-sequence tokens and newline tokens. After a newline
  only end-of-sequence may follow (so the answer is one line with or without the stop rule). A page
  without words allows only end-of-sequence (an empty answer, scored 0: never dropped).
* **Question echoes** (``question=`` given; the reader option ``exclude_question_spans``): a span whose
  words are nothing but a contiguous run of the question's words (``"1987"``, ``"Employee Benefits"`` for
  "What is the Expenses for Employee Benefits for 1987?") is not an answer: it only repeats the question.
  Such spans are left out of the trie (a longer span through them stays: ``"1987 Salaries"`` may still
  pass through ``"1987"``, it just cannot end there). Words are compared after ANLS's normalisation
  (lower-case, whitespace-split) with punctuation also stripped from each word's ends (``"1987?"`` and
  ``"1986*"`` are ``"1987"`` and ``"1986"``); a span of punctuation only is never an echo.
* A question whose answer is not in the OCR still gets the model's favourite span: wrong, but scored.

Rows are constrained independently, so batching does not change the answers (up to the model's own
numerics under padding). Each row's state is a function of its own tokens, so the processor also serves
beam search (the reader's ``num_beams``), whose rows are reordered at every step.
"""

from __future__ import annotations

import string
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from transformers import LogitsProcessor

from ...evaluate.anls import normalize_answer

DECODING: tuple[str, ...] = ("free", "extractive")
#: Longest answer span in words (the trie holds ``n_words * max_words`` spans); DocVQA answers are short.
DEFAULT_MAX_SPAN_WORDS = 12
#: Characters of the rendered prompt's last line used as the tokenisation anchor.
ANCHOR_CHARS = 32

_ENDED = -1  # a newline was generated at a word boundary: only end-of-sequence may follow
_FINISHED = -2  # end-of-sequence generated (the row is padded from here): no constraint


def check_decoding(decoding: str) -> str:
    if decoding not in DECODING:
        raise ValueError(f"unknown decoding {decoding!r}; allowed: {', '.join(DECODING)}")
    return decoding


def spans(words: Sequence[str], max_words: int = DEFAULT_MAX_SPAN_WORDS) -> list[str]:
    """Every contiguous span of 1..`max_words` words, joined by single spaces (duplicates kept once)."""
    out: dict[str, None] = {}
    n = len(words)
    for i in range(n):
        for j in range(i + 1, min(n, i + max_words) + 1):
            out.setdefault(" ".join(words[i:j]), None)
    return list(out)


def match_words(text: str) -> tuple[str, ...]:
    """`text`'s words as compared for question echoes: lower-cased, split on whitespace (ANLS's
    normalisation), punctuation stripped from each word's ends, words of punctuation only dropped."""
    stripped = (w.strip(string.punctuation) for w in normalize_answer(text).split())
    return tuple(w for w in stripped if w)


def repeats_question(span: str, question_words: Sequence[str]) -> bool:
    """True when the (non-empty) :func:`match_words` of `span` are a contiguous run of `question_words`
    (themselves :func:`match_words` of the question)."""
    words = match_words(span)
    n = len(words)
    if n == 0:
        return False
    return any(tuple(question_words[i:i + n]) == words for i in range(len(question_words) - n + 1))


def anchor_of(rendered_prompt: str) -> str:
    """The tail of a rendered prompt that answer tokens are tokenised after: its last line, at most
    :data:`ANCHOR_CHARS` characters (``"Answer:"`` for the DocVQA prompts; ``""`` after a chat template)."""
    return rendered_prompt.rsplit("\n", 1)[-1][-ANCHOR_CHARS:]


@dataclass
class SpanTrie:
    """Prefix trie of token sequences; node 0 is the root (see the module docstring)."""

    children: list[dict[int, int]] = field(default_factory=lambda: [{}])
    accept: list[bool] = field(default_factory=lambda: [False])
    n_sequences: int = 0

    def insert(self, tokens: Iterable[int]) -> None:
        node = 0
        for t in tokens:
            nxt = self.children[node].get(t)
            if nxt is None:
                nxt = len(self.children)
                self.children[node][t] = nxt
                self.children.append({})
                self.accept.append(False)
            node = nxt
        if node != 0:
            self.accept[node] = True
            self.n_sequences += 1

    def __len__(self) -> int:
        return len(self.children)

    def walk(self, tokens: Iterable[int]) -> int | None:
        """The node reached by `tokens` from the root, None when they leave the trie."""
        node = 0
        for t in tokens:
            node = self.children[node].get(t)
            if node is None:
                return None
        return node


def continuation_ids(tokenizer, anchor: str, texts: Sequence[str]) -> list[list[int] | None]:
    """Tokens of each text as generated after `anchor`: ``tokenize(anchor + text)`` without the tokens of
    `anchor`; None where the text's first characters merge into the anchor's last token."""
    if not texts:
        return []
    head = tokenizer(anchor, add_special_tokens=False)["input_ids"] if anchor else []
    ids = tokenizer([anchor + t for t in texts], add_special_tokens=False)["input_ids"]
    k = len(head)
    return [row[k:] if row[:k] == head and len(row) > k else None for row in ids]


#: A page's spans, each with its continuation tokens after the anchor with and without a leading space
#: (None: that variant merges into the anchor or is empty).
TokenisedSpans = list[tuple[str, tuple[list[int] | None, list[int] | None]]]


def tokenise_spans(tokenizer, words: Sequence[str], anchor: str = "Answer:",
                   max_words: int = DEFAULT_MAX_SPAN_WORDS) -> TokenisedSpans:
    """Every span of `words` with its tokens after `anchor`, as ``(" " + span, span)`` variants."""
    texts = spans(words, max_words)
    spaced = continuation_ids(tokenizer, anchor, [" " + t for t in texts])
    bare = continuation_ids(tokenizer, anchor, texts)
    return [(t, (a or None, b or None)) for t, a, b in zip(texts, spaced, bare)]


def trie_of(tokenised: TokenisedSpans, question: str | None = None) -> SpanTrie:
    """The trie of tokenised spans; with a `question`, spans that only repeat it (:func:`repeats_question`)
    are left out."""
    question_words = None if question is None else match_words(question)
    kept = [variants for text, variants in tokenised
            if question_words is None or not repeats_question(text, question_words)]
    trie = SpanTrie()
    for index in (0, 1):  # the spaced variants first
        for variants in kept:
            if variants[index]:
                trie.insert(variants[index])
    return trie


def build_span_trie(tokenizer, words: Sequence[str], anchor: str = "Answer:",
                    max_words: int = DEFAULT_MAX_SPAN_WORDS, question: str | None = None) -> SpanTrie:
    """The trie of every span of `words` (with and without a leading space) tokenised after `anchor`;
    with a `question`, spans that only repeat it (:func:`repeats_question`) are left out."""
    return trie_of(tokenise_spans(tokenizer, words, anchor, max_words), question)


class SpanTrieCache:
    """Tries by (words, anchor, max_words, question words), least recently used dropped beyond `size`; the
    tokenised spans of a page (the expensive part) are cached too, so each question of a page only
    re-inserts them."""

    def __init__(self, tokenizer, size: int = 64) -> None:
        self.tokenizer, self.size = tokenizer, size
        self._tries: OrderedDict[tuple, SpanTrie] = OrderedDict()
        self._tokenised: OrderedDict[tuple, TokenisedSpans] = OrderedDict()

    def clear(self) -> None:
        self._tries.clear()
        self._tokenised.clear()

    def __len__(self) -> int:
        return len(self._tries)

    def get(self, words: Sequence[str], anchor: str, max_words: int, question: str | None = None) -> SpanTrie:
        page = (tuple(words), anchor, int(max_words))
        key = page + (None if question is None else match_words(question),)
        trie = _lru_get(self._tries, key)
        if trie is None:
            tokenised = _lru_get(self._tokenised, page)
            if tokenised is None:
                tokenised = tokenise_spans(self.tokenizer, words, anchor, max_words)
                _lru_put(self._tokenised, page, tokenised, self.size)
            trie = trie_of(tokenised, question)
            _lru_put(self._tries, key, trie, self.size)
        return trie


def _lru_get(cache: OrderedDict, key):
    value = cache.get(key)
    if value is not None:
        cache.move_to_end(key)
    return value


def _lru_put(cache: OrderedDict, key, value, size: int) -> None:
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)


def newline_token_ids(tokenizer) -> set[int]:
    """Single tokens that spell a line break (``"\\n"``, ``"\\n\\n"``, ``" \\n"``) in this tokenizer."""
    out = set()
    for s in ("\n", "\n\n", " \n"):
        ids = tokenizer(s, add_special_tokens=False)["input_ids"]
        if len(ids) == 1:
            out.add(ids[0])
    return out


class SpanConstraint(LogitsProcessor):
    """Masks every token that would leave the row's span trie (see the module docstring).

    A row's state is recomputed from its own generated tokens at every step (a walk of at most
    ``max_new_tokens`` trie edges), so rows may be reordered between steps: beam search's rows are
    ``len(tries) * num_beams``, the beams of prompt ``k`` being rows ``k * num_beams ... (k + 1) * num_beams - 1``.

    Args:
        tries: one trie per prompt.
        prompt_len: the (left-padded) prompt length; generated tokens start there.
        eos_ids: end-of-sequence tokens (also the padding of finished rows).
        newline_ids: tokens that end the answer line.
    """

    def __init__(self, tries: Sequence[SpanTrie], prompt_len: int, eos_ids: Iterable[int],
                 newline_ids: Iterable[int]) -> None:
        self.tries = list(tries)
        self.prompt_len = int(prompt_len)
        self.eos_ids = sorted(set(eos_ids))
        self.newline_ids = sorted(set(newline_ids) - set(self.eos_ids))
        self._allowed: list[dict[int, object]] = [{} for _ in self.tries]

    def __deepcopy__(self, memo):  # transformers copies its processors; the tries are read-only
        return self

    def state(self, trie: SpanTrie, tokens: Iterable[int]) -> int:
        """The trie node reached by `tokens`, or :data:`_ENDED` / :data:`_FINISHED`."""
        state = 0
        for token in tokens:
            if state == _FINISHED:
                break
            if token in self.eos_ids or state == _ENDED:
                state = _FINISHED  # after a newline only end-of-sequence can come (the mask)
            elif token in trie.children[state]:
                state = trie.children[state][token]
            elif token in self.newline_ids:
                state = _ENDED
            else:
                state = _FINISHED  # cannot happen under the mask
        return state

    def allowed(self, trie: SpanTrie, state: int) -> list[int] | None:
        """Allowed next tokens at `state` of `trie`, None for no constraint (a finished row)."""
        if state == _FINISHED:
            return None
        if state == _ENDED:
            return list(self.eos_ids)
        ids = list(trie.children[state])
        if trie.accept[state]:
            ids += self.eos_ids + self.newline_ids
        elif state == 0 and not ids:  # a page without words: the empty answer
            ids = list(self.eos_ids)
        return ids

    def __call__(self, input_ids, scores):
        import torch

        rows = scores.shape[0]
        if rows % len(self.tries):
            raise ValueError(f"{rows} rows for {len(self.tries)} tries")
        per_trie = rows // len(self.tries)
        mask = torch.full_like(scores, float("-inf"))
        for row, tokens in enumerate(input_ids[:, self.prompt_len:].tolist()):
            k = row // per_trie
            state = self.state(self.tries[k], tokens)
            index = self._allowed[k].get(state)
            if index is None:
                ids = self.allowed(self.tries[k], state)
                index = "all" if ids is None else torch.tensor(ids, dtype=torch.long, device=scores.device)
                self._allowed[k][state] = index
            if isinstance(index, str):
                mask[row] = 0.0
            else:
                mask[row, index] = 0.0
        return scores + mask
