"""The paper preset's data conversions on tiny hand-made fixtures: RVL-CDIP-N parquet shards -> folder layout +
label file, Tobacco-3482 class folders -> split label files, DocLayNet core COCO -> precedence-0 layout files,
PRImA PAGE XML -> seeded train / val COCO with image paths resolved, and Table 13 from the layout report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from distildoc.data.coco import CocoDetectionDataset, convert_doclaynet, load_coco
from distildoc.data.labels import PRIMA_CATEGORIES, RVL_CDIP_N_CLASSES, TOBACCO3482_CLASSES, rvl_cdip_class_id
from distildoc.data.prima import prepare_prima
from distildoc.data.rvlcdip import (
    decode_split,
    extract_rvl_cdip_n_parquet,
    find_class_root,
    prepare_rvl_cdip_n,
    read_label_file,
    tobacco3482_label_files,
)
from distildoc.report.dla import write_dla_tables


def _png(value: int, size: tuple[int, int] = (20, 30), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, format=fmt)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------- RVL-CDIP-N


def _write_shard(path: Path, rows: list[tuple[bytes, str | None, int]], names: list[str] | None) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({"image": pa.array([{"bytes": b, "path": p} for b, p, _ in rows], type=image_type),
                      "label": pa.array([label for _, _, label in rows], type=pa.int64())})
    if names is not None:  # what the HF hub writes: the features, ClassLabel names included
        features = {"image": {"_type": "Image"}, "label": {"names": names, "_type": "ClassLabel"}}
        table = table.replace_schema_metadata({b"huggingface": json.dumps({"info": {"features": features}}).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_rvl_cdip_n_parquet_is_unpacked_with_rvl_cdip_ids(tmp_path: Path) -> None:
    hub_names = ["budget", "email", "form", "handwritten", "invoice", "letter", "memo", "news_article",
                 "questionnaire", "resume", "scientific_publication", "specification"]
    raw = tmp_path / "raw" / "rvl_cdip_n"
    # shard 0 carries the ClassLabel names; shard 1 has none (falls back to the hub's alphabetical order)
    _write_shard(raw / "parquet" / "test-00000-of-00002.parquet",
                 [(_png(10), "a/doc 1.png", 7), (_png(20, fmt="JPEG"), None, 0)], hub_names)
    _write_shard(raw / "parquet" / "test-00001-of-00002.parquet", [(_png(30), "x.png", 11)], None)
    (raw / ".complete").write_text("{}")
    out, labels = tmp_path / "paper" / "rvl_cdip_n", tmp_path / "paper" / "labels" / "rvl_n_test.txt"

    entries = prepare_rvl_cdip_n(raw, out, labels)

    assert sorted(entries) == sorted([
        ("news article/00000_doc_1.png", rvl_cdip_class_id("news article")),  # RVL-CDIP id 9, hub id 7
        ("budget/00001_page.jpg", rvl_cdip_class_id("budget")),
        ("specification/00002_x.png", rvl_cdip_class_id("specification")),
    ])
    assert read_label_file(labels) == entries
    images, ys, ids, skipped = decode_split(entries, out, 16, progress=False)
    assert images.shape == (3, 16, 16) and not skipped
    assert sorted(ys.tolist()) == sorted(e[1] for e in entries)
    assert rvl_cdip_class_id("news article") == 9 and len(RVL_CDIP_N_CLASSES) == 12


def test_rvl_cdip_n_parquet_rejects_unknown_classes_and_labels(tmp_path: Path) -> None:
    shard = tmp_path / "s.parquet"
    _write_shard(shard, [(_png(1), "a.png", 0)], ["budget", "advertisement"])
    with pytest.raises(ValueError, match="advertisement"):
        extract_rvl_cdip_n_parquet([shard], tmp_path / "out")
    _write_shard(shard, [(_png(1), "a.png", 12)], None)
    with pytest.raises(ValueError, match="label 12"):
        extract_rvl_cdip_n_parquet([shard], tmp_path / "out2")


def test_rvl_cdip_n_folder_release_is_copied(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for cls, value in (("news_article", 5), ("Budget", 9)):
        (raw / "rvl-cdip-n" / cls).mkdir(parents=True)
        (raw / "rvl-cdip-n" / cls / "p.png").write_bytes(_png(value))
    entries = prepare_rvl_cdip_n(raw, tmp_path / "out", tmp_path / "labels.txt")
    assert entries == [("Budget/p.png", 10), ("news_article/p.png", 9)]
    assert (tmp_path / "out" / "Budget" / "p.png").is_file()


# --------------------------------------------------------------------------------------------- Tobacco-3482


def test_tobacco3482_label_files_from_a_wrapped_archive(tmp_path: Path) -> None:
    raw = tmp_path / "tobacco3482"
    for cls in TOBACCO3482_CLASSES:
        folder = raw / "Tobacco3482-jpg" / cls
        folder.mkdir(parents=True)
        for i in range(5):
            (folder / f"{cls}_{i}.jpg").write_bytes(b"")
    (raw / ".complete").write_text("{}")
    written = tobacco3482_label_files(raw, tmp_path / "labels", train_per_class=2, val_per_class=1, seed=42)
    assert {k: v.name for k, v in written.items()} == {"train": "tobacco_train.txt", "val": "tobacco_val.txt",
                                                       "test": "tobacco_test.txt"}
    splits = {k: read_label_file(v, n_classes=len(TOBACCO3482_CLASSES)) for k, v in written.items()}
    assert [len(splits[k]) for k in ("train", "val", "test")] == [20, 10, 20]
    every = [p for s in splits.values() for p, _ in s]
    assert len(set(every)) == 50 and all(p.startswith("Tobacco3482-jpg/") for p in every)
    for path, label in splits["train"]:
        assert Path(path).parent.name == TOBACCO3482_CLASSES[label]
    assert all((raw / p).is_file() for p in every)  # relative to the download folder the DAG decodes against
    again = tobacco3482_label_files(raw, tmp_path / "again", train_per_class=2, val_per_class=1, seed=42)
    assert all(again[k].read_text() == written[k].read_text() for k in written)


def test_find_class_root_names_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "misc" / "other").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="ADVE"):
        find_class_root(tmp_path, TOBACCO3482_CLASSES)


# --------------------------------------------------------------------------------------------- DocLayNet


def _doclaynet_coco(split: str, page: str) -> dict:
    return {
        "images": [{"id": 1, "file_name": page, "width": 40, "height": 40, "doc_category": "manuals"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 10, "bbox": [2, 2, 10, 10], "area": 100, "iscrowd": 0,
             "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]], "precedence": 0},
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [5, 20, 20, 10], "area": 200, "iscrowd": 0,
             "segmentation": [[5, 20, 25, 20, 25, 30, 5, 30]], "precedence": 1},  # a second annotator
            {"id": 3, "image_id": 1, "category_id": 11, "bbox": [20, 2, 10, 5], "area": 50, "iscrowd": 0,
             "segmentation": [[20, 2, 30, 2, 30, 7, 20, 7]], "precedence": 0},
        ],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(
            ["Caption", "Footnote", "Formula", "List-item", "Page-footer", "Page-header", "Picture",
             "Section-header", "Table", "Text", "Title"])],
    }


def test_doclaynet_conversion_keeps_precedence_zero_and_roots_the_images(tmp_path: Path) -> None:
    raw = tmp_path / "doclaynet"
    core = raw / "DocLayNet_core"  # the archive's wrapper folder
    (core / "COCO").mkdir(parents=True)
    (core / "PNG").mkdir()
    for split, page in (("train", "aaa.png"), ("val", "bbb.png"), ("test", "ccc.png")):
        (core / "COCO" / f"{split}.json").write_text(json.dumps(_doclaynet_coco(split, page)))
        Image.new("RGB", (40, 40), "white").save(core / "PNG" / page)
    written = convert_doclaynet(raw, raw / "layout", ("train", "val"))
    assert sorted(p.name for p in (raw / "layout").iterdir()) == ["train.json", "val.json"]
    train = load_coco(written["train"])
    assert [a["id"] for a in train["annotations"]] == [1, 3]
    assert train["images"][0]["file_name"] == "DocLayNet_core/PNG/aaa.png"
    assert train["images"][0]["doc_category"] == "manuals" and len(train["categories"]) == 11
    dataset = CocoDetectionDataset(raw, written["val"])
    image, target = dataset[0]
    assert image.shape == (3, 40, 40) and target["labels"].tolist() == [10, 11]


def test_doclaynet_conversion_names_the_missing_coco_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="COCO/train.json"):
        convert_doclaynet(tmp_path, tmp_path / "layout")


# --------------------------------------------------------------------------------------------- PRImA

PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19">
  <Page imageFilename="{image}" imageWidth="60" imageHeight="80">
    <TextRegion id="r1"><Coords points="5,5 40,5 40,20 5,20"/></TextRegion>
    <ChartRegion id="r2"><Coords points="5,30 50,30 50,70 5,70"/></ChartRegion>
  </Page>
</PcGts>
"""


