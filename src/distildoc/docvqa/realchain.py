"""The DocVQA chain on real page images: Tesseract OCR -> optional DLA -> prompts -> reader -> ANLS.

Used by the ``docvqa_realfixture`` rule on the real DocVQA fixture (``../shared/realdata/docvqa``: a
DocVQA-format ``val_v1.0.json`` and the page images, no published OCR) and by its test. Layout tags come
from a trained detector (:func:`distildoc.evaluate.detection.export_predictions`) or from predictions
given directly (same ``distildoc-dla-predictions/v1`` records, keyed by page stem).
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distildoc.data.images import split_readable
from distildoc.data.ocr import OcrPage
from distildoc.docvqa.enrich import DEFAULT_IGNORE_LABELS, DEFAULT_SCORE_THRESHOLD
from distildoc.docvqa.llm.base import Reader
from distildoc.docvqa.ocr import DEFAULT_TESSERACT_CONFIG, check_tesseract, load_ocr
from distildoc.docvqa.prompts import PROMPT_TYPES
from distildoc.docvqa.run import Cell, grid_cells, load_dla_predictions, run_grid
from distildoc.docvqa.select import select_questions
from distildoc.evaluate.anls import ANLS_THRESHOLD

log = logging.getLogger(__name__)

QA_FILE = "val_v1.0.json"


@dataclass
class ChainResult:
    questions: list[dict]
    pages: dict[str, OcrPage]
    dla: dict[str, dict] | None
    cells: dict[Cell, tuple[list[dict], dict[str, Any]]]
    summary: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict]:
        return [r for records, _ in self.cells.values() for r in records]

    def metrics(self) -> dict[str, Any]:
        """The chain's ``metrics.json``: OCR and DLA statistics, and every cell's metrics."""
        return {
            **self.summary,
            "ocr": {"engine": "tesseract", "pages": {d: len(p.words) for d, p in self.pages.items()}},
            "dla": None if self.dla is None else {"n_boxes": {d: len(r.get("boxes", [])) for d, r in self.dla.items()}},
            "cells": {c.key: m for c, (_, m) in self.cells.items()},
        }


def fixture_questions(folder: str | Path, max_questions: int | None = None, seed: int = 0) -> list[dict]:
    """Up to `max_questions` questions of ``<folder>/val_v1.0.json`` (None: all of them), images resolved,
    spread over the pages: round-robin over the pages (sorted), each page's questions in a seeded order;
    sorted by question id. The fixture's 12 questions sit on 3 pages (10 on the table page)."""
    folder = Path(folder)
    qa = folder / QA_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"real DocVQA fixture folder {folder} does not exist")
    if not qa.is_file():
        raise FileNotFoundError(f"real DocVQA fixture {folder}: no {QA_FILE}")
    every = select_questions(qa, folder, 1 << 30, seed)
    if max_questions is None:
        max_questions = len(every)
    by_page: dict[str, list[dict]] = {}
    for q in every:
        by_page.setdefault(str(q["doc_id"]), []).append(q)
    rng = random.Random(seed)
    queues = [rng.sample(by_page[d], len(by_page[d])) for d in sorted(by_page)]
    picked: list[dict] = []
    while len(picked) < min(max_questions, len(every)):
        for queue in queues:
            if queue and len(picked) < max_questions:
                picked.append(queue.pop())
    return sorted(picked, key=lambda q: str(q["questionId"]))


def readable_pages(images: Mapping[str, str | Path]) -> tuple[dict[str, str | Path], list[str]]:
    """Split ``doc_id -> image path`` into the readable pages and the unreadable ones (truncated, empty,
    not an image), which are logged and returned by path. A missing page is an error naming it."""
    _, skipped = split_readable(images.values())
    bad = set(skipped)
    return {d: p for d, p in images.items() if str(p) not in bad}, skipped


def detector_predictions(detector, image_paths: Sequence[str | Path], score_thresh: float = 0.5) -> dict[str, dict]:
    """Run a detector over page images; ``page stem -> predictions`` (through the v1 JSON format)."""
    from distildoc.evaluate.detection import export_predictions

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dla_predictions.json"
        export_predictions(detector, list(image_paths), out, score_thresh=score_thresh)
        return load_dla_predictions(out)


