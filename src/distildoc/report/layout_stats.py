"""Intervals for the layout claims: distilled vs supervised detectors (Table 3, bbox mAP) and the effect of the
layout tags on zero-shot DocVQA (Table 4, ANLS).

* :func:`dla_map_intervals` — per distilled layout student, the paired bootstrap interval over the validation
  pages of mAP(student) − mAP(supervised model of the same architecture), from the per-page detections each
  model was evaluated with (``eval_predictions.json`` beside its ``metrics.json``,
  :func:`distildoc.evaluate.detection.write_eval_predictions`) and the validation ground truth. COCO mAP is
  recomputed per resample (:class:`distildoc.evaluate.detection.PageResampledAP`: one ``evaluate``, one
  ``accumulate`` per resample), 200 resamples by default. Verdict for "the student is below": expected sign −1.
  Without the per-page files the interval is NaN and the note names the missing file.
* :func:`docvqa_tag_intervals` — per dataset and prompt (task, task+space), the paired bootstrap over questions of
  ANLS(with the tags of `dla_model`) − ANLS(without), × 100, from the cells' ``predictions.jsonl`` (questions
  skipped in either cell are left out, as in the means); verdict for "|Δ| ≤ tolerance" with
  :func:`distildoc.evaluate.stats.tolerance_verdict`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate.detection import EVAL_PREDICTIONS_FILE, bootstrap_map_difference, read_eval_predictions
from ..evaluate.stats import Interval, interval_verdict, paired_bootstrap_mean, tolerance_verdict

log = logging.getLogger(__name__)

DLA_COLUMNS = ["role", "teacher", "method", "model", "baseline", "mAP", "mAP_supervised", "delta", "low", "high",
               "n_pages", "n_resamples", "note", "verdict"]
DOCVQA_COLUMNS = ["dataset", "prompt", "dla_model", "anls_without", "anls_with", "delta", "low", "high",
                  "n_questions", "n_resamples", "tolerance", "note", "verdict"]


def _nan_interval(note: str, confidence: float) -> Interval:
    return Interval(math.nan, math.nan, math.nan, confidence, "paired_bootstrap", 0, 0, note=note)


def dla_map_intervals(dla_runs: pd.DataFrame, model_dirs: Sequence[str | Path], ground_truth: str | Path,
                      n_resamples: int = 200, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """One row per distilled model of ``dla_runs.csv`` (columns teacher, role, method, mAP): columns
    :data:`DLA_COLUMNS`. `model_dirs`: the model folders (``<teacher>__<role>__<method>``), or their
    ``metrics.json`` files; `ground_truth`: the COCO file the models were evaluated on."""
    missing = [c for c in ("teacher", "role", "method", "mAP") if c not in dla_runs.columns]
    if missing:
        raise ValueError(f"dla_runs.csv: missing column(s) {missing} (has {list(dla_runs.columns)})")
    dirs = model_dirs_by_name(model_dirs)
    maps = {f"{r.teacher}__{r.role}__{r.method}": float(r.mAP) for r in dla_runs.itertuples()}
    rows = []
    for r in dla_runs[dla_runs["method"] != "supervised"].itertuples():
        model, baseline = f"{r.teacher}__{r.role}__{r.method}", f"none__{r.role}__supervised"
        iv = _map_interval(dirs.get(model), dirs.get(baseline), ground_truth, n_resamples, seed, confidence)
        if baseline not in maps:
            iv = _nan_interval(f"no supervised {r.role} model", confidence)
        rows.append({"role": r.role, "teacher": r.teacher, "method": r.method, "model": model, "baseline": baseline,
                     "mAP": maps[model], "mAP_supervised": maps.get(baseline, math.nan),
                     "delta": maps[model] - maps.get(baseline, math.nan), "low": iv.low, "high": iv.high,
                     "n_pages": iv.n_a, "n_resamples": iv.n_resamples, "note": iv.note,
                     "verdict": interval_verdict(iv, -1)})
    return pd.DataFrame(rows, columns=DLA_COLUMNS)


def _map_interval(student: Path | None, supervised: Path | None, ground_truth: str | Path, n_resamples: int,
                  seed: int, confidence: float) -> Interval:
    files = [None if d is None else d / EVAL_PREDICTIONS_FILE for d in (student, supervised)]
    absent = [str(f) for f in files if f is None or not f.exists()]
    if absent or files[0] is None or files[1] is None:
        return _nan_interval("no per-page detections saved: " + ", ".join(absent or ["model folder not given"]),
                             confidence)
    a, b = read_eval_predictions(files[0]), read_eval_predictions(files[1])
    pages = sorted(set(a["image_ids"]) & set(b["image_ids"]))
    if not pages:
        return _nan_interval(f"{files[0]} and {files[1]} share no evaluated page", confidence)
    iv = bootstrap_map_difference(ground_truth, a["predictions"], b["predictions"], pages, n_resamples=n_resamples,
                                  seed=seed, confidence=confidence)
    log.info("mAP %s - %s: %+.2f [%+.2f, %+.2f] on %d pages", student.name, supervised.name, iv.estimate, iv.low,
             iv.high, len(pages))
    return iv


def _read_cell(path: str | Path) -> tuple[tuple[str, str, str], dict[str, float]]:
    """((dataset, dla_model, prompt), {question_id: ANLS × 100}) of one cell's ``predictions.jsonl`` (skipped
    questions, ANLS null, left out)."""
    key, scores = None, {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = key or (str(rec["dataset"]), str(rec["dla_model"]), str(rec["prompt"]))
                if rec["anls"] is not None:
                    scores[str(rec["question_id"])] = 100.0 * float(rec["anls"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{path}, line {n}: not a DocVQA prediction record ({err})") from None
    if key is None:
        raise ValueError(f"{path}: no prediction records")
    return key, scores


def docvqa_tag_intervals(prediction_files: Sequence[str | Path], dla_model: str,
                         prompts: Sequence[str] = ("task", "task_space"), tolerance: float = 2.0,
                         n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (dataset, prompt in `prompts`) that has both the no-DLA cell and the `dla_model` cell among
    `prediction_files`: columns :data:`DOCVQA_COLUMNS` (ANLS × 100)."""
    cells = dict(_read_cell(p) for p in prediction_files)
    rows = []
    for dataset in dict.fromkeys(k[0] for k in cells):
        for prompt in prompts:
            without, with_tags = cells.get((dataset, "none", prompt)), cells.get((dataset, dla_model, prompt))
            if without is None or with_tags is None:
                continue
            common = sorted(set(without) & set(with_tags))
            if common:
                a = np.array([with_tags[q] for q in common])
                b = np.array([without[q] for q in common])
                iv = paired_bootstrap_mean(a, b, n_resamples=n_resamples, seed=seed, confidence=confidence)
                mean_a, mean_b = float(a.mean()), float(b.mean())
            else:
                iv, mean_a, mean_b = _nan_interval("no question scored in both cells", confidence), math.nan, math.nan
            rows.append({"dataset": dataset, "prompt": prompt, "dla_model": dla_model, "anls_without": mean_b,
                         "anls_with": mean_a, "delta": iv.estimate, "low": iv.low, "high": iv.high,
                         "n_questions": len(common), "n_resamples": iv.n_resamples, "tolerance": tolerance,
                         "note": iv.note, "verdict": tolerance_verdict(iv, tolerance)})
    return pd.DataFrame(rows, columns=DOCVQA_COLUMNS)


def model_dirs_by_name(paths: Sequence[str | Path]) -> Mapping[str, Path]:
    """``{model folder name: folder}`` of model folders or their ``metrics.json`` files."""
    out = {}
    for p in map(Path, paths):
        d = p.parent if p.suffix == ".json" else p
        out[d.name] = d
    return out
