"""COCO loading and torchvision detection targets on the 20 real PubLayNet pages."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from distildoc.data.coco import CocoDetectionDataset, coco_to_targets, filter_doclaynet_precedence, load_coco


@pytest.fixture(scope="module")
def publaynet(realdata: Path) -> Path:
    return realdata / "publaynet"


@pytest.fixture(scope="module")
def coco(publaynet: Path) -> dict:
    return load_coco(publaynet / "samples.json")


def test_load_real_coco_counts(coco: dict, publaynet: Path) -> None:
    assert len(coco["images"]) == 20
    assert len(coco["annotations"]) == 193
    assert [(c["id"], c["name"]) for c in coco["categories"]] == [
        (1, "text"), (2, "title"), (3, "list"), (4, "table"), (5, "figure")]
    # every listed image is one of the 20 JPEGs in the folder, and every JPEG is listed
    assert {im["file_name"] for im in coco["images"]} == {p.name for p in publaynet.glob("*.jpg")}


def test_first_annotation_by_hand(coco: dict) -> None:
    # annotations[0] of samples.json: text block, bbox [37.59, 360.34, 251.07, 41.36] on image 346767
    ann = coco["annotations"][0]
    assert ann["id"] == 3377124 and ann["category_id"] == 1
    t = coco_to_targets(coco, 346767)
    k = [a["id"] for a in coco["annotations"] if a["image_id"] == 346767].index(3377124)
    torch.testing.assert_close(t["boxes"][k], torch.tensor([37.59, 360.34, 288.66, 401.70]), atol=1e-3, rtol=0)
    assert t["labels"][k] == 1
    # the polygon is a near-rectangle of 251 x 41 px, its mask close to the annotated area (10218.5)
    assert abs(float(t["masks"][k].sum()) - 10218.47) / 10218.47 < 0.05


def test_every_page_reads_with_sane_targets(coco: dict, publaynet: Path) -> None:
    ds = CocoDetectionDataset(publaynet, publaynet / "samples.json")
    assert len(ds) == 20
    labels_seen: Counter = Counter()
    n_targets = 0
    for i in range(len(ds)):
        image, target = ds[i]
        info = ds.images[i]
        h, w = info["height"], info["width"]
        assert image.dtype == torch.float32 and image.shape == (3, h, w)
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.mean()) > 0.5
        boxes, masks = target["boxes"], target["masks"]
        n = len(boxes)
        assert target["labels"].dtype == torch.int64 and masks.dtype == torch.uint8
        assert masks.shape == (n, h, w) and target["labels"].shape == (n,)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        anns = [a for a in coco["annotations"] if a["image_id"] == info["id"]]
        assert n == len(anns)
        for k, ann in enumerate(anns):
            # mask pixels vs the annotated polygon area: within 10 %
            assert abs(float(masks[k].sum()) - ann["area"]) <= 0.1 * ann["area"], (info["file_name"], ann["id"])
            # the mask lies inside its box (1 px slack for rasterisation)
            x1, y1, x2, y2 = boxes[k].tolist()
            ys, xs = np.nonzero(masks[k].numpy())
            assert x1 - 1 <= xs.min() and xs.max() <= x2 + 1 and y1 - 1 <= ys.min() and ys.max() <= y2 + 1
        labels_seen.update(target["labels"].tolist())
        n_targets += n
        assert target["image_id"] == info["id"]
    assert n_targets == 193
    assert labels_seen == Counter(a["category_id"] for a in coco["annotations"])


def test_resized_targets_follow_the_image(coco: dict, publaynet: Path) -> None:
    full = CocoDetectionDataset(publaynet, coco)
    small = CocoDetectionDataset(publaynet, coco, size=256)
    for i in (0, 7):
        _, t_full = full[i]
        image, t_small = small[i]
        w, h = full.images[i]["width"], full.images[i]["height"]
        assert image.shape == (3, 256, 256) and t_small["masks"].shape[1:] == (256, 256)
        scale = torch.tensor([256 / w, 256 / h, 256 / w, 256 / h])
        torch.testing.assert_close(t_small["boxes"], t_full["boxes"] * scale, atol=1e-3, rtol=1e-5)
        ratio = t_small["area"] / (t_full["area"] * scale[0] * scale[1])
        assert ((ratio > 0.8) & (ratio < 1.25)).all()
    rect = CocoDetectionDataset(publaynet, coco, size=(300, 400))
    image, t = rect[0]
    assert image.shape == (3, 400, 300) and t["masks"].shape[1:] == (400, 300)


def _write(tmp_path: Path, obj: dict) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    return path


def _tiny() -> dict:
    return {"images": [{"id": 1, "file_name": "p.png", "width": 10, "height": 10}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}],
            "categories": [{"id": 1, "name": "Text"}]}


def test_validation_errors_name_file_and_key(tmp_path: Path) -> None:
    obj = _tiny()
    del obj["annotations"]
    with pytest.raises(ValueError, match=r"bad\.json: missing top-level key 'annotations'"):
        load_coco(_write(tmp_path, obj))
    obj = _tiny()
    del obj["annotations"][0]["bbox"]
    with pytest.raises(ValueError, match=r"bad\.json: annotations\[0\] \(id=5\) is missing key\(s\) 'bbox'"):
        load_coco(_write(tmp_path, obj))
    obj = _tiny()
    obj["annotations"][0]["image_id"] = 9
    with pytest.raises(ValueError, match=r"annotations\[0\] \(id=5\) key 'image_id' = 9"):
        load_coco(_write(tmp_path, obj))
    obj = _tiny()
    obj["annotations"][0]["category_id"] = 3
    with pytest.raises(ValueError, match="key 'category_id' = 3"):
        load_coco(_write(tmp_path, obj))
    obj = _tiny()
    obj["images"].append(dict(obj["images"][0]))
    with pytest.raises(ValueError, match=r"images\[1\] repeats id 1"):
        load_coco(_write(tmp_path, obj))
    obj = _tiny()
    del obj["images"][0]["width"]
    with pytest.raises(ValueError, match=r"images\[0\] \(id=1\) is missing key\(s\) 'width'"):
        load_coco(_write(tmp_path, obj))


def test_box_fallback_mask_and_degenerate_boxes() -> None:
    coco = _tiny()
    coco["annotations"].append({"id": 6, "image_id": 1, "category_id": 1, "bbox": [4, 4, 0, 3]})
    t = coco_to_targets(coco, 1)
    assert t["boxes"].tolist() == [[1.0, 2.0, 4.0, 6.0]]  # the zero-width box is dropped
    expected = np.zeros((10, 10), np.uint8)
    expected[2:6, 1:4] = 1  # no segmentation: the filled box, 3 x 4 = 12 px
    np.testing.assert_array_equal(t["masks"][0].numpy(), expected)
    assert t["area"].tolist() == [12.0]
    # an uncompressed RLE (iscrowd) segmentation, column-major: 3 off, 4 on, rest off
    coco["annotations"] = [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 3, 1, 4], "iscrowd": 1,
                            "segmentation": {"size": [10, 10], "counts": [3, 4, 93]}}]
    t = coco_to_targets(coco, 1)
    assert t["masks"][0][:, 0].tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0] and int(t["masks"].sum()) == 4
    assert t["iscrowd"].tolist() == [1]
    with pytest.raises(KeyError, match="image id 42"):
        coco_to_targets(coco, 42)


def test_filter_doclaynet_precedence() -> None:
    coco = _tiny()
    base = coco["annotations"][0]
    coco["annotations"] = [{**base, "id": 1, "precedence": 0}, {**base, "id": 2, "precedence": 1},
                           {**base, "id": 3}, {**base, "id": 4, "precedence": 2}]
    kept = filter_doclaynet_precedence(coco)
    assert [a["id"] for a in kept["annotations"]] == [1, 3]
    assert len(coco["annotations"]) == 4  # input untouched


def test_missing_image_file_is_named(tmp_path: Path) -> None:
    ds = CocoDetectionDataset(tmp_path, _tiny())
    with pytest.raises(FileNotFoundError, match=r"'p\.png' \(id 1\)"):
        ds[0]
