"""Layout models scored on real PubLayNet pages (`distildoc.evaluate.publaynet`, rule dla_eval_publaynet): the
DocLayNet -> PubLayNet mapping and list merging on a hand-worked page, pycocotools' mAP on the real fixture
(its own ground truth as DocLayNet detections: 100; nothing: 0), and the mAP_publaynet column."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from detection_helpers import tiny_spec
from distildoc.data.labels import DOCLAYNET_CATEGORIES
from distildoc.evaluate.publaynet import (DOCLAYNET_TO_PUBLAYNET, PUBLAYNET_CATEGORIES, ListMerge, evaluate_publaynet,
                                          load_publaynet_gt, map_page, merge_list_items, publaynet_results)
from distildoc.models.detection import build_detector
from distildoc.report.dla import PUBLAYNET_COLUMN, load_dla_runs, table3
from distildoc.train.dla import predict_folder
from distildoc.utils.io import read_json, write_json

torch.set_num_threads(1)
FORMAT = "distildoc-dla-predictions/v1"


@pytest.fixture(scope="module")
def publaynet(realdata: Path) -> Path:
    return realdata / "publaynet"


# ------------------------------------------------------------------------------------------------ a hand-made page
# 600 x 800 page, DocLayNet detections (xyxy, score); the expected PubLayNet boxes are worked out by hand below
PAGE = [
    ("Page-header", [50, 5, 550, 20], 0.9),
    ("Title", [50, 40, 550, 80], 0.9),
    ("Section-header", [50, 100, 300, 120], 0.8),
    ("Text", [50, 130, 550, 200], 0.95),
    # a: b overlaps a by 440 >= 0.5 * 440 (narrower width), gap 235 - 230 = 5 <= 20 (smaller height): linked
    ("List-item", [60, 210, 550, 230], 0.9),
    ("List-item", [60, 235, 500, 255], 0.7),
    # c, an indented sub-item: overlap with b 500 - 80 = 420 >= 220, gap 258 - 255 = 3 <= 20: linked
    ("List-item", [80, 258, 550, 290], 0.8),
    # a weak item (0.3 < min_score 0.5) 10 px below c: not merged, a one-item list
    ("List-item", [60, 300, 550, 320], 0.3),
    ("Formula", [100, 330, 500, 360], 0.7),
    # d: gap to c 400 - 290 = 110 > 20: a list of its own
    ("List-item", [60, 400, 550, 420], 0.9),
    ("Picture", [50, 450, 300, 700], 0.85),
    # e, f in the right column: gap to d 450 - 420 = 30 > 20 (apart), e-f gap 2 (linked)
    ("List-item", [320, 450, 550, 470], 0.95),
    ("List-item", [320, 472, 550, 492], 0.95),
    ("Table", [320, 600, 550, 700], 0.88),
    ("Caption", [50, 705, 300, 720], 0.6),
    # g, h side by side (no horizontal overlap): two lists
    ("List-item", [50, 730, 290, 745], 0.9),
    ("List-item", [310, 730, 550, 745], 0.9),
    ("Footnote", [50, 750, 550, 765], 0.5),
    ("Page-footer", [280, 770, 320, 785], 0.9),
]
EXPECTED = [  # (category, xyxy, score): the non-list boxes in page order, then the lists by descending score
    ("title", [50, 40, 550, 80], 0.9),
    ("title", [50, 100, 300, 120], 0.8),
    ("text", [50, 130, 550, 200], 0.95),
    ("figure", [50, 450, 300, 700], 0.85),
    ("table", [320, 600, 550, 700], 0.88),
    ("text", [50, 705, 300, 720], 0.6),
    ("text", [50, 750, 550, 765], 0.5),
    ("list", [320, 450, 550, 492], 0.95),         # e + f
    ("list", [60, 400, 550, 420], 0.9),           # d
    ("list", [50, 730, 290, 745], 0.9),           # g
    ("list", [310, 730, 550, 745], 0.9),          # h
    ("list", [60, 210, 550, 290], (0.9 + 0.7 + 0.8) / 3),  # a + b + c, the mean score
    ("list", [60, 300, 550, 320], 0.3),           # the weak item
]
CAT_ID = {n: i + 1 for i, n in enumerate(PUBLAYNET_CATEGORIES)}


def _page_predictions(page=PAGE, name: str = "page.png") -> dict:
    labels, boxes, scores = zip(*page) if page else ((), (), ())
    return {"format": FORMAT, "box_format": "xyxy", "score_thresh": 0.0,
            "images": [{"file_name": name, "image_size": [600, 800], "boxes": [list(b) for b in boxes],
                        "labels": list(labels), "scores": list(scores)}]}


def _page_gt(boxes: list[tuple[str, list[float]]]) -> dict:
    anns = [{"id": i + 1, "image_id": 7, "category_id": CAT_ID[c], "bbox": [x1, y1, x2 - x1, y2 - y1],
             "area": (x2 - x1) * (y2 - y1), "iscrowd": 0} for i, (c, (x1, y1, x2, y2)) in enumerate(boxes)]
    return {"images": [{"id": 7, "file_name": "page.png", "width": 600, "height": 800}], "annotations": anns,
            "categories": [{"id": i, "name": n} for n, i in CAT_ID.items()]}


def test_the_mapping_table_covers_doclaynet_and_hits_every_publaynet_class() -> None:
    assert set(DOCLAYNET_TO_PUBLAYNET) == set(DOCLAYNET_CATEGORIES)
    assert set(DOCLAYNET_TO_PUBLAYNET.values()) - {None} == set(PUBLAYNET_CATEGORIES)
    assert [k for k, v in DOCLAYNET_TO_PUBLAYNET.items() if v is None] == ["Formula", "Page-footer", "Page-header"]


def test_hand_made_page_maps_and_merges_to_the_hand_worked_boxes() -> None:
    labels, boxes, scores = zip(*PAGE)
    dets, counts = map_page(boxes, labels, scores)
    got = [(d["category"], d["bbox"], d["score"]) for d in dets]
    assert got == [(c, [float(v) for v in b], pytest.approx(s)) for c, b, s in EXPECTED]
    assert counts == {"dropped": {"Page-header": 1, "Formula": 1, "Page-footer": 1}, "list_items": 9, "lists": 6}
    # as COCO results: xywh, PubLayNet ids, the page's image id
    results, summary = publaynet_results(_page_predictions(), _page_gt([]))
    abc = [r for r in results if r["category_id"] == 3 and r["bbox"][1] == 210]
    assert abc == [{"image_id": 7, "category_id": 3, "bbox": [60.0, 210.0, 490.0, 80.0], "score": pytest.approx(0.8)}]
    assert (summary["n_detections_doclaynet"], summary["n_detections"], summary["lists"]) == (19, 13, 6)
    # pycocotools agrees: the hand-worked boxes as ground truth give mAP 100
    gt = _page_gt([(c, b) for c, b, _ in EXPECTED])
    res = evaluate_publaynet(_page_predictions(), gt)
    assert res["mAP"] == pytest.approx(100.0) and res["per_class"] == {c: pytest.approx(100.0) for c in CAT_ID}


def test_list_merge_options() -> None:
    boxes = [[0, 0, 100, 10], [0, 12, 100, 22], [0, 40, 100, 50]]
    # gaps 2 and 18 (item height 10): one list with max_gap 2, two with the default 1.0
    assert [k for _, _, k in merge_list_items(boxes, [0.9, 0.6, 0.9])] == [1, 2]
    merged = merge_list_items(boxes, [0.9, 0.6, 0.9], ListMerge(max_gap=2.0))
    assert merged == [([0, 0, 100, 50], pytest.approx(0.8), 3)]
    assert merge_list_items(boxes[:2], [0.9, 0.6], ListMerge(score="max")) == [([0, 0, 100, 22], 0.9, 2)]
    # min_x_overlap: 40 of a 100-wide and a 60-wide item is 0.67 of the narrower
    shifted = [[0, 0, 100, 10], [60, 12, 120, 22]]
    assert len(merge_list_items(shifted, [1, 1])) == 1
    assert len(merge_list_items(shifted, [1, 1], ListMerge(min_x_overlap=0.7))) == 2
    # a weak item between two lists does not bridge them (min_score), unless min_score allows it
    chain = [[0, 0, 100, 10], [0, 12, 100, 22], [0, 24, 100, 34]]
    assert len(merge_list_items(chain, [0.9, 0.2, 0.9])) == 3
    assert len(merge_list_items(chain, [0.9, 0.2, 0.9], ListMerge(min_score=0.0))) == 1
    assert merge_list_items([], []) == []
    with pytest.raises(ValueError, match="score must be 'mean' or 'max'"):
        ListMerge(score="median")


def test_errors_name_the_page_the_label_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"page.png: label\(s\) \['TextRegion'\] have no PubLayNet mapping"):
        publaynet_results(_page_predictions([("TextRegion", [0, 0, 1, 1], 0.9)]), _page_gt([]))
    with pytest.raises(ValueError, match="format 'other'"):
        publaynet_results({**_page_predictions(), "format": "other"}, _page_gt([]))
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/samples.json"):
        load_publaynet_gt(tmp_path)
    write_json(tmp_path / "x.json", {"images": []})
    with pytest.raises(ValueError, match=r"x.json: not a COCO file \(no 'annotations'\)"):
        load_publaynet_gt(tmp_path / "x.json")
    gt = _page_gt([])
    gt["categories"] = gt["categories"][:4]
    with pytest.raises(ValueError, match=r"categories \['figure'\] missing"):
        publaynet_results(_page_predictions(), gt)


# ------------------------------------------------------------------------------------------------ the real fixture
INVERSE = {"text": "Text", "title": "Title", "list": "List-item", "table": "Table", "figure": "Picture"}


def _gt_as_doclaynet(gt: dict) -> dict:
    """The fixture's own ground truth as DocLayNet detections (score 1; a whole list as one List-item)."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    images = []
    for im in gt["images"]:
        anns = [a for a in gt["annotations"] if a["image_id"] == im["id"]]
        images.append({"file_name": im["file_name"], "image_size": [im["width"], im["height"]],
                       "boxes": [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)],
                       "labels": [INVERSE[names[a["category_id"]]] for a in anns], "scores": [1.0] * len(anns)})
    return {"format": FORMAT, "box_format": "xyxy", "score_thresh": 0.0, "images": images}


