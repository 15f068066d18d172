"""Corrupt and unreadable inputs: loaders skip, count and name unreadable images and go on; a missing dataset,
a missing checkpoint or a malformed annotation file fails with a message naming the file."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

from distildoc.data.coco import CocoDetectionDataset, UnreadableImageError, load_coco
from distildoc.data.rvlcdip import read_label_file
from distildoc.data.synthetic.generate import generate_split
from distildoc.data.tensors import build_split, load_split
from distildoc.train.classification import load_classifier, load_teacher_cache, split_metrics


@pytest.fixture(scope="module")
def corrupt_rvl(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corrupt")
    manifest = generate_split(root, "rvl", "test", n_per_class=1, seed=3, width=153, height=198, progress=False,
                              inject_corrupt=True)
    assert manifest["injected_corrupt"] == ["images/test/corrupt_truncated.png", "images/test/corrupt_empty.png"]
    return root / "rvl"


def test_injected_images_are_listed_skipped_counted_and_named(corrupt_rvl: Path, tmp_path: Path, caplog) -> None:
    entries = read_label_file(corrupt_rvl / "labels" / "test.txt")
    assert len(entries) == 18 and (corrupt_rvl / "images/test/corrupt_empty.png").stat().st_size == 0
    with caplog.at_level(logging.WARNING):
        split = build_split(corrupt_rvl / "labels" / "test.txt", corrupt_rvl, 32, tmp_path / "t.pt")
    assert len(split) == 16
    assert split.skipped == ["images/test/corrupt_truncated.png", "images/test/corrupt_empty.png"]
    assert "corrupt_truncated.png" in caplog.text and "corrupt_empty.png" in caplog.text
    assert load_split(tmp_path / "t.pt").skipped == split.skipped  # the decode step's output names them
    m = split_metrics(torch.randn(len(split), 16).numpy(), split)
    assert m["n_skipped"] == 2 and m["skipped_inputs"] == split.skipped


def test_without_injection_nothing_is_added(tmp_path: Path) -> None:
    manifest = generate_split(tmp_path, "rvl", "val", n_per_class=1, seed=3, width=153, height=198, progress=False)
    assert "injected_corrupt" not in manifest
    assert not list((tmp_path / "rvl" / "images" / "val").glob("corrupt_*"))


def _coco_with_bad_page(corrupt_rvl: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "pages"
    shutil.copytree(corrupt_rvl, root)
    coco = load_coco(root / "layout" / "test.json")
    coco["images"] = coco["images"][:3]
    coco["images"][1]["file_name"] = "images/test/corrupt_truncated.png"
    keep = {im["id"] for im in coco["images"]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in keep]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(coco))
    return root, ann


def test_detection_dataset_names_skips_and_counts_unreadable_pages(corrupt_rvl: Path, tmp_path: Path) -> None:
    from detection_helpers import tiny_spec

    from distildoc.models.detection import build_detector
    from distildoc.train.detection import predecode, train_detector

    root, ann = _coco_with_bad_page(corrupt_rvl, tmp_path)
    ds = CocoDetectionDataset(root, ann)
    with pytest.raises(UnreadableImageError, match="corrupt_truncated.png"):
        ds[1]
    assert predecode(ds).skipped == [str(root / "images/test/corrupt_truncated.png")]
    torch.manual_seed(0)
    res = train_detector(build_detector(tiny_spec("R50-FPN")), ds, dict(iterations=1, batch_size=1, progress=False))
    assert res["skipped_inputs"] == [str(root / "images/test/corrupt_truncated.png")]
    ds2 = CocoDetectionDataset(root, ann)
    assert ds2.drop_unreadable() == ["images/test/corrupt_truncated.png"]
    assert len(ds2) == 2 and {a["image_id"] for a in ds2.coco["annotations"]} <= {im["id"] for im in ds2.images}


def test_missing_dataset_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing label file: .*nowhere/labels/test.txt"):
        read_label_file(tmp_path / "nowhere" / "labels" / "test.txt")
    (tmp_path / "labels.txt").write_text("images/a.png 0\n")
    with pytest.raises(FileNotFoundError, match="missing image folder: .*gone"):
        build_split(tmp_path / "labels.txt", tmp_path / "gone", 32, tmp_path / "t.pt")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="none of the 1 images"):
        build_split(tmp_path / "labels.txt", tmp_path, 32, tmp_path / "t.pt")
    with pytest.raises(FileNotFoundError, match="missing image folder of the detection dataset: .*gone"):
        CocoDetectionDataset(tmp_path / "gone", {"images": [], "annotations": [], "categories": []})
    with pytest.raises(FileNotFoundError, match="missing decoded split: .*t2.pt"):
        load_split(tmp_path / "t2.pt")


def test_missing_checkpoint_fails_naming_it(tmp_path: Path) -> None:
    from distildoc.train.dla import load_detector

    with pytest.raises(FileNotFoundError, match=r"artefact\.json"):
        load_classifier(tmp_path / "run")
    run = tmp_path / "run"
    run.mkdir()
    (run / "artefact.json").write_text(json.dumps({"model_spec": {"checkpoint": "model.safetensors"}}))
    with pytest.raises(FileNotFoundError, match=r"missing checkpoint: .*run/model\.safetensors"):
        load_classifier(run)
    with pytest.raises(FileNotFoundError, match=r"missing detector checkpoint: .*det/model\.pt"):
        load_detector(tmp_path / "det")
    with pytest.raises(FileNotFoundError, match=r"missing teacher cache: .*c\.safetensors"):
        load_teacher_cache(tmp_path / "c.safetensors")


def test_malformed_annotation_file_fails_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(ValueError, match=r"malformed JSON in .*bad\.json"):
        load_coco(bad)
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "height": 5}], "annotations": [],
                               "categories": []}))
    with pytest.raises(ValueError, match=r"bad\.json: images\[0\] \(id=1\) is missing key\(s\) 'width'"):
        load_coco(bad)
    with pytest.raises(FileNotFoundError, match=r"missing file: .*none\.json"):
        load_coco(tmp_path / "none.json")
