"""The DocVQA grid: prompts for a question set (OCR + optional DLA tags), one reader, ANLS per cell.

A *cell* is one (dataset, prompt type, DLA model) combination of the paper's Tables 4 / 16 / 17:
``plain``, ``space``, ``task``, ``task_space`` without DLA (``dla_model = "none"``) and the DLA prompt
types with the tags of one layout model (``dla_model = "<teacher>__<role>__<method>"``, the folder key of
the layout stage). :func:`run_grid` builds every cell's prompts, answers them with one loaded reader
and scores them; :func:`write_cell` writes a cell's ``predictions.jsonl`` and ``metrics.json``.

Rules:

* **Every question is a record.** A failed generation (reader error, or a prompt too long for the
  context) is a record with ``failed: true`` and ``answer: null``; it scores 0 unless the compat switch
  ``skip_failed`` (DistilDoc's released script skipped failures) leaves it out of the means, in which
  case it is still written (``skipped: true``) and counted under ``n_skipped``.
* **Truncation policy** (``truncation``): ``cut_document`` (default) lets the reader cut the document
  text from its end until the prompt fits ``max_context - max_new_tokens`` (flagged ``truncated``);
  ``fail`` does not generate such a prompt and records it as a failure instead.
* **Identical prompts are answered once** (``reuse_identical_prompts``, default on): greedy decoding
  makes the answer a function of the prompt, and a DLA model that inserts no tag on a page gives the
  no-DLA prompt again. Reused answers are flagged ``reused: true``.
* **Throughput.** Prompts are answered in batches (sorted by length); each batch's wall time is split
  over its prompts in proportion to their tokens (prompt + answer), and a cell's ``questions_per_s`` /
  ``prompt_tokens_per_s`` use the summed time of its questions' answers, a reused answer counting with
  the time it took when generated. So a cell's throughput estimates what it would get alone, whatever
  was shared.
* **Questions without gold answers** (your own questions: ``answers`` missing, null or empty) are
  answered and written like the others, with ``anls: null`` and ``unscored: true``; they are left out of
  every mean and counted under ``n_unscored``. A question without ``questionId``, ``question`` or
  ``doc_id`` is an error naming the key.
* **Extractive decoding** (reader option ``decoding: extractive``): every prompt carries its page's OCR
  words (:attr:`~distildoc.docvqa.llm.base.PromptParts.words`, tags left out), which the reader
  restricts answers to.
* **Per-type ANLS** (:func:`distildoc.evaluate.anls.anls_by_type`): a question counts once towards each of
  its types. Type slugs (column names ``anls_<slug>``) are the lower-cased type with spaces as ``_``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from distildoc import catalogue
from distildoc.data.ocr import OcrPage
from distildoc.docvqa.enrich import DEFAULT_IGNORE_LABELS, DEFAULT_SCORE_THRESHOLD, enrich_page
from distildoc.docvqa.llm.base import GenerationResult, PromptParts, Reader, failure, prompt_parts
from distildoc.docvqa.prompts import ALL_PROMPT_TYPES
from distildoc.evaluate.anls import ANLS_THRESHOLD, anls_by_type
from distildoc.utils.io import read_json, write_json, write_jsonl

log = logging.getLogger(__name__)

DLA_NONE = "none"
TRUNCATION_POLICIES: tuple[str, ...] = ("cut_document", "fail")
DLA_PREDICTIONS_FORMAT = "distildoc-dla-predictions/v1"

#: short names of the layout roles and methods (the paper's Table 3 wording)
ROLE_LABELS = {r.name: r.backbone for r in catalogue.DETECTOR_ROLES}
METHOD_LABELS = {**{m.key: m.label for m in catalogue.DETECTION_METHODS}, "supervised": ""}


# ----------------------------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Cell:
    """One grid cell; its outputs live under ``runs/<dla_model>/<prompt>/``."""

    prompt: str
    dla_model: str = DLA_NONE

    @property
    def key(self) -> str:
        return f"{self.dla_model}/{self.prompt}"

    @property
    def has_dla(self) -> bool:
        return self.dla_model != DLA_NONE


def grid_cells(prompts: Sequence[str], dla_prompts: Sequence[str], dla_models: Sequence[str]) -> list[Cell]:
    """No-DLA cells for `prompts`, then for each DLA model one cell per DLA prompt (config order)."""
    for p in list(prompts) + list(dla_prompts):
        if p not in ALL_PROMPT_TYPES:
            raise ValueError(f"unknown prompt type {p!r}; allowed: {', '.join(ALL_PROMPT_TYPES)}")
    cells = [Cell(p) for p in prompts]
    cells += [Cell(p, m) for m in dla_models for p in dla_prompts]
    return cells


def dla_label(dla_model: str) -> str:
    """Human label of a layout model key: ``none`` -> ``–``, ``none__ViT-B-FPN__supervised`` -> ``ViT-B``,
    ``R101-FPN__R50-FPN__simkd_fpn`` -> ``R50 SimKD``. Unknown parts are kept verbatim."""
    if dla_model == DLA_NONE:
        return "–"
    parts = dla_model.split("__")
    if len(parts) != 3:
        return dla_model
    _, role, method = parts
    name = ROLE_LABELS.get(role, role)
    suffix = METHOD_LABELS.get(method, method)
    return f"{name} {suffix}".strip()


def type_slug(question_type: str) -> str:
    """Column-safe slug of a question type: ``Image/Photo`` -> ``image/photo``, ``free text`` -> ``free_text``."""
    return "_".join(str(question_type).strip().lower().split())


# ---------------------------------------------------------------------------------------------- inputs


#: keys every question needs; ``answers`` (gold answers) and ``question_types`` are optional
QUESTION_KEYS: tuple[str, ...] = ("questionId", "question", "doc_id")


def check_questions(questions: Sequence[Mapping], where: str = "questions") -> None:
    """Every question is a mapping with :data:`QUESTION_KEYS`, ``answers`` (when present) a list of
    strings (or null), question ids unique; errors name `where`, the question and the key."""
    for i, q in enumerate(questions):
        if not isinstance(q, Mapping):
            raise ValueError(f"{where}: questions[{i}] is a {type(q).__name__}, not an object")
        for key in QUESTION_KEYS:
            if key not in q:
                qid = f" (questionId {q['questionId']})" if "questionId" in q else ""
                raise ValueError(f"{where}: questions[{i}]{qid} has no key {key!r}")
        answers = q.get("answers")
        if answers is not None and (isinstance(answers, str) or not isinstance(answers, Sequence)
                                    or not all(isinstance(a, str) for a in answers)):
            raise ValueError(f"{where}: questions[{i}] (questionId {q['questionId']}): 'answers' must be a list of "
                             f"strings, got {answers!r}")
    ids = [str(q["questionId"]) for q in questions]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"{where}: repeated questionId {', '.join(dup)}")


def gold_answers(q: Mapping) -> list[str]:
    """A question's gold answers; ``[]`` for a question without them (answered, not scored)."""
    return list(q.get("answers") or [])


