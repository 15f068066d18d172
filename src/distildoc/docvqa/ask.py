"""Questions on your own pages (``distildoc ask``): Tesseract OCR -> optional layout tags -> prompt -> reader.

The chain of :mod:`distildoc.docvqa.realchain` for one decoded page at a time, outside the pipeline:

1. :func:`read_page`: Tesseract words of the page (:func:`distildoc.docvqa.ocr.tesseract_image`, the
   pipeline's config ``--psm 3 --oem 1``) and, when a layout model is given, its regions as ``<Label>`` /
   ``</Label>`` tags (DistilDoc's Algorithm 1, :func:`distildoc.docvqa.enrich.enrich_page`; regions with
   ``score > score_threshold``, ``Text`` regions ignored, as in the DocVQA stage);
2. :func:`answer_questions`: one prompt per question (:func:`distildoc.docvqa.llm.base.prompt_parts`, the
   paper's ``plain`` / ``space`` / ``task`` / ``task_space`` templates), answered by the reader in one batch.

:func:`answer_page` does both for one question. Readers come from :func:`load_reader`, which applies the
DocVQA stage's reader settings (``params.yaml``: SmolLM2 in float32, ``first_line`` post-processing).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from distildoc.data.ocr import OcrPage
from distildoc.docvqa.enrich import DEFAULT_IGNORE_LABELS, DEFAULT_SCORE_THRESHOLD, enrich_page
from distildoc.docvqa.llm import DEFAULT_READER, get_reader
from distildoc.docvqa.llm.base import Reader, prompt_parts
from distildoc.docvqa.ocr import DEFAULT_TESSERACT_CONFIG, tesseract_image
from distildoc.docvqa.prompts import ALL_PROMPT_TYPES

#: the prompt type ``distildoc ask`` uses unless told otherwise (LATIN-Prompt: task instruction + space layout)
DEFAULT_PROMPT = "task_space"

#: reader settings of the DocVQA stage (``params.yaml``: ``docvqa.reader``), per backend (the catalogue's, checked by
#: tests/test_catalogue.py); the CLI's options win
READER_DEFAULTS: dict[str, dict[str, Any]] = {
    "smollm2": {"dtype": "float32", "postprocess": "first_line"},  # bf16 loses free-generation answers (docs/docvqa.md)
    "gemma3": {"dtype": "bfloat16", "postprocess": "first_line"},  # as measured in docs/docvqa.md (fp32 not compared)
    "transformers": {"postprocess": "first_line"},
    "llama_cpp": {"postprocess": "first_line"},
    "openai": {"postprocess": "first_line"},
}


@dataclass
class ReadPage:
    """A page as the reader sees it: its OCR words (with layout tags when a layout model was given)."""

    name: str
    ocr: OcrPage
    n_words: int  # OCR words, tags left out
    n_tags: int  # layout tags inserted (0 without a layout model)
    seconds: float  # OCR + layout time
    regions: list[dict] = field(default_factory=list)  # the layout model's kept regions (label, box, score)


def load_reader(name: str = DEFAULT_READER, **options: Any) -> Reader:
    """The reader `name` with the DocVQA stage's defaults (:data:`READER_DEFAULTS`) under `options`."""
    return get_reader(name, **{**READER_DEFAULTS.get(name, {}), **options})


def detections(detector, image: Image.Image) -> dict[str, Any]:
    """A layout model's regions on `image` as :func:`~distildoc.docvqa.enrich.enrich_page` takes them
    (``boxes`` xyxy in page pixels, ``labels`` by name, ``scores``, ``image_size``).

    `detector` is a :class:`distildoc.export.predict.DetectorPredictor` (a layout run folder or an export
    folder, :func:`~distildoc.export.predict.load_predictor`)."""
    det = detector.detect(image)
    names = detector.labels
    return {"boxes": [[float(v) for v in b] for b in det["boxes"]],
            "labels": [names.get(int(x), str(int(x))) for x in det["labels"]],
            "scores": [float(s) for s in det["scores"]], "image_size": list(image.size)}


