"""Document text for prompts: plain text and LATIN-Prompt's structure-preserving ``space_layout``.

``space_layout`` follows LATIN-Prompt (``utils/space_layout.py`` + ``utils/util.py`` of
``WenjinW/LATIN-Prompt``) with DistilDoc's change (``src/downstream/LATIN-Prompt-fork/utils/space_layout.py``
of ``Jordy-VL/DistilDoc_ICDAR24``): layout tags do not count towards the character width.

Segments are the page's OCR lines (the released code used the DUE line texts and line boxes):

1. Rows: walking the lines in OCR order (no re-sorting), a line joins the current row while its box and the
   box of the row's *previous* segment each have their vertical midpoint strictly inside the other's
   y-range (LATIN's ``is_same_line``); otherwise it starts a new row.
2. ``char_width``: the row with the most characters (ties: the later row, as LATIN's ``>=``) gives
   ``char_width = (x2 - x1 of the row's union box) / that count``; a row's count is the sum over its
   segments of ``len(" ".join(non-tag words))``. Zero (no characters, or zero width) falls back to 1.
3. Each segment is placed at column ``int(x1 / char_width)``, padded with spaces. LATIN glued a segment
   to the previous one when that column was already passed; here at least one space always separates
   two segments of a row (the brief's rule; identical output whenever LATIN's columns do not collide).
4. Rows are joined by newlines.

Choices where the page model differs from the released data: a segment's box is the union of its
non-tag word boxes (the released line boxes came from the OCR engine and never included the inserted
tags, whose boxes are scaled copies that would shift the column); a line made only of tags uses its tag
boxes; empty lines are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from distildoc.data.ocr import Box, OcrPage
from distildoc.docvqa.enrich import is_tag


@dataclass(frozen=True)
class Segment:
    text: str
    box: Box
    n_chars: int  # characters counted for char_width (tags excluded)


def union_box(boxes: Sequence[Sequence[float]]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def is_same_row(a: Sequence[float], b: Sequence[float]) -> bool:
    """LATIN's ``is_same_line``: each box's vertical midpoint lies strictly inside the other's y-range."""
    mid_a = (a[1] + a[3]) / 2
    mid_b = (b[1] + b[3]) / 2
    return b[1] < mid_a < b[3] and a[1] < mid_b < a[3]


def text_length_without_tags(words: Sequence[str]) -> int:
    """DistilDoc's ``line_length_without_tags``: length of the words joined by spaces, tags removed."""
    return len(" ".join(w for w in words if not is_tag(w)))


def line_segments(page: OcrPage) -> list[Segment]:
    """One segment per non-empty OCR line, in OCR order."""
    segments = []
    for s, e in page.lines:
        if e <= s:
            continue
        words = page.words[s:e]
        boxes = page.boxes[s:e]
        content_boxes = [b for w, b in zip(words, boxes) if not is_tag(w)] or list(boxes)
        segments.append(Segment(" ".join(words), union_box(content_boxes), text_length_without_tags(words)))
    return segments


def group_rows(segments: Sequence[Segment]) -> list[list[Segment]]:
    rows: list[list[Segment]] = []
    for seg in segments:
        if rows and is_same_row(rows[-1][-1].box, seg.box):
            rows[-1].append(seg)
        else:
            rows.append([seg])
    return rows


def char_width(rows: Sequence[Sequence[Segment]]) -> float:
    """Width of one character, from the row with the most (non-tag) characters; 1 when undefined."""
    max_chars, width = 0, 0.0
    for row in rows:
        n = sum(seg.n_chars for seg in row)
        if n >= max_chars:
            box = union_box([seg.box for seg in row])
            max_chars, width = n, box[2] - box[0]
    if max_chars <= 0 or width <= 0:
        return 1.0
    return width / max_chars


def render_row(row: Sequence[Segment], cw: float) -> str:
    """One row of the space layout: each segment at column ``int(x1 / cw)``, at least one space between two."""
    text = ""
    for seg in row:
        pad = int(seg.box[0] / cw) - len(text)
        if text:
            pad = max(pad, 1)
        text += " " * max(pad, 0) + seg.text
    return text


def space_layout(page: OcrPage) -> str:
    """LATIN-Prompt's space layout of a page (tags not counted in the character width); "" for an empty page."""
    rows = group_rows(line_segments(page))
    if not rows:
        return ""
    cw = char_width(rows)
    return "\n".join(render_row(row, cw) for row in rows)


def plain_text(page: OcrPage, sep: str = "\n") -> str:
    """Words joined by single spaces within a line, non-empty lines joined by ``sep``.

    The released LATIN / DistilDoc prompts join the line texts with a single space (``" ".join(texts)``);
    :mod:`distildoc.docvqa.prompts` passes ``sep=" "`` for that reason.
    """
    return sep.join(" ".join(page.words[s:e]) for s, e in page.lines if e > s)