def test_the_fixtures_own_boxes_give_map_100(publaynet: Path) -> None:
    gt, _ = load_publaynet_gt(publaynet)
    res = evaluate_publaynet(_gt_as_doclaynet(gt), publaynet)
    assert evaluate_publaynet(_gt_as_doclaynet(gt), publaynet / "samples.json") == res  # the folder or its file
    assert res["mAP"] == pytest.approx(100.0) and res["AP50"] == pytest.approx(100.0)
    assert res["per_class"] == {c: pytest.approx(100.0) for c in PUBLAYNET_CATEGORIES}
    assert (res["n_pages"], res["n_gt_boxes"], res["n_detections"], res["lists"]) == (20, 193, 193, 7)
    assert res["pages_without_predictions"] == [] and res["format"] == "distildoc-dla-publaynet-eval/v1"


def test_no_detection_gives_map_0(publaynet: Path) -> None:
    gt, _ = load_publaynet_gt(publaynet)
    empty = _gt_as_doclaynet(gt)
    for rec in empty["images"]:
        rec["boxes"], rec["labels"], rec["scores"] = [], [], []
    res = evaluate_publaynet(empty, gt)
    assert res["mAP"] == 0.0 and res["per_class"] == {c: 0.0 for c in PUBLAYNET_CATEGORIES}
    # no page at all: every ground-truth page named as missed, still 0
    none = evaluate_publaynet({"format": FORMAT, "box_format": "xyxy", "images": []}, gt)
    assert none["mAP"] == 0.0 and len(none["pages_without_predictions"]) == 20


