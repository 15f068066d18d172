r"""ANLS (Average Normalized Levenshtein Similarity) for DocVQA (Biten et al., ICCV 2019; Mathew et al., 2021).

For a question with gold answers :math:`G` and prediction :math:`a`,

.. math::
    \mathrm{NL}(a, g) = \frac{\mathrm{lev}(a, g)}{\max(|a|, |g|)},\qquad
    s(a, g) = \begin{cases} 1 - \mathrm{NL}(a, g) & \mathrm{NL}(a, g) < \tau \\ 0 & \text{otherwise}\end{cases},
    \qquad \mathrm{ANLS}(a, G) = \max_{g \in G} s(a, g),

with :math:`\tau = 0.5`, on strings that are lower-cased, stripped and whitespace-collapsed
(``" ".join(s.lower().split())``), and :math:`\mathrm{NL} = 0` when both strings are empty. This is the
normalisation of the DocVQA evaluation script and of the PyPI ``anls`` package (shunk031/ANLS,
``anls/metrics/score.py``). DistilDoc's own scorer (``Jordy-VL/DistilDoc_ICDAR24``,
``src/downstream/LATIN-Prompt-fork/metric/anls.py``) lower-cases and strips but does not collapse inner
whitespace; the difference only matters for predictions with repeated inner spaces.

The dataset-level ANLS is the mean over questions. DistilDoc's per-question-type scores count a question
once towards *each* of its types.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import editdistance

__all__ = ["anls_by_type", "anls_score", "normalize_answer", "normalized_levenshtein"]

#: DocVQA's ANLS threshold.
ANLS_THRESHOLD = 0.5


def normalize_answer(text: str) -> str:
    """Lower-case, strip, and collapse every run of whitespace to a single space."""
    return " ".join(text.lower().split())


def normalized_levenshtein(a: str, b: str) -> float:
    r"""Normalised Levenshtein distance :math:`\mathrm{lev}(a, b) / \max(|a|, |b|)` on the raw strings.

    Returns 0 when both strings are empty. Apply :func:`normalize_answer` first for ANLS semantics.
    """
    longest = max(len(a), len(b))
    if longest == 0:
        return 0.0
    return int(editdistance.eval(a, b)) / longest


def anls_score(prediction: str | None, answers: Sequence[str], threshold: float = ANLS_THRESHOLD) -> float:
    r"""ANLS of one prediction against its gold answers: :math:`\max_g s(a, g)` (see module docstring).

    A ``None`` prediction (generation failed, or the prompt was truncated away) scores 0. A normalised
    distance exactly equal to ``threshold`` scores 0 (the comparison is strict, ``NL < tau``).
    """
    if isinstance(answers, str):
        raise TypeError("answers must be a sequence of strings, not a single string")
    if len(answers) == 0:
        raise ValueError("answers must contain at least one gold answer")
    if prediction is None:
        return 0.0
    pred = normalize_answer(prediction)
    best = 0.0
    for gold in answers:
        nl = normalized_levenshtein(pred, normalize_answer(gold))
        score = 1.0 - nl if nl < threshold else 0.0
        best = max(best, score)
    return best


def _mean(total: float, count: int) -> float:
    return total / count if count else math.nan


def anls_by_type(
    records: Iterable[Mapping[str, Any]],
    *,
    threshold: float = ANLS_THRESHOLD,
    skip_failed: bool = False,
) -> dict[str, Any]:
    """Dataset-level ANLS, overall and per question type.

    Each record is a mapping with ``prediction`` (``str`` or ``None``), ``answers`` (list of gold strings)
    and optionally ``question_types`` (list of strings; a question counts once towards each distinct type
    it lists).

    Failed generations (``prediction is None``) score 0 by default. ``skip_failed=True`` reproduces
    DistilDoc, which silently dropped them: they are then left out of every mean and count ``n``, and
    reported under ``n_skipped`` instead.

    Returns:
        ``{"anls", "n", "n_total", "n_failed", "n_skipped", "skip_failed", "threshold", "scores",
        "by_type"}`` where ``n`` is the number of questions in the mean, ``n_total`` the number of records,
        ``scores`` the per-record scores in input order (``None`` for skipped records), and ``by_type``
        maps each type (sorted) to ``{"anls", "n", "n_failed", "n_skipped"}``. Means over zero questions
        are NaN.
    """
    scores: list[float | None] = []
    total = 0.0
    n = n_total = n_failed = n_skipped = 0
    type_sum: dict[str, float] = {}
    type_n: dict[str, int] = {}
    type_failed: dict[str, int] = {}
    type_skipped: dict[str, int] = {}

    for record in records:
        n_total += 1
        prediction = record["prediction"]
        types = list(dict.fromkeys(record.get("question_types") or []))
        for t in types:
            type_sum.setdefault(t, 0.0)
            type_n.setdefault(t, 0)
            type_failed.setdefault(t, 0)
            type_skipped.setdefault(t, 0)
        failed = prediction is None
        if failed:
            n_failed += 1
            for t in types:
                type_failed[t] += 1
            if skip_failed:
                n_skipped += 1
                for t in types:
                    type_skipped[t] += 1
                scores.append(None)
                continue
        score = anls_score(prediction, record["answers"], threshold=threshold)
        scores.append(score)
        total += score
        n += 1
        for t in types:
            type_sum[t] += score
            type_n[t] += 1

    by_type = {
        t: {
            "anls": _mean(type_sum[t], type_n[t]),
            "n": type_n[t],
            "n_failed": type_failed[t],
            "n_skipped": type_skipped[t],
        }
        for t in sorted(type_n)
    }
    return {
        "anls": _mean(total, n),
        "n": n,
        "n_total": n_total,
        "n_failed": n_failed,
        "n_skipped": n_skipped,
        "skip_failed": skip_failed,
        "threshold": threshold,
        "scores": scores,
        "by_type": by_type,
    }
