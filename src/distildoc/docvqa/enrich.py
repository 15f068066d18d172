"""DLA-enriched OCR: insert ``<Label>`` / ``</Label>`` tags into an OCR token stream (DistilDoc Algorithm 1).

Each layout region predicted by a document-layout-analysis (DLA) model is anchored on a *start* and an
*end* OCR token; ``<Label>`` is inserted right before the start token and ``</Label>`` right after the end
token. The enriched page then feeds the LATIN-style prompts (:mod:`distildoc.docvqa.prompts`).

The rules follow DistilDoc's released code (``src/downstream/DLA_to_BBOX.py`` of
``Jordy-VL/DistilDoc_ICDAR24``: ``rescale_DLA_bboxes``, ``check_box_within``, ``check_box_closest``,
``place_tokens``), not the paper's pseudo-code, which differs in several places:

* the paper's Algorithm 1 only mentions "fully contains or IoU > 0.3" and a min-L1 ("Laplacian") search
  over the matching tokens; the released code instead takes the *first* / *last* matching token in OCR
  order, with four relaxed membership rules (see :func:`token_matches_start` / :func:`token_matches_end`),
  and only falls back to the min-L1 corner search when no token matches;
* the paper inserts the *layout* box for each tag; the released code (and this module) copies the
  neighbouring token's box, scaled by 0.99 (start tag) or 1.01 (end tag);
* the paper does not update OCR lines; the released code extends the line of the anchoring token so a tag
  stays on the same line as the token it is attached to (this matters for the space layout);
* the score threshold (0.5) is not part of either: in the released pipeline it was the detector's test
  score threshold (detectron2 keeps ``score > thresh``); here it is applied explicitly.

Where the released code is ambiguous or buggy, this module picks a rule and says so:

* **Asymmetric membership** (kept from the released code): a token can *start* a region when
  IoU > 0.3, its top-left corner is strictly inside, or > 50 % of its area is inside; it can *end* a
  region when IoU > 0.3, its bottom-right corner is strictly inside, or > 50 % of its area is inside.
  (The top-left rule only feeds starts, the bottom-right rule only feeds ends.)
* **Inverted regions** (end token before start token, possible through the asymmetric rules or the
  fallback) are kept as is, like the released code: ``</L>`` then appears before ``<L>``.
* **Insertion / "shifting"**: the released code shifts every event by the number of tags inserted so far,
  which puts a start tag *after* its token when an end tag was attached to the same token earlier. Here
  the semantics are exact: each original token owns a slot ``[start tags] token [end tags]``; the final
  position of everything is the concatenation of slots, so an index shift equals the number of tags in
  all earlier slots plus the start tags of the own slot.
* **Ties on one token**: start tags on the same token open outer regions first (later end token first,
  then prediction order); end tags on the same token close inner regions first (later start token first,
  then reverse prediction order). Properly nested regions therefore produce properly nested tags, and
  two regions with identical spans give ``<A><B> … </B></A>``. The released code simply used prediction
  order (stable sort on the token index).
* **Tag boxes**: every coordinate of the anchoring token's box is multiplied by 0.99 (start) or 1.01
  (end), i.e. scaled about the page origin as in the released code (not about the box centre), then
  clipped to the page. (The released code also inserted the end tag's box one position too early; here
  the end tag gets its own box.)
* **Lines**: a tag belongs to the line of its anchoring token; each line ``(s, e)`` becomes the span from
  the first slot item of token ``s`` to the last slot item of token ``e - 1``. Tags anchored on a token
  outside every line belong to no line (the released code then also forgot to shift later lines).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from distildoc.data.ocr import Box, OcrPage

#: Thresholds of the released code (``check_box_within``).
IOU_THRESHOLD = 0.3
AREA_FRACTION = 0.5
#: Tag-box scale factors of the released code (start: ``coord - 0.01 * coord``, end: ``coord + 0.01 * coord``).
START_TAG_SCALE = 0.99
END_TAG_SCALE = 1.01

DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_IGNORE_LABELS: tuple[str, ...] = ("Text",)

_TAG_RE = re.compile(r"^</?[A-Za-z][A-Za-z0-9_\-]*>$")


def open_tag(label: str) -> str:
    return f"<{label}>"


def close_tag(label: str) -> str:
    return f"</{label}>"


def is_tag(token: str) -> bool:
    """True for an inserted layout tag such as ``<Table>`` or ``</List-item>``."""
    return bool(_TAG_RE.match(token))


# --------------------------------------------------------------------------------------------- geometry


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection_area(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = intersection_area(a, b)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def point_strictly_inside(box: Sequence[float], x: float, y: float) -> bool:
    """Open-rectangle test of the released ``rectContains`` (no tolerance)."""
    return box[0] < x < box[2] and box[1] < y < box[3]


def area_mostly_inside(token: Sequence[float], region: Sequence[float], fraction: float = AREA_FRACTION) -> bool:
    """More than ``fraction`` of the token's area lies inside the region."""
    return intersection_area(token, region) > fraction * box_area(token)