def test_only_dropped_classes_give_map_0_and_a_half_right_page_less_than_100(publaynet: Path) -> None:
    gt, _ = load_publaynet_gt(publaynet)
    preds = _gt_as_doclaynet(gt)
    dropped = copy.deepcopy(preds)
    for rec in dropped["images"]:
        rec["labels"] = ["Page-header"] * len(rec["labels"])
    assert evaluate_publaynet(dropped, gt)["mAP"] == 0.0
    half = copy.deepcopy(preds)
    for rec in half["images"][::2]:
        rec["boxes"], rec["labels"], rec["scores"] = [], [], []
    assert 0.0 < evaluate_publaynet(half, gt)["mAP"] < 100.0


def test_a_trained_model_folder_end_to_end_as_the_rule_runs_it(publaynet: Path, tmp_path: Path) -> None:
    """What workflow/scripts/dla_eval_publaynet.py does: predict_folder (pages at their own size; the ViT's
    square input is mapped back to page pixels), then the evaluation."""
    spec = tiny_spec("ViT-T-FPN", num_classes=len(DOCLAYNET_CATEGORIES) + 1, score_thresh=0.0)
    torch.manual_seed(0)
    model = build_detector(spec)
    model_dir = tmp_path / "none__ViT-T-FPN__supervised"
    model_dir.mkdir()
    torch.save(model.state_dict(), model_dir / "model.pt")
    write_json(model_dir / "spec.json", spec.to_dict())
    write_json(model_dir / "metrics.json", {"categories": [{"id": i + 1, "name": n}
                                                           for i, n in enumerate(DOCLAYNET_CATEGORIES)]})
    preds = predict_folder(model_dir, publaynet, tmp_path / "preds.json", score_thresh=0.0)
    gt, _ = load_publaynet_gt(publaynet)
    sizes = {im["file_name"]: [im["width"], im["height"]] for im in gt["images"]}
    for rec in preds["images"]:
        w, h = rec["image_size"]
        assert rec["image_size"] == sizes[rec["file_name"]]
        assert all(-1e-3 <= x1 <= x2 <= w + 1e-3 and -1e-3 <= y1 <= y2 <= h + 1e-3 for x1, y1, x2, y2 in rec["boxes"])
    res = evaluate_publaynet(read_json(tmp_path / "preds.json"), publaynet)
    assert 0.0 <= res["mAP"] <= 100.0 and res["n_pages"] == 20 and res["pages_without_predictions"] == []
    assert res["n_detections_doclaynet"] > 0 and set(res["per_class"]) == set(PUBLAYNET_CATEGORIES)