def load_questions(path: str | Path) -> list[dict]:
    """The ``questions`` of a question-set JSON (``docvqa_select``, or your own); errors name the file and
    key. Questions without gold answers are kept (answered, not scored)."""
    obj = read_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("questions"), list):
        raise ValueError(f"{path}: expected an object with a 'questions' list")
    check_questions(obj["questions"], str(path))
    return obj["questions"]


def load_dla_predictions(path: str | Path) -> dict[str, dict]:
    """``page stem -> predictions record`` of a ``distildoc-dla-predictions/v1`` file."""
    obj = read_json(path)
    if not isinstance(obj, dict) or obj.get("format") != DLA_PREDICTIONS_FORMAT:
        raise ValueError(f"{path}: not a {DLA_PREDICTIONS_FORMAT} file (format {obj.get('format')!r})"
                         if isinstance(obj, dict) else f"{path}: not a JSON object")
    out: dict[str, dict] = {}
    for i, rec in enumerate(obj.get("images", [])):
        try:
            stem = Path(rec["file_name"]).stem
        except (KeyError, TypeError):
            raise ValueError(f"{path}: images[{i}] has no 'file_name'") from None
        if stem in out:
            raise ValueError(f"{path}: two records for page {stem!r}")
        out[stem] = rec
    return out


def _page_of(q: Mapping, pages: Mapping[str, OcrPage], where: str) -> OcrPage:
    doc = str(q["doc_id"])
    if doc not in pages:
        raise KeyError(f"{where}: no OCR page {doc!r} for question {q['questionId']}")
    return pages[doc]