def token_matches_start(region: Sequence[float], token: Sequence[float]) -> bool:
    """Released ``check_box_within`` start condition: IoU > 0.3, top-left strictly inside, or > 50 % area."""
    return (
        iou(region, token) > IOU_THRESHOLD
        or point_strictly_inside(region, token[0], token[1])
        or area_mostly_inside(token, region)
    )


def token_matches_end(region: Sequence[float], token: Sequence[float]) -> bool:
    """Released ``check_box_within`` end condition: IoU > 0.3, bottom-right strictly inside, or > 50 % area."""
    return (
        iou(region, token) > IOU_THRESHOLD
        or point_strictly_inside(region, token[2], token[3])
        or area_mostly_inside(token, region)
    )


def closest_tokens(region: Sequence[float], boxes: Sequence[Sequence[float]]) -> tuple[int | None, int | None]:
    """Fallback of the released ``check_box_closest``.

    Start = token minimising the L1 distance between top-left corners, end = token minimising the L1
    distance between bottom-right corners; the first minimum in OCR order wins.
    """
    best_start, best_end = (None, math.inf), (None, math.inf)
    for i, b in enumerate(boxes):
        d_start = abs(region[0] - b[0]) + abs(region[1] - b[1])
        d_end = abs(region[2] - b[2]) + abs(region[3] - b[3])
        if d_start < best_start[1]:
            best_start = (i, d_start)
        if d_end < best_end[1]:
            best_end = (i, d_end)
    return best_start[0], best_end[0]


