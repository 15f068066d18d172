"""Question-focused page text: the lines of a page that best match the question, by Okapi BM25.

Beyond the paper (the prompt types ``focus`` / ``task_focus`` of :mod:`distildoc.docvqa.prompts`). A small
reader answers a question about a long page poorly: it tends to copy the first plausible span of the page
(on the real DocVQA fixture, SmolLM2-135M answers the same amount of an expense table for every row the
question names). Retrieving the passage that matches the question before reading it is the retrieve-then-read
pattern of open-domain QA (DrQA, Chen et al. 2017, ranks paragraphs by TF-IDF / BM25 before a reader
extracts the answer); here the passages are the lines of the page's table-aware text
(:func:`distildoc.docvqa.tables.table_layout`: a table row is one line naming its column headers), and the
reader sees only the `k` best lines, in page order.

Scoring (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond"): each
non-empty line is a document of the page's collection, its terms the lower-cased words with punctuation
stripped from both ends and :data:`STOPWORDS` left out; the query is the question's terms (each distinct
term once), and

    score(line) = sum_t idf(t) * f(t, line) * (k1 + 1) / (f(t, line) + k1 * (1 - b + b * |line| / avgdl))
    idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))

with N the number of non-empty lines, n(t) how many of them hold t, |line| its number of terms, avgdl the
mean over the N lines, k1 = 1.5, b = 0.75 (the idf is Lucene's, never negative). The `k` highest-scoring
lines with a score above zero are kept (ties: the earlier line); when no line shares a term with the
question, the page is kept whole: there is nothing to focus on.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["STOPWORDS", "FOCUS_LINES", "terms", "bm25_scores", "focus_line_indices", "focus_text"]

#: lines the focus keeps by default (measured with SmolLM2-135M: 1 line gave the best ANLS on the synthetic
#: set and tied 2 lines on the real fixture; docs/docvqa.md "Question-focused page text")
FOCUS_LINES = 1

#: English function words (a subset of NLTK's English stopword list: articles, pronouns, auxiliaries,
#: prepositions, question words); content words such as "page" or "name" stay terms
STOPWORDS: frozenset[str] = frozenset(
    "a an and are as at be been being by can could did do does for from had has have how i if in into is it its "
    "me my no nor not of on or our should so than that the their them there these they this those to too was "
    "we were what when where which who whom whose why will with would you your".split())

_EDGE_PUNCT = re.compile(r"^[^\w$€£%]+|[^\w%]+$")


def terms(text: str) -> list[str]:
    """The BM25 terms of `text`: words lower-cased, punctuation stripped from their ends, stopwords left out.

    A currency sign at the start and a percent sign stay ("$117,047" -> "$117,047", "(5%)" -> "5%").
    """
    out = []
    for word in text.split():
        t = _EDGE_PUNCT.sub("", word.lower())
        if t and t not in STOPWORDS:
            out.append(t)
    return out


def bm25_scores(lines: Sequence[str], query: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 score of every line of `lines` for `query` (the module docstring's formula); an empty
    line (no terms) scores 0 and does not count in N or avgdl."""
    docs = [Counter(terms(line)) for line in lines]
    lengths = [sum(d.values()) for d in docs]
    n = sum(1 for n_terms in lengths if n_terms)
    if n == 0:
        return [0.0] * len(lines)
    avgdl = sum(lengths) / n
    df = Counter(t for d in docs for t in d)
    query_terms = list(dict.fromkeys(terms(query)))
    scores = []
    for doc, length in zip(docs, lengths):
        s = 0.0
        for t in query_terms:
            f = doc.get(t, 0)
            if f:
                idf = math.log(1.0 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * f * (k1 + 1.0) / (f + k1 * (1.0 - b + b * length / avgdl))
        scores.append(s)
    return scores


def focus_line_indices(lines: Sequence[str], question: str, k: int = FOCUS_LINES) -> list[int] | None:
    """Indices (ascending) of the `k` best lines for `question`; None when no line shares a term with it."""
    if k < 1:
        raise ValueError(f"the focus keeps at least one line, got k={k}")
    scores = bm25_scores(lines, question)
    ranked = sorted((i for i, s in enumerate(scores) if s > 0.0), key=lambda i: (-scores[i], i))
    return sorted(ranked[:k]) if ranked else None


def focus_text(document: str, question: str, k: int = FOCUS_LINES) -> tuple[str, list[int] | None]:
    """The `k` lines of `document` (split at newlines) that best match `question`, each stripped of its
    layout indentation, joined by newlines, and their indices; `document` unchanged and None when no line
    matches the question."""
    lines = document.split("\n")
    keep = focus_line_indices(lines, question, k)
    if keep is None:
        return document, None
    return "\n".join(lines[i].strip() for i in keep), keep
