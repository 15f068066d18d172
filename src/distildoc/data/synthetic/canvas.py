"""A page canvas that renders text blocks with Pillow and records, for every pixel of ink it lays down,
the labels the benchmark needs: word boxes grouped into OCR lines, DocLayNet regions and QA pairs.

Layouts (see `layouts.py`) never compute a label themselves: the canvas measures what it draws, so the
labels always match the pixels.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .fonts import STYLE_FAMILIES, get_font

Box = tuple[float, float, float, float]


@dataclass
class Region:
    category: str
    bbox: Box  # xyxy, page pixels


@dataclass
class QAPair:
    question: str
    answers: list[str]
    question_types: list[str]


@dataclass
class Style:
    """Page-level nuisance parameters drawn once per page."""

    family: str
    base_size: int
    margin_x: int
    margin_y: int
    ink: int | tuple[int, int, int]
    background: int | tuple[int, int, int]
    noise: float
    blur: float
    mode: str  # "L" (grayscale, RVL-CDIP-like) or "RGB" (shift split: coloured backgrounds)


def draw_style(rng: random.Random, width: int, style: str) -> Style:
    """Sample the page style; `shift` changes fonts, margins, colours and scan noise."""
    if style not in STYLE_FAMILIES:
        raise KeyError(f"unknown page style {style!r}; allowed: {', '.join(STYLE_FAMILIES)}")
    family = rng.choice(STYLE_FAMILIES[style])
    if style == "train":
        return Style(
            family=family,
            base_size=rng.randint(10, 13),
            margin_x=int(width * rng.uniform(0.07, 0.13)),
            margin_y=int(width * rng.uniform(0.06, 0.11)),
            ink=rng.randint(0, 60),
            background=rng.randint(225, 255),
            noise=rng.uniform(0.0, 10.0),
            blur=rng.choice([0.0, 0.0, 0.4, 0.7]),
            mode="L",
        )
    bg = tuple(rng.randint(170, 250) for _ in range(3))
    ink = tuple(rng.randint(0, 90) for _ in range(3))
    return Style(
        family=family,
        base_size=rng.randint(9, 14),
        margin_x=int(width * rng.uniform(0.03, 0.18)),
        margin_y=int(width * rng.uniform(0.03, 0.15)),
        ink=ink,
        background=bg,
        noise=rng.uniform(8.0, 22.0),
        blur=rng.choice([0.5, 0.9, 1.2]),
        mode="RGB",
    )


class PageCanvas:
    """Draw words, tables and pictures; keep OCR words/lines, layout regions and QA pairs."""

    def __init__(self, width: int, height: int, rng: random.Random, style: Style):
        self.width, self.height = width, height
        self.rng = rng
        self.style = style
        self.img = Image.new(style.mode, (width, height), style.background)
        self.draw = ImageDraw.Draw(self.img)
        self.words: list[str] = []
        self.boxes: list[Box] = []
        self.lines: list[tuple[int, int]] = []
        self.regions: list[Region] = []
        self.qa: list[QAPair] = []

    # -- fonts and colours -------------------------------------------------------------------------
    def font(self, size: float, weight: str = "regular", family: str | None = None):
        return get_font(family or self.style.family, int(round(size)), weight)

    def gray(self, level: int) -> int | tuple[int, int, int]:
        """A gray level in this page's colour mode (shift pages tint it with the background)."""
        if self.style.mode == "L":
            return level
        bg = self.style.background
        return tuple(int(level * b / 255) for b in bg)  # type: ignore[union-attr]

    # -- text ----------------------------------------------------------------------------------------
    def text_width(self, text: str, size: float, weight: str = "regular") -> float:
        return self.font(size, weight).getlength(text)

    def line_height(self, size: float) -> float:
        return math.ceil(size * 1.3)

    def text_line(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        weight: str = "regular",
        jitter: float = 0.0,
        stroke: int = 0,
    ) -> Box | None:
        """Render `text` as one OCR line starting at (x, y) (top-left); returns the line's ink box.

        Words that would leave the page are not drawn (the caller wraps beforehand)."""
        font = self.font(size, weight)
        space = font.getlength(" ")
        start = len(self.words)
        cx = x
        ink = self.style.ink
        for word in text.split():
            dy = self.rng.uniform(-jitter, jitter) if jitter else 0.0
            l, t, r, b = font.getbbox(word, stroke_width=stroke)
            box = (cx + l, y + dy + t, cx + r, y + dy + b)
            if box[2] > self.width - 1 or box[3] > self.height - 1 or box[0] < 0 or box[1] < 0:
                break
            self.draw.text((cx, y + dy), word, font=font, fill=ink, stroke_width=stroke, stroke_fill=ink)
            self.words.append(word)
            self.boxes.append(tuple(round(v, 1) for v in box))  # type: ignore[arg-type]
            cx += font.getlength(word) + space * (1.0 + (self.rng.uniform(0, 0.6) if jitter else 0.0))
        if len(self.words) == start:
            return None
        self.lines.append((start, len(self.words)))
        return _union(self.boxes[start:])

    def wrap(self, text: str, width: float, size: float, weight: str = "regular") -> list[str]:
        """Greedy word wrap by rendered width."""
        font = self.font(size, weight)
        lines: list[str] = []
        current: list[str] = []
        for word in text.split():
            trial = " ".join(current + [word])
            if current and font.getlength(trial) > width:
                lines.append(" ".join(current))
                current = [word]
            else:
                current.append(word)
        if current:
            lines.append(" ".join(current))
        return lines

    def paragraph(
        self,
        x: float,
        y: float,
        width: float,
        text: str,
        size: float,
        weight: str = "regular",
        align: str = "left",
        jitter: float = 0.0,
        stroke: int = 0,
        max_lines: int | None = None,
    ) -> tuple[Box | None, float]:
        """Wrap and render; returns (ink box, y below the paragraph)."""
        lh = self.line_height(size)
        boxes = []
        for i, line in enumerate(self.wrap(text, width, size, weight)):
            if max_lines is not None and i >= max_lines:
                break
            lx = x
            if align == "center":
                lx = x + (width - self.text_width(line, size, weight)) / 2
            elif align == "right":
                lx = x + width - self.text_width(line, size, weight)
            box = self.text_line(lx, y, line, size, weight, jitter=jitter, stroke=stroke)
            if box:
                boxes.append(box)
            y += lh
        return (_union(boxes) if boxes else None), y

    def paragraph_height(self, text: str, width: float, size: float, weight: str = "regular") -> float:
        return len(self.wrap(text, width, size, weight)) * self.line_height(size)

    # -- graphics ------------------------------------------------------------------------------------
    def hline(self, x1: float, x2: float, y: float, width: int = 1) -> None:
        self.draw.line([(x1, y), (x2, y)], fill=self.style.ink, width=width)

    def rect(self, box: Box, width: int = 1, fill=None) -> None:
        self.draw.rectangle(box, outline=self.style.ink, width=width, fill=fill)

    def picture(self, box: Box, kind: str | None = None) -> Box:
        """A picture: photo-like gradient blobs, a bar chart, a line plot or a logo mark."""
        x1, y1, x2, y2 = (int(v) for v in box)
        kind = kind or self.rng.choice(["photo", "bars", "plot", "logo"])
        w, h = max(2, x2 - x1), max(2, y2 - y1)
        if kind == "photo":
            seed = self.rng.randrange(2**32)
            g = np.random.default_rng(seed)
            yy, xx = np.mgrid[0:h, 0:w]
            arr = np.full((h, w), g.uniform(90, 200))
            for _ in range(g.integers(3, 8)):
                cx, cy, r = g.uniform(0, w), g.uniform(0, h), g.uniform(0.1, 0.5) * max(w, h)
                arr += g.uniform(-90, 90) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            arr += g.normal(0, 12, size=arr.shape)
            patch = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert(self.style.mode)
            self.img.paste(patch, (x1, y1))
        elif kind == "bars":
            self.rect((x1, y1, x2, y2))
            n = self.rng.randint(3, 8)
            bw = (w - 10) / n
            for i in range(n):
                bh = self.rng.uniform(0.15, 0.9) * (h - 10)
                bx = x1 + 5 + i * bw
                self.draw.rectangle(
                    (bx + 2, y2 - 5 - bh, bx + bw - 2, y2 - 5), fill=self.gray(self.rng.randint(40, 180))
                )
        elif kind == "plot":
            self.rect((x1, y1, x2, y2))
            pts = []
            v = self.rng.uniform(0.2, 0.8)
            for i in range(12):
                v = min(0.95, max(0.05, v + self.rng.uniform(-0.2, 0.2)))
                pts.append((x1 + 4 + i * (w - 8) / 11, y2 - 4 - v * (h - 8)))
            self.draw.line(pts, fill=self.style.ink, width=2)
        else:  # logo: concentric shapes
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            r = min(w, h) / 2 - 1
            shape = self.rng.choice(["ellipse", "rectangle", "diamond"])
            for k in range(self.rng.randint(1, 3)):
                rr = r * (1 - 0.3 * k)
                fill = self.gray(self.rng.randint(30, 160)) if k == 0 else None
                if shape == "ellipse":
                    self.draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), outline=self.style.ink, fill=fill, width=2)
                elif shape == "rectangle":
                    self.draw.rectangle((cx - rr, cy - rr, cx + rr, cy + rr), outline=self.style.ink, fill=fill, width=2)
                else:
                    self.draw.polygon(
                        [(cx, cy - rr), (cx + rr, cy), (cx, cy + rr), (cx - rr, cy)], outline=self.style.ink, fill=fill
                    )
        return (x1, y1, x2, y2)

    def scribble(self, box: Box, strokes: int = 2) -> None:
        """Handwriting-like strokes (signatures, annotations): smooth random curves."""
        x1, y1, x2, y2 = box
        for _ in range(strokes):
            pts = []
            n = self.rng.randint(12, 30)
            phase = self.rng.uniform(0, 6.28)
            amp = (y2 - y1) / 2.5
            for i in range(n):
                t = i / (n - 1)
                px = x1 + t * (x2 - x1)
                py = (y1 + y2) / 2 + amp * math.sin(phase + t * self.rng.uniform(8, 20)) * self.rng.uniform(0.4, 1.0)
                pts.append((px, py))
            self.draw.line(pts, fill=self.style.ink, width=self.rng.randint(1, 3), joint="curve")

    def checkbox(self, x: float, y: float, size: float, checked: bool) -> None:
        self.draw.rectangle((x, y, x + size, y + size), outline=self.style.ink, width=1)
        if checked:
            self.draw.line([(x + 2, y + size / 2), (x + size / 2, y + size - 2), (x + size - 1, y + 1)],
                           fill=self.style.ink, width=2)

    # -- labels --------------------------------------------------------------------------------------
    def region(self, category: str, box: Box | None, pad: float = 2.0) -> None:
        """Record a DocLayNet region; boxes are padded slightly and clipped to the page."""
        if box is None:
            return
        x1, y1, x2, y2 = box
        x1, y1 = max(0.0, x1 - pad), max(0.0, y1 - pad)
        x2, y2 = min(self.width - 1.0, x2 + pad), min(self.height - 1.0, y2 + pad)
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            self.regions.append(Region(category, (round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1))))

    def ask(self, question: str, answer: str, types: list[str], variants: list[str] | None = None) -> None:
        """Record an extractive QA pair; `answer` must be exactly one rendered text span."""
        answers = [answer] + [v for v in (variants or _default_variants(answer)) if v != answer]
        self.qa.append(QAPair(question, answers, types))

    # -- finishing -----------------------------------------------------------------------------------
    def finish(self, np_rng: np.random.Generator) -> Image.Image:
        """Scan-like degradation: blur then additive Gaussian noise (deterministic given `np_rng`)."""
        img = self.img
        if self.style.blur > 0:
            img = img.filter(ImageFilter.GaussianBlur(self.style.blur))
        if self.style.noise > 0:
            arr = np.asarray(img, dtype=np.float32)
            arr = arr + np_rng.normal(0.0, self.style.noise, size=arr.shape).astype(np.float32)
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), self.style.mode)
        return img