def build_prompts(
    questions: Sequence[Mapping],
    pages: Mapping[str, OcrPage],
    prompt_type: str,
    dla: Mapping[str, Mapping] | None = None,
    *,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
    explain_tags: bool = False,
    where: str = "questions",
) -> tuple[list[PromptParts], list[int]]:
    """One prompt per question (same order) and the number of DLA tags on its page.

    `dla` maps page stems (``doc_id``) to layout predictions; a question whose page has no prediction
    record raises KeyError (a page the layout model was not run on is an error, not an empty page).
    """
    enriched: dict[str, OcrPage] = {}
    prompts, n_tags = [], []
    ignore = tuple(ignore_labels)
    for q in questions:
        page = _page_of(q, pages, where)
        doc = str(q["doc_id"])
        if dla is not None:
            if doc not in enriched:
                if doc not in dla:
                    raise KeyError(f"{where}: the layout predictions have no page {doc!r} "
                                   f"(question {q['questionId']})")
                enriched[doc] = enrich_page(page, dla[doc], score_threshold, ignore)
            page = enriched[doc]
        prompts.append(prompt_parts(prompt_type, page, str(q["question"]), explain_tags=explain_tags))
        n_tags.append(int(page.meta.get("dla", {}).get("n_tags", 0)) if dla is not None else 0)
    return prompts, n_tags


# -------------------------------------------------------------------------------------------- answering


@dataclass
class Answer:
    result: GenerationResult
    seconds: float  # this prompt's share of its batch's wall time, by tokens (0 when not generated)


def answer_prompts(
    reader: Reader,
    prompts: Sequence[PromptParts],
    *,
    batch_size: int = 8,
    truncation: str = "cut_document",
    progress: bool = True,
    desc: str = "answering",
) -> list[Answer]:
    """Answer distinct prompts in length-sorted batches of `batch_size`, timing each batch."""
    if truncation not in TRUNCATION_POLICIES:
        raise ValueError(f"unknown truncation policy {truncation!r}; allowed: {', '.join(TRUNCATION_POLICIES)}")
    answers: list[Answer | None] = [None] * len(prompts)
    todo = list(range(len(prompts)))
    if truncation == "fail":
        budget = reader.max_context - reader.max_new_tokens
        keep = []
        for i in todo:
            n = reader.count_tokens(prompts[i].text)
            if n > budget:
                answers[i] = Answer(failure(f"PromptTooLong: {n} prompt tokens > budget {budget} "
                                            "(truncation policy 'fail')", prompt_tokens=n), 0.0)
            else:
                keep.append(i)
        todo = keep
    todo.sort(key=lambda i: -len(prompts[i].text))
    size = max(1, int(batch_size))
    chunks = [todo[k:k + size] for k in range(0, len(todo), size)]
    for chunk in tqdm(chunks, desc=desc, unit="batch", disable=not progress or not chunks):
        t0 = time.perf_counter()
        results = reader.generate([prompts[i] for i in chunk])
        dt = time.perf_counter() - t0
        if len(results) != len(chunk):
            raise RuntimeError(f"reader {getattr(reader, 'name', reader)!r} returned {len(results)} results "
                               f"for {len(chunk)} prompts")
        # split the batch's time by each prompt's tokens (prompt + answer): a longer prompt costs more
        weights = [max(1, int(r.prompt_tokens) + int(r.completion_tokens)) for r in results]
        total = sum(weights)
        for i, r, w in zip(chunk, results, weights):
            answers[i] = Answer(r, dt * w / total)
    assert all(a is not None for a in answers)
    return answers  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------- scoring


