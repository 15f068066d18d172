"""The embedded synthetic benchmark: determinism, label consistency, and the real datasets' formats."""

from __future__ import annotations

import filecmp
import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO

from distildoc.data.labels import (
    DOCLAYNET_CATEGORIES,
    DOCVQA_QUESTION_TYPES,
    RVL_CDIP_CLASSES,
    RVL_CDIP_N_CLASSES,
)
from distildoc.data.synthetic.generate import DATASETS, generate_split

SPLITS = [("rvl", "train", 2), ("rvl", "test", 1), ("rvl_n", "test", 1), ("tobacco", "test", 1)]


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        generate_split(root, "rvl", "val", n_per_class=1, seed=3, progress=False)
        generate_split(root, "rvl_n", "test", n_per_class=1, seed=3, progress=False)
    files = _files(a)
    assert files == _files(b)
    assert len(files) == 16 + 12 + 2 * 5  # images + (labels, layout, ocr, qa, manifest) per split
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert mismatch == [] and errors == []


def test_different_seed_changes_pages(tmp_path: Path) -> None:
    generate_split(tmp_path / "a", "rvl", "val", n_per_class=1, seed=1, progress=False)
    generate_split(tmp_path / "b", "rvl", "val", n_per_class=1, seed=2, progress=False)
    img = "rvl/images/val/rvl_val_00000.png"
    assert (tmp_path / "a" / img).read_bytes() != (tmp_path / "b" / img).read_bytes()


@pytest.mark.parametrize("dataset,split,n", SPLITS)
def test_label_file_and_class_counts(synthetic_root: Path, dataset: str, split: str, n: int) -> None:
    spec = DATASETS[dataset]
    lines = (synthetic_root / dataset / "labels" / f"{split}.txt").read_text().splitlines()
    entries = [line.rsplit(" ", 1) for line in lines]
    counts = Counter(int(label) for _, label in entries)
    assert counts == {cid: n for cid in spec.class_ids}
    for rel, _ in entries:
        with Image.open(synthetic_root / dataset / rel) as im:
            assert im.size == (612, 792)
            assert im.mode == ("RGB" if spec.style == "shift" else "L")
    manifest = json.loads((synthetic_root / dataset / f"manifest_{split}.json").read_text())
    assert manifest["n_pages"] == n * len(spec.classes) and manifest["seed"] == 7


def test_rvl_n_uses_rvl_cdip_ids(synthetic_root: Path) -> None:
    lines = (synthetic_root / "rvl_n" / "labels" / "test.txt").read_text().splitlines()
    coco = json.loads((synthetic_root / "rvl_n" / "layout" / "test.json").read_text())
    name_by_file = {im["file_name"]: im["doc_class"] for im in coco["images"]}
    for line in lines:
        rel, label = line.rsplit(" ", 1)
        assert name_by_file[rel] in RVL_CDIP_N_CLASSES
        assert RVL_CDIP_CLASSES[int(label)] == name_by_file[rel]


@pytest.mark.parametrize("dataset,split,n", SPLITS)
def test_coco_layout_is_valid_and_inside_pages(synthetic_root: Path, dataset: str, split: str, n: int) -> None:
    path = synthetic_root / dataset / "layout" / f"{split}.json"
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(DOCLAYNET_CATEGORIES)
    assert coco.getCatIds() == list(range(1, 12))
    assert len(coco.getImgIds()) == n * len(DATASETS[dataset].classes)
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs[ann["image_id"]]
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and ann["iscrowd"] == 0
        assert 0 <= x and 0 <= y and x + w <= img["width"] and y + h <= img["height"]
        assert ann["area"] == pytest.approx(w * h, rel=1e-3)
        assert coco.annToMask(ann).sum() > 0
    for img_id in coco.getImgIds():
        assert coco.getAnnIds(imgIds=img_id), f"page {img_id} of {path} has no layout region"


def _ocr_lines(path: Path) -> dict[str, dict]:
    return {json.loads(line)["name"]: json.loads(line) for line in path.read_text().splitlines()}


@pytest.mark.parametrize("dataset,split,n", SPLITS)
def test_ocr_words_inside_page_and_inside_a_region(synthetic_root: Path, dataset: str, split: str, n: int) -> None:
    docs = _ocr_lines(synthetic_root / dataset / "ocr" / f"{split}.jsonl")
    coco = json.loads((synthetic_root / dataset / "layout" / f"{split}.json").read_text())
    regions: dict[str, list] = {}
    id_to_page = {im["id"]: im["page_id"] for im in coco["images"]}
    for a in coco["annotations"]:
        regions.setdefault(id_to_page[a["image_id"]], []).append(a["bbox"])
    assert set(docs) == set(id_to_page.values())
    for name, doc in docs.items():
        fmt = doc["contents"][0]["common_format"]
        _, _, pw, ph = fmt["structures"]["pages"]["positions"][0]
        assert len(fmt["tokens"]) == len(fmt["positions"]) > 0
        for word, (x1, y1, x2, y2) in zip(fmt["tokens"], fmt["positions"]):
            assert 0 <= x1 < x2 <= pw and 0 <= y1 < y2 <= ph, (name, word)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            assert any(rx <= cx <= rx + rw and ry <= cy <= ry + rh for rx, ry, rw, rh in regions[name]), (
                f"{name}: word {word!r} lies in no layout region")
        lines = fmt["structures"]["lines"]["structure_value"]
        assert lines[0][0] == 0 and lines[-1][1] == len(fmt["tokens"])
        assert all(a[1] == b[0] for a, b in zip(lines, lines[1:])), "line ranges must tile the tokens"


@pytest.mark.parametrize("dataset,split,n", SPLITS)
def test_questions_are_extractive_and_typed(synthetic_root: Path, dataset: str, split: str, n: int) -> None:
    qa = json.loads((synthetic_root / dataset / "qa" / f"{split}.json").read_text())
    assert qa["dataset_split"] == split
    docs = _ocr_lines(synthetic_root / dataset / "ocr" / f"{split}.jsonl")
    per_page = Counter(q["ucsf_document_id"] for q in qa["data"])
    assert set(per_page) == set(docs), "every page has at least one question"
    assert all(1 <= c <= 5 for c in per_page.values())
    assert len({q["questionId"] for q in qa["data"]}) == len(qa["data"])
    for q in qa["data"]:
        fmt = docs[q["ucsf_document_id"]]["contents"][0]["common_format"]
        line_texts = [" ".join(fmt["tokens"][s:e]) for s, e in fmt["structures"]["lines"]["structure_value"]]
        gold = q["answers"][0]
        assert any(f" {gold} " in f" {t} " for t in line_texts), f"{q['question']!r}: {gold!r} not on the page"
        assert all(a.lower() == gold.lower() or a == gold.lstrip("$") for a in q["answers"])
        assert q["question_types"] and set(q["question_types"]) <= set(DOCVQA_QUESTION_TYPES)
        assert (synthetic_root / dataset / q["image"]).is_file()


def test_question_types_cover_layout_and_tables(synthetic_root: Path) -> None:
    qa = json.loads((synthetic_root / "rvl" / "qa" / "train.json").read_text())
    types = Counter(t for q in qa["data"] for t in q["question_types"])
    assert {"form", "table/list", "layout"} <= set(types)


def test_unknown_dataset_and_bad_size_are_named(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="rvl_x"):
        generate_split(tmp_path, "rvl_x", "train", 1, 0)
    with pytest.raises(ValueError, match="n_per_class"):
        generate_split(tmp_path, "rvl", "train", 0, 0)