# ------------------------------------------------------------------------------------------------ report column
def _metrics(root: Path, folder: str, map_: float) -> Path:
    teacher, role, method = folder.split("__")
    d = root / folder
    d.mkdir(parents=True)
    m = {"role": role, "method": method, "mAP": map_, "bbox": {"AP50": 2 * map_, "AP75": map_ / 2},
         "segm": {"AP": map_ - 1}, "params_M": 9.9, "gflops": 1.0, "images_per_second": 3.0,
         "train": {"wall_time_s": 12.0, "iterations": 40}}
    (d / "metrics.json").write_text(json.dumps(m))
    return d / "metrics.json"


def test_map_publaynet_column_in_runs_and_table3(tmp_path: Path) -> None:
    teacher, student = "none__ViT-B-FPN__supervised", "ViT-B-FPN__ViT-T-FPN__simkd_fpn"
    paths = [_metrics(tmp_path, teacher, 30.0), _metrics(tmp_path, student, 20.0)]
    real = tmp_path / "real"
    real.mkdir()
    write_json(real / f"{teacher}.json", {"mAP": 12.5})
    write_json(real / f"{student}.json", {"mAP": 0.0})
    df = load_dla_runs(paths, publaynet=[real / f"{teacher}.json", real / f"{student}.json"])
    assert df["mAP_publaynet"].tolist() == [12.5, 0.0]
    t = table3(df)
    assert list(t.columns)[-1] == PUBLAYNET_COLUMN and list(t.columns)[:4] == ["Teacher", "Student", "Method", "mAP"]
    assert t.loc[t.Teacher == "ViT-B", PUBLAYNET_COLUMN].iloc[0] == 12.5
    assert t[PUBLAYNET_COLUMN].isna().sum() == 6  # rows without a run stay empty
    # a model without an evaluation is NaN; without evaluations at all the column is absent
    assert math.isnan(load_dla_runs(paths, publaynet=[real / f"{student}.json"])["mAP_publaynet"].iloc[0])
    assert "mAP_publaynet" not in load_dla_runs(paths).columns and PUBLAYNET_COLUMN not in table3(load_dla_runs(paths))
    write_json(real / "none__R50-FPN__supervised.json", {"mAP": 1.0})
    with pytest.raises(ValueError, match="none__R50-FPN__supervised"):
        load_dla_runs(paths, publaynet=[real / "none__R50-FPN__supervised.json"])
    write_json(real / "bad.json", {"AP": 1.0})
    with pytest.raises(ValueError, match="bad.json: missing key 'mAP'"):
        load_dla_runs(paths, publaynet=[real / "bad.json"])