def rescale_boxes(
    boxes: Iterable[Sequence[float]], from_size: tuple[float, float], to_size: tuple[float, float]
) -> list[Box]:
    """Scale xyxy boxes from an image of ``from_size = (w, h)`` to one of ``to_size = (w, h)``."""
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    return [(b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for b in boxes]


# ---------------------------------------------------------------------------------------------- regions


@dataclass(frozen=True)
class Region:
    """One kept layout prediction anchored on OCR tokens."""

    label: str
    box: Box
    score: float
    start: int
    end: int
    fallback_start: bool = False
    fallback_end: bool = False

    @property
    def inverted(self) -> bool:
        return self.end < self.start


def select_predictions(
    predictions: Mapping,
    page_size: tuple[int, int],
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
) -> list[tuple[str, Box, float]]:
    """Rescale to the page, keep ``score > score_threshold`` and drop ignored labels (prediction order kept)."""
    boxes = [tuple(float(c) for c in b) for b in _as_list(predictions.get("boxes", []))]
    labels = list(_as_list(predictions.get("labels", [])))
    scores = predictions.get("scores")
    scores = [1.0] * len(boxes) if scores is None else [float(s) for s in _as_list(scores)]
    if not len(boxes) == len(labels) == len(scores):
        raise ValueError(f"predictions: {len(boxes)} boxes, {len(labels)} labels, {len(scores)} scores")
    for b in boxes:
        if len(b) != 4:
            raise ValueError(f"predictions: box {b} is not (x1, y1, x2, y2)")
    for lab in labels:
        if not isinstance(lab, str):
            raise TypeError(f"predictions: labels must be DocLayNet names, got {lab!r}")

    image_size = predictions.get("image_size")
    if image_size is not None:
        image_size = (float(image_size[0]), float(image_size[1]))
        if image_size != (float(page_size[0]), float(page_size[1])):
            if image_size[0] <= 0 or image_size[1] <= 0:
                raise ValueError(f"predictions: invalid image_size {image_size}")
            boxes = rescale_boxes(boxes, image_size, page_size)

    ignore = set(ignore_labels or ())
    return [
        (lab, box, score)
        for box, lab, score in zip(boxes, labels, scores)
        if score > score_threshold and lab not in ignore
    ]


def anchor_regions(selected: Sequence[tuple[str, Box, float]], token_boxes: Sequence[Box]) -> list[Region]:
    """Find the start / end token of every region (first / last matching token, else closest corners)."""
    regions: list[Region] = []
    for label, box, score in selected:
        start = end = None
        for i, tb in enumerate(token_boxes):
            if start is None and token_matches_start(box, tb):
                start = i
            if token_matches_end(box, tb):
                end = i
        fb_start, fb_end = start is None, end is None
        if fb_start or fb_end:
            c_start, c_end = closest_tokens(box, token_boxes)
            start = c_start if fb_start else start
            end = c_end if fb_end else end
        if start is None or end is None:  # no tokens at all
            continue
        regions.append(Region(label, box, score, start, end, fb_start, fb_end))
    return regions


# ------------------------------------------------------------------------------------------- insertion


def _scaled_box(box: Sequence[float], factor: float, width: float, height: float) -> Box:
    x1, y1, x2, y2 = (c * factor for c in box)
    if width > 0 and height > 0:
        x1, x2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        y1, y2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    return (x1, y1, x2, y2)


def insert_tags(page: OcrPage, regions: Sequence[Region]) -> OcrPage:
    """Return a new page with the tags of ``regions`` inserted (see the module docstring for the rules)."""
    n = len(page.words)
    before: list[list[tuple[tuple, str, Box]]] = [[] for _ in range(n)]
    after: list[list[tuple[tuple, str, Box]]] = [[] for _ in range(n)]
    for j, r in enumerate(regions):
        before[r.start].append(
            ((-r.end, j), open_tag(r.label), _scaled_box(page.boxes[r.start], START_TAG_SCALE, page.width, page.height))
        )
        after[r.end].append(
            ((-r.start, -j), close_tag(r.label), _scaled_box(page.boxes[r.end], END_TAG_SCALE, page.width, page.height))
        )

    words: list[str] = []
    boxes: list[Box] = []
    slot_start = [0] * (n + 1)
    slot_end = [0] * n
    for i in range(n):
        slot_start[i] = len(words)
        for _, tag, box in sorted(before[i], key=lambda t: t[0]):
            words.append(tag)
            boxes.append(box)
        words.append(page.words[i])
        boxes.append(tuple(page.boxes[i]))
        for _, tag, box in sorted(after[i], key=lambda t: t[0]):
            words.append(tag)
            boxes.append(box)
        slot_end[i] = len(words)
    slot_start[n] = len(words)

    lines = [(slot_start[s], slot_end[e - 1]) if e > s else (slot_start[s], slot_start[s]) for s, e in page.lines]
    meta = copy.deepcopy(page.meta)
    meta["dla"] = {
        "regions": [
            {
                "label": r.label,
                "box": list(r.box),
                "score": r.score,
                "start": r.start,
                "end": r.end,
                "fallback_start": r.fallback_start,
                "fallback_end": r.fallback_end,
            }
            for r in regions
        ],
        "n_tags": 2 * len(regions),
    }
    return OcrPage(
        doc_id=page.doc_id,
        words=words,
        boxes=boxes,
        lines=lines,
        width=page.width,
        height=page.height,
        source=page.source,
        meta=meta,
    )


def enrich_page(
    page: OcrPage,
    predictions: Mapping,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    ignore_labels: Iterable[str] = DEFAULT_IGNORE_LABELS,
) -> OcrPage:
    """DLA-enrich one OCR page; returns a new page and never mutates ``page`` or ``predictions``.

    Args:
        page: the OCR page (boxes in page pixels).
        predictions: ``{"boxes": [[x1, y1, x2, y2], ...], "labels": ["Table", ...], "scores": [...],
            "image_size": (w, h)}`` from the DLA model; ``boxes`` are in the DLA image's pixels and are
            rescaled to ``(page.width, page.height)`` when ``image_size`` differs. ``scores`` and
            ``image_size`` may be omitted (all kept / no rescaling). Labels are DocLayNet names.
        score_threshold: keep predictions with ``score > score_threshold``.
        ignore_labels: labels never turned into tags (DistilDoc's ``--ignore_tokens Text``).

    Returns:
        A new :class:`OcrPage` whose words contain the tags, with one box per tag and line ranges extended
        so every tag sits on its anchoring token's line. ``meta["dla"]`` records the anchored regions.
        A page without words is returned as an (enriched-metadata) copy with no tags.
    """
    selected = select_predictions(predictions, (page.width, page.height), score_threshold, ignore_labels)
    regions = anchor_regions(selected, page.boxes) if page.words else []
    return insert_tags(page, regions)


def _as_list(x) -> list:
    if hasattr(x, "tolist"):
        return x.tolist()
    return list(x)