def _union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _default_variants(answer: str) -> list[str]:
    """DocVQA-style alternative answers: case variants and, for amounts, the bare number."""
    out = [answer.lower(), answer.upper()]
    if answer.startswith("$"):
        out.append(answer[1:])
    return out


@dataclass
class Flow:
    """Columns filled top to bottom, left to right; blocks that fit nowhere are dropped."""

    canvas: PageCanvas
    columns: list[tuple[float, float]]  # (x, width)
    top: float
    bottom: float
    col: int = 0
    y: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.y = self.top

    @property
    def x(self) -> float:
        return self.columns[self.col][0]

    @property
    def width(self) -> float:
        return self.columns[self.col][1]

    def reserve(self, height: float) -> bool:
        """Move to a column where `height` fits; False when the page is full."""
        while self.y + height > self.bottom:
            if self.col + 1 >= len(self.columns):
                return False
            self.col += 1
            self.y = self.top
        return True

    def skip(self, dy: float) -> None:
        self.y += dy

    def paragraph(self, category: str, text: str, size: float, weight: str = "regular", gap: float = 6,
                  align: str = "left", **kw) -> Box | None:
        height = self.canvas.paragraph_height(text, self.width, size, weight)
        if not self.reserve(height):
            return None
        box, self.y = self.canvas.paragraph(self.x, self.y, self.width, text, size, weight, align=align, **kw)
        self.canvas.region(category, box)
        self.y += gap
        return box

    def line(self, category: str, text: str, size: float, weight: str = "regular", gap: float = 4,
             indent: float = 0.0) -> Box | None:
        lh = self.canvas.line_height(size)
        if not self.reserve(lh):
            return None
        box = self.canvas.text_line(self.x + indent, self.y, text, size, weight)
        self.canvas.region(category, box)
        self.y += lh + gap
        return box

    def bullets(self, items: list[str], size: float, bullet: str = "•", gap: float = 3) -> list[Box]:
        out = []
        indent = self.canvas.text_width(bullet + " ", size) + 2
        for item in items:
            text_w = self.width - indent
            height = self.canvas.paragraph_height(item, text_w, size)
            if not self.reserve(height):
                break
            bbox = self.canvas.text_line(self.x, self.y, bullet, size)
            box, self.y = self.canvas.paragraph(self.x + indent, self.y, text_w, item, size)
            if box is not None:
                full = _union([b for b in (bbox, box) if b is not None])
                self.canvas.region("List-item", full)
                out.append(full)
            self.y += gap
        return out

    def picture(self, height: float, kind: str | None = None, width_frac: float = 1.0, gap: float = 6) -> Box | None:
        if not self.reserve(height):
            return None
        w = self.width * width_frac
        x = self.x + (self.width - w) / 2
        box = self.canvas.picture((x, self.y, x + w, self.y + height), kind)
        self.canvas.region("Picture", box, pad=0)
        self.y += height + gap
        return box

    def table(self, header: list[str], rows: list[list[str]], size: float, grid: bool = True,
              gap: float = 8, col_fracs: list[float] | None = None) -> tuple[Box | None, list[list[str | None]]]:
        """Render a table; each cell is its own OCR line.

        Returns (table box, the text actually rendered in each cell, row-major, header row first; None
        for a cell left empty or a row dropped for lack of space). Cell text is cut at word boundaries
        to fit its column, so questions must be asked about the returned text."""
        cv = self.canvas
        n_cols = len(header)
        fracs = col_fracs or [1.0 / n_cols] * n_cols
        widths = [f * self.width for f in fracs]
        row_h = cv.line_height(size) + 4
        all_rows = [header] + rows
        # drop rows that do not fit rather than the whole table, but keep at least header + 1 row
        max_rows = int((self.bottom - self.y) // row_h)
        if max_rows < 2:
            if not self.reserve(row_h * 2):
                return None, []
            max_rows = int((self.bottom - self.y) // row_h)
        all_rows = all_rows[:max_rows]
        x0, y0 = self.x, self.y
        cells: list[list[str | None]] = []
        for r, row in enumerate(all_rows):
            cy = y0 + r * row_h + 2
            cx = x0
            boxes_row = []
            for c, text in enumerate(row):
                weight = "bold" if r == 0 else "regular"
                # truncate cell text to its column width
                words = text.split()
                while words and cv.text_width(" ".join(words), size, weight) > widths[c] - 6:
                    words.pop()
                drawn = cv.text_line(cx + 3, cy, " ".join(words), size, weight) if words else None
                boxes_row.append(" ".join(words) if drawn is not None else None)
                cx += widths[c]
            cells.append(boxes_row)
        x1, y1 = x0 + sum(widths), y0 + len(all_rows) * row_h
        if grid:
            cv.rect((x0, y0, x1, y1))
            for r in range(1, len(all_rows)):
                cv.hline(x0, x1, y0 + r * row_h)
            cx = x0
            for w in widths[:-1]:
                cx += w
                cv.draw.line([(cx, y0), (cx, y1)], fill=cv.style.ink, width=1)
        else:
            cv.hline(x0, x1, y0 + row_h, width=2)
        box = (x0, y0, x1, y1)
        cv.region("Table", box, pad=1)
        self.y = y1 + gap
        return box, cells
