"""The one internal OCR page representation shared by every OCR source (DUE, Tesseract, synthetic)."""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[float, float, float, float]


@dataclass
class OcrPage:
    """Words of one page in reading order.

    Attributes:
        doc_id: page identifier (DocVQA `ucsf_document_id_pageno` style or the synthetic page id).
        words: the word strings, in reading order.
        boxes: one box per word, ``(x1, y1, x2, y2)`` in page pixels.
        lines: half-open word-index ranges ``(start, end)`` of each text line, in reading order.
        width: page width in pixels.
        height: page height in pixels.
        source: where the words came from (``synthetic``, ``tesseract``, ``microsoft_cv``, ...).
    """

    doc_id: str
    words: list[str]
    boxes: list[Box]
    lines: list[tuple[int, int]]
    width: int
    height: int
    source: str = "unknown"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.words) != len(self.boxes):
            raise ValueError(f"page {self.doc_id}: {len(self.words)} words but {len(self.boxes)} boxes")
        for start, end in self.lines:
            if not 0 <= start <= end <= len(self.words):
                raise ValueError(f"page {self.doc_id}: line range ({start}, {end}) outside 0..{len(self.words)}")

    @property
    def text(self) -> str:
        """Lines joined by newlines, words by single spaces."""
        return "\n".join(" ".join(self.words[s:e]) for s, e in self.lines)

    def line_texts(self) -> list[str]:
        return [" ".join(self.words[s:e]) for s, e in self.lines]