def test_prima_split_and_conversion(tmp_path: Path) -> None:
    raw = tmp_path / "prima"
    (raw / "XML").mkdir(parents=True)
    (raw / "Images").mkdir()
    ids = [f"{i:08d}" for i in range(1, 11)]
    for k, page in enumerate(ids):
        (raw / "XML" / f"pc-{page}.xml").write_text(PAGE.format(image=f"{page}.tif"))
        # one page stored as PNG although the XML names a .tif: found by its stem
        Image.new("L", (60, 80), 255).save(raw / "Images" / f"{page}.{'png' if k == 3 else 'tif'}")
    (raw / ".complete").write_text("{}")

    written = prepare_prima(raw, raw / "layout", test_fraction=0.2, seed=42)

    assert sorted(written) == ["train", "val"]
    train, val = load_coco(written["train"]), load_coco(written["val"])
    assert (len(train["images"]), len(val["images"])) == (8, 2)
    pages = [im["page_xml"] for im in train["images"] + val["images"]]
    assert sorted(pages) == [f"pc-{p}.xml" for p in ids]
    assert [c["name"] for c in train["categories"]] == list(PRIMA_CATEGORIES)
    assert {a["category_id"] for a in train["annotations"]} == {1, PRIMA_CATEGORIES.index("OtherRegion") + 1}
    names = {im["file_name"] for im in train["images"] + val["images"]}
    assert "Images/00000004.png" in names and all((raw / n).is_file() for n in names)
    # deterministic: the same seed gives the same held-out pages
    again = prepare_prima(raw, tmp_path / "again", test_fraction=0.2, seed=42)
    assert load_coco(again["val"])["images"] == val["images"]
    image, target = CocoDetectionDataset(raw, written["val"])[0]
    assert image.shape == (3, 80, 60) and len(target["boxes"]) == 2