def cell_records(
    cell: Cell,
    questions: Sequence[Mapping],
    prompts: Sequence[PromptParts],
    answers: Sequence[Answer],
    reused: Sequence[bool],
    n_tags: Sequence[int],
    *,
    dataset: str,
    threshold: float = ANLS_THRESHOLD,
    skip_failed: bool = False,
) -> tuple[list[dict], dict[str, Any]]:
    """The cell's prediction records (one per question, input order) and its metrics.

    Questions without gold answers get records with ``anls: None, unscored: True`` and stay out of the
    means (``n_unscored``)."""
    if not len(questions) == len(prompts) == len(answers) == len(reused) == len(n_tags):
        raise ValueError(f"cell {cell.key}: {len(questions)} questions, {len(prompts)} prompts, "
                         f"{len(answers)} answers")
    golds = [gold_answers(q) for q in questions]
    has_gold = [bool(g) for g in golds]
    scored = anls_by_type(
        [{"prediction": a.result.text if a.result.ok else None, "answers": g,
          "question_types": list(q.get("question_types") or [])}
         for q, a, g in zip(questions, answers, golds) if g],
        threshold=threshold, skip_failed=skip_failed)
    gold_scores = iter(scored["scores"])
    scores = [next(gold_scores) if g else None for g in has_gold]
    records = []
    for q, a, was_reused, tags, score, gold in zip(questions, answers, reused, n_tags, scores, golds):
        r = a.result
        records.append({
            "question_id": q["questionId"],
            "dataset": dataset,
            "prompt": cell.prompt,
            "dla_model": cell.dla_model,
            "doc_id": str(q["doc_id"]),
            "question": q["question"],
            "prompt_tokens": int(r.prompt_tokens),
            "truncated": bool(r.truncated),
            "failed": not r.ok,
            "skipped": bool(gold) and score is None,
            "unscored": not gold,
            "error": r.error,
            "answer": r.text if r.ok else None,
            "raw_answer": r.raw_text,
            "answers": gold,
            "question_types": list(q.get("question_types") or []),
            "anls": score,
            "n_dla_tags": int(tags),
            "reused": bool(was_reused),
            "completion_tokens": int(r.completion_tokens),
            "finish_reason": r.finish_reason,
            "seconds": round(a.seconds, 4),
        })
    metrics = cell_metrics(cell, records, scored, dataset=dataset)
    return records, metrics


def cell_metrics(cell: Cell, records: Sequence[Mapping], scored: Mapping[str, Any], *, dataset: str) -> dict[str, Any]:
    seconds = sum(float(r["seconds"]) for r in records)
    # prompt tokens processed (a prompt refused before generation took no time and processed nothing)
    tokens = sum(int(r["prompt_tokens"]) for r in records if float(r["seconds"]) > 0)
    sent = [int(r["prompt_tokens"]) for r in records if r["prompt_tokens"]]
    by_type = {type_slug(t): {"type": t, "anls": _nan_to_none(v["anls"]), "n": v["n"], "n_failed": v["n_failed"],
                              "n_skipped": v["n_skipped"]} for t, v in scored["by_type"].items()}
    n = len(records)
    return {
        "dataset": dataset,
        "prompt": cell.prompt,
        "dla_model": cell.dla_model,
        "dla_label": dla_label(cell.dla_model),
        "anls": _nan_to_none(scored["anls"]),
        "anls_by_type": by_type,
        "n_questions": n,
        "n_scored": scored["n"],
        "n_unscored": sum(bool(r.get("unscored")) for r in records),
        "n_truncated": sum(bool(r["truncated"]) for r in records),
        "n_failed": sum(bool(r["failed"]) for r in records),  # unscored questions included
        "n_skipped": scored["n_skipped"],
        "n_reused": sum(bool(r["reused"]) for r in records),
        "n_with_dla_tags": sum(int(r["n_dla_tags"]) > 0 for r in records),
        "skip_failed": scored["skip_failed"],
        "anls_threshold": scored["threshold"],
        "mean_prompt_tokens": (sum(sent) / len(sent)) if sent else None,
        "generation_seconds": round(seconds, 4),
        "questions_per_s": (n / seconds) if seconds > 0 else None,
        "prompt_tokens_per_s": (tokens / seconds) if seconds > 0 else None,
    }