def run_real_chain(
    folder: str | Path,
    reader: Reader,
    *,
    max_questions: int | None = None,
    seed: int = 0,
    prompts: Sequence[str] = PROMPT_TYPES,
    dla_prompts: Sequence[str] = PROMPT_TYPES,
    dla_model: str | None = None,
    detector=None,
    dla_predictions: Mapping[str, Mapping] | None = None,
    export_score_thresh: float = 0.5,
    dla_score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
    tesseract_config: str = DEFAULT_TESSERACT_CONFIG,
    ocr_workers: int = 1,
    batch_size: int = 8,
    truncation: str = "cut_document",
    reuse_identical_prompts: bool = True,
    threshold: float = ANLS_THRESHOLD,
    skip_failed: bool = False,
    explain_tags: bool = False,
    progress: bool = True,
) -> ChainResult:
    """Run the chain on the fixture in `folder`.

    DLA cells (``dla_prompts`` with the tags of `dla_model`) are run when a `detector` (run on the pages,
    keeping ``score >= export_score_thresh``) or `dla_predictions` is given; `dla_model` names them
    (default ``custom``). `ocr_workers` pages are OCR'd side by side. ``max_questions=None`` asks every
    question of the fixture (all 12), not one per page.
    """
    if detector is not None and dla_predictions is not None:
        raise ValueError("pass a detector or dla_predictions, not both")
    questions = fixture_questions(folder, max_questions, seed)
    all_images = {str(q["doc_id"]): q["image_path"] for q in questions}
    images, skipped = readable_pages(all_images)
    version = check_tesseract()
    # Debian's Tesseract uses OpenMP: one thread per page when pages run side by side (the variable only
    # reaches the tesseract subprocesses; an already started OpenMP runtime in this process ignores it)
    old_limit = os.environ.get("OMP_THREAD_LIMIT")
    if ocr_workers > 1:
        os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        pages = load_ocr("tesseract", images=images, doc_ids=sorted(images), config=tesseract_config,
                         workers=ocr_workers) if images else {}
    finally:
        if ocr_workers > 1:
            if old_limit is None:
                os.environ.pop("OMP_THREAD_LIMIT", None)
            else:
                os.environ["OMP_THREAD_LIMIT"] = old_limit
    log.info("tesseract %s: %s", version.splitlines()[0] if version else "?",
             ", ".join(f"{d}: {len(p.words)} words" for d, p in pages.items()))
    # an unreadable page keeps its questions (asked on an empty page, so they score 0; never dropped)
    for d in sorted(set(all_images) - set(images)):
        pages[d] = OcrPage(doc_id=d, words=[], boxes=[], lines=[], width=1, height=1, source="tesseract",
                           meta={"unreadable": all_images[d]})
    dla = None
    if detector is not None:
        dla = detector_predictions(detector, [images[d] for d in sorted(images)], export_score_thresh)
    elif dla_predictions is not None:
        dla = {str(k): dict(v) for k, v in dla_predictions.items()}
    if dla is not None:
        for d in set(all_images) - set(images):
            dla.setdefault(d, {"boxes": [], "labels": [], "scores": [], "image_size": [1, 1]})
    key = dla_model or "custom"
    cells = grid_cells(prompts, dla_prompts if dla is not None else [], [key] if dla is not None else [])
    results, summary = run_grid(
        reader, questions, pages, cells, {key: dla} if dla is not None else None, dataset="realfixture",
        batch_size=batch_size, truncation=truncation, reuse_identical_prompts=reuse_identical_prompts,
        threshold=threshold, skip_failed=skip_failed, score_threshold=dla_score_threshold,
        ignore_labels=ignore_labels, explain_tags=explain_tags, progress=progress)
    summary.update({"skipped_inputs": skipped, "n_skipped": len(skipped)})
    summary.update({"source": str(folder), "tesseract_version": version.splitlines()[0] if version else None,
                    "tesseract_config": tesseract_config, "dla_model": key if dla is not None else None})
    return ChainResult(questions, pages, dla, results, summary)