def read_page(
    image: Image.Image,
    name: str = "page",
    *,
    detector=None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
    tesseract_config: str = DEFAULT_TESSERACT_CONFIG,
) -> ReadPage:
    """Tesseract words of `image` and, with a `detector`, the layout tags of its regions (Algorithm 1).

    Raises :class:`~distildoc.docvqa.ocr.TesseractNotAvailable` when Tesseract is missing."""
    t0 = time.perf_counter()
    page = tesseract_image(image, name, config=tesseract_config, where=name)
    n_words = len(page.words)
    n_tags, regions = 0, []
    if detector is not None:
        preds = detections(detector, image)
        page = enrich_page(page, preds, score_threshold, tuple(ignore_labels))
        n_tags = int(page.meta.get("dla", {}).get("n_tags", 0))
        regions = [{"label": lab, "box": [round(v, 1) for v in box], "score": round(s, 4)}
                   for box, lab, s in zip(preds["boxes"], preds["labels"], preds["scores"])
                   if s > score_threshold and lab not in set(ignore_labels)]
    return ReadPage(name, page, n_words, n_tags, time.perf_counter() - t0, regions)


def answer_questions(
    page: ReadPage,
    questions: Sequence[str],
    reader: Reader,
    prompt: str = DEFAULT_PROMPT,
    *,
    explain_tags: bool = False,
) -> list[dict[str, Any]]:
    """Answer `questions` on a read page: one record per question (input order) with ``question``,
    ``answer`` (None when generation failed: see ``error``), ``prompt`` (type), ``prompt_text`` (as built,
    before any cut to the reader's context: ``truncated`` says whether it was cut), ``prompt_tokens``,
    ``completion_tokens``, ``finish_reason`` and ``seconds`` (the generation's wall time, split over the
    batch by tokens)."""
    if prompt not in ALL_PROMPT_TYPES:
        raise ValueError(f"unknown prompt type {prompt!r}; allowed: {', '.join(ALL_PROMPT_TYPES)}")
    parts = [prompt_parts(prompt, page.ocr, q, explain_tags=explain_tags) for q in questions]
    t0 = time.perf_counter()
    results = reader.generate(parts) if parts else []
    dt = time.perf_counter() - t0
    if len(results) != len(parts):
        raise RuntimeError(f"reader {getattr(reader, 'name', reader)!r} returned {len(results)} results "
                           f"for {len(parts)} prompts")
    weights = [max(1, r.prompt_tokens + r.completion_tokens) for r in results]
    out = []
    for q, p, r, w in zip(questions, parts, results, weights):
        out.append({"question": q, "answer": r.text if r.ok else None, "error": r.error, "prompt": prompt,
                    "prompt_text": p.text, "prompt_tokens": int(r.prompt_tokens), "truncated": bool(r.truncated),
                    "completion_tokens": int(r.completion_tokens), "finish_reason": r.finish_reason,
                    "seconds": dt * w / sum(weights)})
    return out


def answer_page(
    image: Image.Image,
    question: str,
    reader: Reader,
    detector=None,
    prompt: str = DEFAULT_PROMPT,
    *,
    name: str = "page",
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
) -> dict[str, Any]:
    """One question on one page image: :func:`read_page` then :func:`answer_questions`; the record has
    ``page``, ``n_words``, ``n_tags`` and ``ocr_seconds`` besides the answer's keys."""
    page = read_page(image, name, detector=detector, score_threshold=score_threshold, ignore_labels=ignore_labels)
    rec = answer_questions(page, [question], reader, prompt)[0]
    return {"page": name, **rec, "n_words": page.n_words, "n_tags": page.n_tags, "ocr_seconds": page.seconds}


def page_record(page: ReadPage, answer: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The JSON Lines row of ``distildoc ask``: the page, the answer and how it was obtained."""
    return {"page": page.name, "question": answer["question"], "answer": answer["answer"], **extra,
            "prompt": answer["prompt"], "n_words": page.n_words, "n_tags": page.n_tags,
            "prompt_tokens": answer["prompt_tokens"], "truncated": answer["truncated"],
            "finish_reason": answer["finish_reason"], "error": answer["error"],
            "ocr_seconds": round(page.seconds, 3), "seconds": round(answer["seconds"], 3)}
