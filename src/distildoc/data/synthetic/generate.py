"""Generate one split of the embedded synthetic document benchmark, in the real datasets' formats.

A split folder ``<root>/<dataset>/`` receives::

    images/<split>/<page id>.png       grayscale (RGB on the covariate-shift split) page images
    labels/<split>.txt                 RVL-CDIP label file: "<relative image path> <class id>" per line
    layout/<split>.json                COCO instances, DocLayNet's 11 categories (ids 1-11)
    ocr/<split>.jsonl                  DUE `documents_content.jsonl` OCR (tool "synthetic")
    qa/<split>.json                    DocVQA JSON (questionId, question, question_types, answers, ...)
    manifest_<split>.json              generator version, seed, sizes, counts

Every page is drawn from its own RNG seeded by (seed, dataset, split, index), so the output is
byte-identical for the same arguments and independent of how splits are scheduled.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ... import __version__
from ...utils.io import write_bytes, write_json, write_text
from ..due import write_due_jsonl
from ..labels import (
    DOCLAYNET_CATEGORIES,
    RVL_CDIP_CLASSES,
    RVL_CDIP_N_CLASSES,
    TOBACCO3482_CLASSES,
    coco_categories,
    doclaynet_category_id,
)
from ..ocr import OcrPage
from .canvas import PageCanvas, draw_style
from .layouts import LAYOUTS

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"

#: Tobacco-3482 class -> the synthetic layout family that draws it.
TOBACCO_LAYOUTS = {
    "ADVE": "advertisement",
    "Email": "email",
    "Form": "form",
    "Letter": "letter",
    "Memo": "memo",
    "News": "news article",
    "Note": "note",
    "Report": "scientific report",
    "Resume": "resume",
    "Scientific": "scientific publication",
}


@dataclass(frozen=True)
class DatasetSpec:
    """A synthetic dataset: its class names (index = class id), the family drawing each, and the style."""

    name: str
    classes: tuple[str, ...]
    families: tuple[str, ...]
    class_ids: tuple[int, ...]
    style: str


DATASETS: dict[str, DatasetSpec] = {
    # RVL-CDIP-like: 16 classes, RVL-CDIP ids and order
    "rvl": DatasetSpec("rvl", RVL_CDIP_CLASSES, RVL_CDIP_CLASSES, tuple(range(16)), "train"),
    # RVL-CDIP-N-like: its 12 classes, labelled with RVL-CDIP ids, drawn in unseen styles
    "rvl_n": DatasetSpec(
        "rvl_n",
        RVL_CDIP_N_CLASSES,
        RVL_CDIP_N_CLASSES,
        tuple(RVL_CDIP_CLASSES.index(c) for c in RVL_CDIP_N_CLASSES),
        "shift",
    ),
    # Tobacco-3482-like: 10 classes, ids 0-9 in TOBACCO3482_CLASSES order
    "tobacco": DatasetSpec(
        "tobacco",
        TOBACCO3482_CLASSES,
        tuple(TOBACCO_LAYOUTS[c] for c in TOBACCO3482_CLASSES),
        tuple(range(10)),
        "train",
    ),
}


@dataclass
class Page:
    page_id: str
    class_id: int
    image_path: str  # relative to the dataset folder
    width: int
    height: int
    ocr: OcrPage
    regions: list
    qa: list


def page_seed(seed: int, dataset: str, split: str, index: int) -> int:
    digest = hashlib.sha256(f"{seed}/{dataset}/{split}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _answer_in_lines(answer: str, lines: list[str]) -> bool:
    """True when `answer` is a whole-word span of one OCR line."""
    target = f" {answer} "
    return any(target in f" {line} " for line in lines)


def render_page(
    spec: DatasetSpec, class_index: int, seed: int, split: str, index: int, width: int, height: int,
    max_questions: int = 5,
) -> tuple[Page, "object"]:
    """Draw one page; returns the label record and the PIL image."""
    ps = page_seed(seed, spec.name, split, index)
    rng = random.Random(ps)
    style = draw_style(rng, width, spec.style)
    cv = PageCanvas(width, height, rng, style)
    LAYOUTS[spec.families[class_index]](cv)
    image = cv.finish(np.random.default_rng(ps))
    page_id = f"{spec.name}_{split}_{index:05d}"
    ocr = OcrPage(page_id, cv.words, cv.boxes, cv.lines, width, height, source="synthetic")
    lines = ocr.line_texts()
    candidates = [q for q in cv.qa if _answer_in_lines(q.answers[0], lines)]
    n_q = min(len(candidates), rng.randint(1, max_questions))
    qa = rng.sample(candidates, k=n_q) if n_q else []
    page = Page(page_id, spec.class_ids[class_index], f"images/{split}/{page_id}.png", width, height, ocr,
                list(cv.regions), qa)
    return page, image


def generate_split(
    root: str | Path,
    dataset: str,
    split: str,
    n_per_class: int,
    seed: int,
    width: int = 612,
    height: int = 792,
    max_questions: int = 5,
    progress: bool = True,
    inject_corrupt: bool = False,
) -> dict:
    """Generate `n_per_class` pages of every class of `dataset` for `split`; returns the manifest.

    With `inject_corrupt` the split's image folder also gets a truncated PNG and an empty file, listed in
    the label file only (class 0; not in the layout / OCR / QA files), so that the classification loaders
    must skip and name them (as RVL-CDIP's unreadable test image); the manifest lists them."""
    if dataset not in DATASETS:
        raise KeyError(f"unknown synthetic dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class} for {dataset}/{split}")
    spec = DATASETS[dataset]
    root = Path(root) / dataset
    img_dir = root / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    n_classes = len(spec.classes)
    total = n_per_class * n_classes

    pages: list[Page] = []
    for index in tqdm(range(total), desc=f"synthetic {dataset}/{split}", disable=not progress, unit="page"):
        page, image = render_page(spec, index % n_classes, seed, split, index, width, height, max_questions)
        buf = io.BytesIO()
        # zlib level 1: 15 vs 36 ms a page at PIL's default 6, files 9 % larger (rendering itself is ~19 ms)
        image.save(buf, format="PNG", compress_level=1)
        write_bytes(root / page.image_path, buf.getvalue())
        pages.append(page)

    corrupt = []
    if inject_corrupt:
        png = (root / pages[0].image_path).read_bytes()
        corrupt = [f"images/{split}/corrupt_truncated.png", f"images/{split}/corrupt_empty.png"]
        write_bytes(root / corrupt[0], png[: len(png) // 2])
        write_bytes(root / corrupt[1], b"")
        log.info("injected unreadable images %s into %s/%s", corrupt, dataset, split)
    labels = [f"{p.image_path} {p.class_id}\n" for p in pages] + [f"{c} {spec.class_ids[0]}\n" for c in corrupt]
    write_text(root / "labels" / f"{split}.txt", "".join(labels))
    write_json(root / "layout" / f"{split}.json", to_coco(pages, spec), indent=None)
    write_due_jsonl(root / "ocr" / f"{split}.jsonl", [p.ocr for p in pages])
    write_json(root / "qa" / f"{split}.json", to_docvqa(pages, split), indent=1)

    manifest = {
        "generator": "distildoc.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "package_version": __version__,
        "dataset": dataset,
        "split": split,
        "seed": seed,
        "n_per_class": n_per_class,
        "page_size": [width, height],
        "style": spec.style,
        "classes": list(spec.classes),
        "class_ids": list(spec.class_ids),
        "n_pages": len(pages),
        "class_counts": {str(k): v for k, v in sorted(Counter(p.class_id for p in pages).items())},
        "n_regions": sum(len(p.regions) for p in pages),
        "region_counts": dict(sorted(Counter(r.category for p in pages for r in p.regions).items())),
        "n_words": sum(len(p.ocr.words) for p in pages),
        "n_questions": sum(len(p.qa) for p in pages),
        "question_type_counts": dict(sorted(Counter(t for p in pages for q in p.qa for t in q.question_types).items())),
    }
    if corrupt:
        manifest["injected_corrupt"] = corrupt
    write_json(root / f"manifest_{split}.json", manifest)
    log.info("synthetic %s/%s: %d pages, %d regions, %d questions -> %s", dataset, split, len(pages),
             manifest["n_regions"], manifest["n_questions"], root)
    return manifest


def to_coco(pages: list[Page], spec: DatasetSpec) -> dict:
    """COCO instances with DocLayNet categories; rectangle polygons as segmentation."""
    images, annotations = [], []
    ann_id = 1
    for img_id, p in enumerate(pages, 1):
        images.append({"id": img_id, "file_name": p.image_path, "width": p.width, "height": p.height,
                       "page_id": p.page_id, "doc_class": spec.classes[spec.class_ids.index(p.class_id)]})
        for r in p.regions:
            x1, y1, x2, y2 = r.bbox
            w, h = round(x2 - x1, 1), round(y2 - y1, 1)
            annotations.append({
                "id": ann_id, "image_id": img_id, "category_id": doclaynet_category_id(r.category),
                "bbox": [x1, y1, w, h], "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
                "area": round(w * h, 2), "iscrowd": 0, "precedence": 0,
            })
            ann_id += 1
    return {
        "info": {"description": f"DistilDoc synthetic benchmark: {spec.name}", "version": GENERATOR_VERSION},
        "images": images,
        "annotations": annotations,
        "categories": coco_categories(DOCLAYNET_CATEGORIES),
    }


def to_docvqa(pages: list[Page], split: str) -> dict:
    """The official DocVQA JSON layout; `image` is relative to the dataset folder."""
    data = []
    for doc_id, p in enumerate(pages):
        for k, q in enumerate(p.qa):
            data.append({
                "questionId": doc_id * 10 + k,
                "question": q.question,
                "question_types": list(q.question_types),
                "image": p.image_path,
                "docId": doc_id,
                "ucsf_document_id": p.page_id,
                "ucsf_document_page_no": "1",
                "answers": list(q.answers),
                "data_split": split,
            })
    return {"dataset_name": "distildoc-synthetic", "dataset_version": GENERATOR_VERSION,
            "dataset_split": split, "data": data}