def test_prima_pages_without_an_image_are_dropped_and_none_is_an_error(tmp_path: Path) -> None:
    raw = tmp_path / "prima"
    raw.mkdir()
    for page in ("a", "b", "c", "d", "e"):
        (raw / f"{page}.xml").write_text(PAGE.format(image=f"{page}.tif"))
    with pytest.raises(ValueError, match="none of the"):
        prepare_prima(raw, raw / "layout")
    for page in ("a", "b", "c", "d"):
        Image.new("L", (60, 80), 255).save(raw / f"{page}.tif")
    written = prepare_prima(raw, raw / "layout")
    coco = [load_coco(p) for p in written.values()]
    assert sum(len(c["images"]) for c in coco) == 4
    assert sum(len(c["annotations"]) for c in coco) == 8


# --------------------------------------------------------------------------------------------- Table 13


def test_write_dla_tables_writes_table13(tmp_path: Path) -> None:
    df = pd.DataFrame([{"teacher": "none", "role": "ViT-B-FPN", "method": "supervised", "mAP": 50.0, "gflops": 1.0,
                        "params_M": 2.0, "images_per_second": 3.0}])
    paths = write_dla_tables(df, tmp_path, dataset="PRImA", table="table13")
    assert sorted(p.name for p in paths) == ["table13.csv", "table13.md", "table13.tex"]
    tex = (tmp_path / "table13.tex").read_text()
    assert "Table 13: document layout analysis on PRImA" in tex and "tab:dla_table13" in tex
    csv = pd.read_csv(tmp_path / "table13.csv")
    assert len(csv) == 8 and np.isclose(csv["mAP"].iloc[0], 50.0)
    default = write_dla_tables(df, tmp_path / "t3")
    assert sorted(p.name for p in default) == ["table3.csv", "table3.md", "table3.tex"]
