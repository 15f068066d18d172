"""DUE benchmark OCR files (``documents_content.jsonl``) <-> :class:`~distildoc.data.ocr.OcrPage`.

One JSON line per document::

    {"name": "<doc id>",
     "contents": [{"tool_name": "microsoft_cv" | "tesseract" | ...,
                   "text": "<tokens joined by spaces>",
                   "common_format": {            # newer files: "tokens_layer", same content
                       "tokens": [...], "positions": [[x1, y1, x2, y2], ...], "scores": [...],
                       "structures": {
                           "pages": {"positions": [[0, 0, w, h]], "structure_value": [[0, n_tokens]]},
                           "lines": {"positions": [[...line box...]], "structure_value": [[start, end], ...]}}}}]}

A document can carry the output of several OCR engines (``contents``); :func:`from_due_record` picks one
by ``tool_name``. Page size comes from the first page box; a multi-page document keeps all page boxes
and token ranges in ``OcrPage.meta["pages"]``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..utils.io import read_jsonl, write_jsonl
from .ocr import Box, OcrPage

log = logging.getLogger(__name__)

#: keys under which a content holds its token layer, newest first
LAYER_KEYS: tuple[str, ...] = ("tokens_layer", "common_format")


def _line_box(boxes: Sequence[Box], start: int, end: int) -> list[float]:
    if end <= start:
        return [0.0, 0.0, 0.0, 0.0]
    span = boxes[start:end]
    return [min(b[0] for b in span), min(b[1] for b in span), max(b[2] for b in span), max(b[3] for b in span)]


def to_due_record(page: OcrPage, tool_name: str = "microsoft_cv") -> dict[str, Any]:
    """One DUE document record (``common_format`` style) holding `page` as the output of `tool_name`.

    ``text`` is the tokens joined by single spaces; ``scores`` come from ``page.meta["scores"]`` when
    it has one score per word, else 1.0; the page box ``[0, 0, width, height]`` carries the page size.
    """
    n = len(page.words)
    scores = page.meta.get("scores")
    if not (isinstance(scores, list) and len(scores) == n):
        scores = [1.0] * n
    pages = page.meta.get("pages")
    if not (isinstance(pages, dict) and "positions" in pages and "structure_value" in pages):
        pages = {"positions": [[0, 0, page.width, page.height]], "structure_value": [[0, n]]}
    layer = {
        "tokens": list(page.words),
        "positions": [list(b) for b in page.boxes],
        "scores": list(scores),
        "structures": {
            "pages": pages,
            "lines": {
                "positions": [_line_box(page.boxes, s, e) for s, e in page.lines],
                "structure_value": [[s, e] for s, e in page.lines],
            },
        },
    }
    return {"name": page.doc_id, "contents": [{"tool_name": tool_name, "text": " ".join(page.words),
                                               "common_format": layer}]}


def _pick_content(record: dict, tool_name: str | None, strict: bool) -> dict:
    name = record.get("name", "?")
    contents = record.get("contents")
    if not isinstance(contents, list) or not contents:
        raise ValueError(f"DUE document {name!r} has no 'contents'")
    tools = [c.get("tool_name", "?") for c in contents]
    if tool_name is None:
        return contents[0]
    for content in contents:
        if content.get("tool_name") == tool_name:
            return content
    if strict:
        raise KeyError(f"DUE document {name!r} has no OCR from tool {tool_name!r}; available: {', '.join(tools)}")
    log.debug("DUE document %r: no %r OCR, using %r", name, tool_name, tools[0])
    return contents[0]


def from_due_record(record: dict, tool_name: str | None = "microsoft_cv", strict: bool = False) -> OcrPage:
    """The :class:`OcrPage` of one DUE document record.

    Args:
        record: a parsed ``documents_content.jsonl`` line.
        tool_name: the OCR engine to read; when the document has none from it, the first content is
            used (``strict=False``) or a KeyError names the document and the available tools
            (``strict=True``). ``None`` takes the first content.

    Lines come from the ``lines`` structure; without one, each page is one line. Non-unit scores are
    kept in ``meta["scores"]``, several pages in ``meta["pages"]``.
    """
    if "name" not in record:
        raise ValueError(f"DUE record without 'name' (keys: {', '.join(record)})")
    doc_id = str(record["name"])
    content = _pick_content(record, tool_name, strict)
    layer_key = next((k for k in LAYER_KEYS if k in content), None)
    if layer_key is None:
        raise ValueError(f"DUE document {doc_id!r}, tool {content.get('tool_name')!r}: no token layer "
                         f"(expected one of {', '.join(LAYER_KEYS)}; keys: {', '.join(content)})")
    layer = content[layer_key]
    for key in ("tokens", "positions"):
        if key not in layer:
            raise ValueError(f"DUE document {doc_id!r}: '{layer_key}' has no {key!r}")
    words = [str(t) for t in layer["tokens"]]
    boxes: list[Box] = [tuple(float(v) for v in p) for p in layer["positions"]]  # type: ignore[misc]
    structures = layer.get("structures", {})
    pages = structures.get("pages")
    meta: dict[str, Any] = {}
    if pages and pages.get("positions"):
        x1, y1, x2, y2 = pages["positions"][0]
        width, height = int(round(x2 - x1)), int(round(y2 - y1))
        if len(pages["positions"]) > 1:
            meta["pages"] = pages
    else:
        width = int(round(max((b[2] for b in boxes), default=0)))
        height = int(round(max((b[3] for b in boxes), default=0)))
        log.warning("DUE document %r has no page structure; page size from the word boxes: %dx%d",
                    doc_id, width, height)
    lines_struct = structures.get("lines")
    if lines_struct and "structure_value" in lines_struct:
        lines = [(int(s), int(e)) for s, e in lines_struct["structure_value"]]
    elif pages and "structure_value" in pages:
        lines = [(int(s), int(e)) for s, e in pages["structure_value"]]
    else:
        lines = [(0, len(words))] if words else []
    scores = layer.get("scores")
    if isinstance(scores, list) and any(s != 1.0 for s in scores):
        meta["scores"] = list(scores)
    return OcrPage(doc_id, words, boxes, lines, width, height, source=str(content.get("tool_name", "unknown")),
                   meta=meta)


def write_due_jsonl(path: str | os.PathLike, pages: Iterable[OcrPage], tool_name: str | None = None) -> Path:
    """Write pages as a DUE ``documents_content.jsonl`` (atomically).

    `tool_name` labels every page's OCR; ``None`` uses each page's own ``source``.
    """
    rows = [to_due_record(p, tool_name or p.source) for p in pages]
    out = write_jsonl(path, rows)
    log.info("wrote %d DUE documents to %s", len(rows), path)
    return out


def read_due_jsonl(path: str | os.PathLike, tool_name: str | None = "microsoft_cv",
                   strict: bool = False) -> dict[str, OcrPage]:
    """``doc id -> OcrPage`` of a DUE ``documents_content.jsonl`` (see :func:`from_due_record`).

    Raises ValueError naming the file, line and document for a malformed record or a repeated name.
    """
    path = Path(path)
    pages: dict[str, OcrPage] = {}
    for lineno, record in enumerate(read_jsonl(path), 1):
        try:
            page = from_due_record(record, tool_name, strict)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}, record {lineno}: {err}") from err
        if page.doc_id in pages:
            raise ValueError(f"{path}, record {lineno}: document {page.doc_id!r} appears twice")
        pages[page.doc_id] = page
    log.info("read %d DUE documents (%s OCR) from %s", len(pages), tool_name or "first", path)
    return pages