def _nan_to_none(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


# ------------------------------------------------------------------------------------------------- grid


def run_grid(
    reader: Reader,
    questions: Sequence[Mapping],
    pages: Mapping[str, OcrPage],
    cells: Sequence[Cell],
    dla: Mapping[str, Mapping[str, Mapping]] | None = None,
    *,
    dataset: str,
    batch_size: int = 8,
    truncation: str = "cut_document",
    reuse_identical_prompts: bool = True,
    threshold: float = ANLS_THRESHOLD,
    skip_failed: bool = False,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
    explain_tags: bool = False,
    progress: bool = True,
) -> tuple[dict[Cell, tuple[list[dict], dict[str, Any]]], dict[str, Any]]:
    """Answer and score every cell with one reader.

    Args:
        dla: ``dla_model -> (page stem -> predictions)`` for the cells that use DLA tags.

    Returns:
        ``{cell: (records, metrics)}`` in `cells` order, and a job summary (distinct prompts, wall time).
    """
    dla = dla or {}
    check_questions(questions, dataset)
    cell_prompts: dict[Cell, tuple[list[PromptParts], list[int]]] = {}
    for cell in cells:
        preds = None
        if cell.has_dla:
            if cell.dla_model not in dla:
                raise KeyError(f"cell {cell.key}: no layout predictions for {cell.dla_model!r} (have {sorted(dla)})")
            preds = dla[cell.dla_model]
        cell_prompts[cell] = build_prompts(questions, pages, cell.prompt, preds, score_threshold=score_threshold,
                                           ignore_labels=ignore_labels, explain_tags=explain_tags,
                                           where=f"{dataset}/{cell.key}")

    # distinct prompts (or every prompt when reuse is off)
    unique: list[PromptParts] = []
    index: dict[str, int] = {}
    slots: dict[Cell, list[tuple[int, bool]]] = {}
    for cell in cells:
        slots[cell] = []
        for p in cell_prompts[cell][0]:
            key = p.text
            if reuse_identical_prompts and key in index:
                slots[cell].append((index[key], True))
            else:
                index.setdefault(key, len(unique))
                slots[cell].append((len(unique), False))
                unique.append(p)
    n_total = sum(len(v) for v in slots.values())
    log.info("%s: %d cells x %d questions = %d prompts, %d to generate", dataset, len(cells), len(questions),
             n_total, len(unique))
    t0 = time.perf_counter()
    answers = answer_prompts(reader, unique, batch_size=batch_size, truncation=truncation, progress=progress,
                             desc=f"{dataset}: {len(unique)} prompts")
    wall = time.perf_counter() - t0

    out: dict[Cell, tuple[list[dict], dict[str, Any]]] = {}
    for cell in cells:
        prompts, n_tags = cell_prompts[cell]
        cell_answers = [answers[i] for i, _ in slots[cell]]
        reused = [r for _, r in slots[cell]]
        out[cell] = cell_records(cell, questions, prompts, cell_answers, reused, n_tags, dataset=dataset,
                                 threshold=threshold, skip_failed=skip_failed)
    summary = {
        "dataset": dataset,
        "n_cells": len(cells),
        "n_questions": len(questions),
        "n_prompts": n_total,
        "n_generated": len(unique),
        "generation_wall_seconds": round(wall, 3),
        "questions_per_s_wall": (n_total / wall) if wall > 0 else None,
        "generated_per_s_wall": (len(unique) / wall) if wall > 0 else None,
    }
    return out, summary


def write_cell(out_dir: str | Path, records: Sequence[Mapping], metrics: Mapping[str, Any]) -> dict[str, Path]:
    """``<out_dir>/predictions.jsonl`` and ``<out_dir>/metrics.json`` (atomic)."""
    out_dir = Path(out_dir)
    return {"predictions": write_jsonl(out_dir / "predictions.jsonl", list(records)),
            "metrics": write_json(out_dir / "metrics.json", dict(metrics))}


# ----------------------------------------------------------------------------------------------- reader

#: settings every backend understands, passed next to the backend's own `options` (distildoc.catalogue.Backend.args)
_BACKEND_ARGS: dict[str, tuple[str, ...]] = {b.key: b.args for b in catalogue.READER_BACKENDS}


def make_reader(backend: str, options: Mapping[str, Any] | None = None, *, max_new_tokens: int = 100,
                batch_size: int = 8, use_chat_template: bool = False, max_context: int | None = None,
                threads: int | None = None) -> Reader:
    """A reader from the ``docvqa.reader`` configuration: the backend's own `options` plus the shared
    settings that backend takes (``max_context=None`` keeps the model's context)."""
    from distildoc.docvqa.llm import get_reader

    if backend not in _BACKEND_ARGS:
        raise KeyError(f"docvqa.reader.backend: unknown backend {backend!r}; allowed: {', '.join(_BACKEND_ARGS)}")
    shared = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "use_chat_template": use_chat_template,
              "max_context": max_context, "num_threads": threads, "n_threads": threads}
    cfg = {k: shared[k] for k in _BACKEND_ARGS[backend] if shared[k] is not None}
    if backend == "openai" and use_chat_template:
        cfg["api"] = "chat"
    clash = sorted(set(cfg) & set(options or {}))
    if clash:
        raise ValueError(f"docvqa.reader.options: {clash} are set by docvqa.* keys; remove them from the options")
    cfg.update(options or {})
    return get_reader(backend, **cfg)


def describe_reader(reader: Reader) -> dict[str, Any]:
    describe = getattr(reader, "describe", None)
    if callable(describe):
        return dict(describe())
    return {"backend": getattr(reader, "name", type(reader).__name__), "max_context": reader.max_context,
            "max_new_tokens": reader.max_new_tokens}
