"""Layout intervals: mAP on resampled pages against pycocotools on physically duplicated pages, the paired mAP
bootstrap, the saved per-page detections, the DLA and DocVQA claim intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_helpers import dla_runs

from distildoc.evaluate.detection import (
    EVAL_PREDICTIONS_FILE,
    PageResampledAP,
    bootstrap_map_difference,
    coco_evaluate,
    read_eval_predictions,
    write_eval_predictions,
)
from distildoc.report.layout_stats import DLA_COLUMNS, DOCVQA_COLUMNS, dla_map_intervals, docvqa_tag_intervals

N_PAGES = 8


def _ground_truth(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(1, N_PAGES + 1):
        images.append({"id": i, "file_name": f"p{i}.png", "width": 600, "height": 800})
        for _ in range(int(rng.integers(2, 6))):
            x, y = rng.uniform(0, 400), rng.uniform(0, 600)
            w, h = rng.uniform(40, 180), rng.uniform(20, 180)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(rng.integers(1, 4)),
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    cats = [{"id": c, "name": n} for c, n in ((1, "Text"), (2, "Table"), (3, "Title"))]
    return {"images": images, "annotations": anns, "categories": cats}


def _predictions(gt: dict, noise: float, miss: float, seed: int) -> list[dict]:
    """Ground-truth boxes moved by up to `noise` of their size, a fraction `miss` dropped, one false positive per
    page, random scores."""
    rng = np.random.default_rng(seed)
    preds = []
    for a in gt["annotations"]:
        if rng.random() < miss:
            continue
        x, y, w, h = a["bbox"]
        dx, dy = rng.uniform(-noise, noise, 2) * (w, h)
        preds.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": [x + dx, y + dy, w, h],
                      "score": float(rng.uniform(0.3, 1.0))})
    for im in gt["images"]:
        preds.append({"image_id": im["id"], "category_id": 1, "bbox": [500.0, 700.0, 50.0, 50.0],
                      "score": float(rng.uniform(0.0, 0.6))})
    return preds


def _duplicated(gt: dict, preds: list[dict], idx: list[int]) -> tuple[dict, list[dict]]:
    """The pages of `idx` (indices into the sorted image ids) as physically separate copies with new ids."""
    ids = sorted(im["id"] for im in gt["images"])
    by_id = {im["id"]: im for im in gt["images"]}
    images, anns, out = [], [], []
    for copy_no, i in enumerate(idx):
        old, new = ids[i], 1000 + copy_no
        images.append({**by_id[old], "id": new})
        for a in gt["annotations"]:
            if a["image_id"] == old:
                anns.append({**a, "id": 10_000 + len(anns), "image_id": new})
        out += [{**p, "image_id": new} for p in preds if p["image_id"] == old]
    return {**gt, "images": images, "annotations": anns}, out


def test_resampled_ap_equals_pycocotools_on_all_and_on_duplicated_pages() -> None:
    gt = _ground_truth()
    preds = _predictions(gt, noise=0.15, miss=0.2, seed=1)
    ap = PageResampledAP(gt, preds)
    assert ap.image_ids == list(range(1, N_PAGES + 1))
    assert ap(np.arange(N_PAGES)) == pytest.approx(coco_evaluate(gt, preds, ("bbox",))["bbox"]["AP"], abs=1e-9)
    for idx in ([0, 0, 2, 3, 3, 3, 7, 5], [4, 4, 4, 4, 1, 1, 6, 6], [2]):
        dup_gt, dup_preds = _duplicated(gt, preds, idx)
        ref = coco_evaluate(dup_gt, dup_preds, ("bbox",))["bbox"]["AP"]
        assert ap(np.array(idx)) == pytest.approx(ref, abs=1e-9), idx


def test_resampled_ap_without_predictions_or_ground_truth() -> None:
    gt = _ground_truth()
    assert PageResampledAP(gt, [])(np.arange(3)) == 0.0  # as coco_evaluate: no detection, AP 0
    empty = {**gt, "annotations": [a for a in gt["annotations"] if a["image_id"] != 1]}
    ap = PageResampledAP(empty, _predictions(gt, 0.1, 0.0, 2))
    assert math.isnan(ap(np.array([0, 0])))  # page 1 holds no ground truth: AP undefined
    with pytest.raises(ValueError, match="not in the ground truth"):
        PageResampledAP(gt, [], image_ids=[99])


def test_bootstrap_map_difference() -> None:
    gt = _ground_truth()
    good = _predictions(gt, noise=0.02, miss=0.0, seed=3)
    bad = _predictions(gt, noise=0.35, miss=0.5, seed=4)
    same = bootstrap_map_difference(gt, good, good, n_resamples=30)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    iv = bootstrap_map_difference(gt, bad, good, n_resamples=60, seed=0)
    ref = coco_evaluate(gt, bad, ("bbox",))["bbox"]["AP"] - coco_evaluate(gt, good, ("bbox",))["bbox"]["AP"]
    assert iv.estimate == pytest.approx(ref) and iv.high < 0 and iv.n_a == N_PAGES and iv.n_resamples == 60
    assert bootstrap_map_difference(gt, bad, good, n_resamples=60, seed=0) == iv  # seeded
    sub = bootstrap_map_difference(gt, bad, good, image_ids=[1, 2, 3], n_resamples=10)
    assert sub.n_a == 3


def test_eval_predictions_round_trip(tmp_path: Path) -> None:
    gt = _ground_truth()
    preds = [{**p, "segmentation": {"size": [800, 600], "counts": "x"}} for p in _predictions(gt, 0.1, 0.1, 5)]
    obj = write_eval_predictions(tmp_path / EVAL_PREDICTIONS_FILE, preds, [3, 1, 2], "val.json")
    back = read_eval_predictions(tmp_path / EVAL_PREDICTIONS_FILE)
    assert back == obj and back["image_ids"] == [1, 2, 3] and back["ground_truth"] == "val.json"
    assert "segmentation" not in back["predictions"][0] and len(back["predictions"]) == len(preds)
    (tmp_path / "other.json").write_text(json.dumps({"format": "distildoc-dla-predictions/v1"}))
    with pytest.raises(ValueError, match=r"other\.json: not a distildoc-dla-eval-predictions/v1 file"):
        read_eval_predictions(tmp_path / "other.json")


def test_dla_map_intervals_from_model_folders(tmp_path: Path) -> None:
    gt = _ground_truth()
    (tmp_path / "val.json").write_text(json.dumps(gt))
    runs = dla_runs()  # supervised 20 mAP, distilled 10 (the CSV's numbers; the intervals come from the files)
    dirs = []
    for r in runs.itertuples():
        d = tmp_path / "models" / f"{r.teacher}__{r.role}__{r.method}"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text("{}")
        dirs.append(d / "metrics.json")
        if r.role == "ViT-T-FPN" and r.method == "reviewkd":
            continue  # not saved: no interval, and the note says which file is missing
        noise, miss = (0.02, 0.0) if r.method == "supervised" else (0.35, 0.5)
        write_eval_predictions(d / EVAL_PREDICTIONS_FILE, _predictions(gt, noise, miss, hash(d.name) % 1000),
                               [im["id"] for im in gt["images"]])
    out = dla_map_intervals(runs, dirs, tmp_path / "val.json", n_resamples=40)
    assert list(out.columns) == DLA_COLUMNS and len(out) == 4
    by = out.set_index("model")
    r50 = by.loc["R101-FPN__R50-FPN__simkd_fpn"]
    assert r50["baseline"] == "none__R50-FPN__supervised" and r50["delta"] == -10.0  # the table's mAP
    assert r50["high"] < 0 and r50["verdict"] == "agrees" and r50["n_pages"] == N_PAGES and r50["n_resamples"] == 40
    missing = by.loc["ViT-B-FPN__ViT-T-FPN__reviewkd"]
    assert math.isnan(missing["low"]) and missing["verdict"] == "n/a"
    assert "no per-page detections saved" in missing["note"] and EVAL_PREDICTIONS_FILE in missing["note"]


def _cell(root: Path, prompt: str, model: str, anls: list[float | None]) -> Path:
    f = root / model / prompt / "predictions.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text("".join(json.dumps({"question_id": f"q{i}", "dataset": "synthetic", "prompt": prompt,
                                     "dla_model": model, "anls": a}) + "\n" for i, a in enumerate(anls)))
    return f


def test_docvqa_tag_intervals(tmp_path: Path) -> None:
    m = "none__ViT-B-FPN__supervised"
    base = [0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.25]
    files = [_cell(tmp_path, "task", "none", base), _cell(tmp_path, "task", m, base),  # identical answers
             _cell(tmp_path, "task_space", "none", [0.0] * 8),
             _cell(tmp_path, "task_space", m, [1.0] * 7 + [None]),  # every scored answer better; one skipped
             _cell(tmp_path, "plain", "none", base)]
    out = docvqa_tag_intervals(files, m, n_resamples=200)
    assert list(out.columns) == DOCVQA_COLUMNS and out["prompt"].tolist() == ["task", "task_space"]
    task, space = out.iloc[0], out.iloc[1]
    assert (task["delta"], task["low"], task["high"], task["verdict"]) == (0.0, 0.0, 0.0, "agrees")
    assert task["anls_without"] == pytest.approx(100 * np.mean(base)) and task["n_questions"] == 8
    assert space["delta"] == 100.0 and space["n_questions"] == 7 and space["verdict"] == "disagrees"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "q0"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 1"):
        docvqa_tag_intervals([bad], m)
    assert docvqa_tag_intervals(files[:1], m).empty  # no cell with tags: no row
    assert isinstance(out, pd.DataFrame)
