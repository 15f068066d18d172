"""Tables 4, 16 and 17 (zero-shot layout-aware DocVQA) and the per-cell runs table ``docvqa_runs.csv``.

Inputs are the cell ``metrics.json`` files of :mod:`distildoc.docvqa.run` (one per dataset x prompt type x
DLA model). ``docvqa_runs.csv`` has one row per cell with the columns

``dataset, prompt, dla_model, dla_label, n_questions, n_truncated, n_failed, anls, questions_per_s``,

then ``anls_<type slug>`` per question type (:func:`distildoc.docvqa.run.type_slug`, e.g.
``anls_table/list``; known DocVQA types first in the paper's order, others alphabetically), then extra
columns (``n_scored, n_skipped, n_reused, prompt_tokens_per_s, mean_prompt_tokens, dataset_label``).
Scores in the CSV are fractions in [0, 1] at full precision; a type a cell has no question of is NaN.
The rendered tables show ANLS x 100 with 2 decimals, like the paper.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..docvqa.run import DLA_NONE
from ..utils.io import read_json
from .tables import best_mask, write_table

log = logging.getLogger(__name__)

RUNS_COLUMNS: tuple[str, ...] = ("dataset", "prompt", "dla_model", "dla_label", "n_questions", "n_truncated",
                                 "n_failed", "anls", "questions_per_s")
EXTRA_COLUMNS: tuple[str, ...] = ("n_scored", "n_skipped", "n_reused", "prompt_tokens_per_s", "mean_prompt_tokens",
                                  "dataset_label")
#: DocVQA's question types (slugs) in the paper's column order; others follow alphabetically
TYPE_ORDER: tuple[str, ...] = ("figure/diagram", "form", "table/list", "layout", "free_text", "image/photo",
                               "handwritten", "yes/no", "others")
TYPE_TITLES: dict[str, str] = {"figure/diagram": "Figure/Diagram", "form": "Form", "table/list": "Table/List",
                               "layout": "Layout", "free_text": "Free text", "image/photo": "Image/Photo",
                               "handwritten": "Handwritten", "yes/no": "Yes/No", "others": "Others"}
#: the paper's four prompt types, then the ones beyond the paper (distildoc.docvqa.prompts.ALL_PROMPT_TYPES)
PROMPT_ORDER: tuple[str, ...] = ("plain", "space", "task", "task_space", "table", "task_table", "focus", "task_focus")
PROMPT_TITLES: dict[str, str] = {"plain": "Plain", "space": "Space", "task": "Task", "task_space": "Task+Space",
                                 "table": "Table", "task_table": "Task+Table", "focus": "Focus",
                                 "task_focus": "Task+Focus"}
#: Table 3's row order of the layout models (supervised teachers, students, distilled students)
DLA_ORDER: tuple[str, ...] = (DLA_NONE, "none__ViT-B-FPN__supervised", "none__R101-FPN__supervised",
                              "none__ViT-T-FPN__supervised", "none__R50-FPN__supervised",
                              "R101-FPN__R50-FPN__simkd_fpn", "R101-FPN__R50-FPN__reviewkd",
                              "ViT-B-FPN__ViT-T-FPN__simkd_fpn", "ViT-B-FPN__ViT-T-FPN__reviewkd",
                              "R101-FPN__R50-FPN__pkd", "ViT-B-FPN__ViT-T-FPN__pkd")


def type_columns(slugs: Sequence[str]) -> list[str]:
    """``anls_<slug>`` columns in the paper's order."""
    known = [s for s in TYPE_ORDER if s in slugs]
    rest = sorted(s for s in slugs if s not in TYPE_ORDER)
    return [f"anls_{s}" for s in known + rest]


def type_title(column: str) -> str:
    slug = column.removeprefix("anls_")
    return TYPE_TITLES.get(slug, slug.replace("_", " ").capitalize())


def runs_frame(cells: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per cell metrics dict (see the module docstring for the columns)."""
    rows = []
    slugs: set[str] = set()
    for m in cells:
        try:
            row = {c: m[c] for c in RUNS_COLUMNS}
        except KeyError as err:
            raise ValueError(f"cell metrics {m.get('dataset')}/{m.get('dla_model')}/{m.get('prompt')}: "
                             f"missing key {err}") from None
        for slug, v in (m.get("anls_by_type") or {}).items():
            row[f"anls_{slug}"] = v["anls"]
            slugs.add(slug)
        for c in EXTRA_COLUMNS:
            row[c] = m.get(c)
        rows.append(row)
    cols = list(RUNS_COLUMNS) + type_columns(sorted(slugs)) + list(EXTRA_COLUMNS)
    df = pd.DataFrame(rows, columns=cols)
    for c in ["anls", "questions_per_s", "prompt_tokens_per_s", "mean_prompt_tokens"] + type_columns(sorted(slugs)):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def load_docvqa_runs(paths: Sequence[str | Path]) -> pd.DataFrame:
    """:func:`runs_frame` of the cell ``metrics.json`` files."""
    cells = []
    for p in paths:
        m = read_json(p)
        if not isinstance(m, dict):
            raise ValueError(f"{p}: expected a JSON object")
        cells.append(m)
    try:
        return runs_frame(cells)
    except ValueError as err:
        where = Path(paths[0]).parents[2] if paths else "?"
        raise ValueError(f"{err} (one of {len(paths)} files under {where})") from None


def _pct(x: Any) -> float:
    return float(x) * 100.0 if x is not None and not pd.isna(x) else float("nan")


def _score_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("anls_")]


def table4(df: pd.DataFrame, dataset: str, dla_model: str) -> pd.DataFrame:
    """The paper's Table 4: task-instruction prompt, with / without space layout x with / without the tags of
    `dla_model`; ANLS and per-type ANLS (x100)."""
    sub = df[df.dataset == dataset]
    types = _score_columns(sub)
    out = []
    for space in (False, True):
        for with_dla in (False, True):
            prompt = "task_space" if space else "task"
            model = dla_model if with_dla else DLA_NONE
            hit = sub[(sub.prompt == prompt) & (sub.dla_model == model)]
            r = hit.iloc[0] if not hit.empty else None
            row: dict[str, Any] = {"Space": "yes" if space else "no", "DLA": "yes" if with_dla else "no",
                                   "ANLS": _pct(r["anls"]) if r is not None else float("nan")}
            for c in types:
                row[type_title(c)] = _pct(r[c]) if r is not None else float("nan")
            row["N"] = int(r["n_questions"]) if r is not None else pd.NA
            out.append(row)
    t = pd.DataFrame(out)
    t["N"] = t["N"].astype("Int64")
    return t


def grid_table(df: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """Tables 16 / 17: one row per (prompt type, DLA model) of `dataset` (prompt order, then Table 3's model
    order), ANLS and per-type ANLS (x100), questions, truncated and failed prompts. None: no rows."""
    sub = df[df.dataset == dataset] if dataset is not None else df.iloc[0:0]
    types = _score_columns(sub) if dataset is not None else []
    prompt_rank = {p: i for i, p in enumerate(PROMPT_ORDER)}
    dla_rank = {m: i for i, m in enumerate(DLA_ORDER)}
    sub = sub.assign(_p=sub.prompt.map(lambda p: prompt_rank.get(p, 99)),
                     _m=sub.dla_model.map(lambda m: dla_rank.get(m, 99)))
    sub = sub.sort_values(["_p", "_m", "dla_model"], kind="stable")
    out = []
    for _, r in sub.iterrows():
        row: dict[str, Any] = {"Prompt": PROMPT_TITLES.get(r["prompt"], r["prompt"]), "DLA": r["dla_label"],
                               "ANLS": _pct(r["anls"])}
        for c in types:
            row[type_title(c)] = _pct(r[c])
        row.update({"N": int(r["n_questions"]), "Truncated": int(r["n_truncated"]), "Failed": int(r["n_failed"]),
                    "dla_model": r["dla_model"]})
        out.append(row)
    cols = ["Prompt", "DLA", "ANLS"] + [type_title(c) for c in types] + ["N", "Truncated", "Failed", "dla_model"]
    t = pd.DataFrame(out, columns=cols)
    for c in ("N", "Truncated", "Failed"):
        t[c] = t[c].astype("Int64")
    return t


def reader_label(info: Mapping[str, Any]) -> str:
    """A reader's name from its ``describe()`` record: the GGUF file, else the model, else the backend."""
    return str(info.get("gguf_file") or info.get("model") or info.get("backend") or "the reader")


def readers_table(readers: Sequence[Mapping[str, Any]], dataset: str, prompts: Sequence[str]) -> pd.DataFrame:
    """Table 16's reader dimension (beyond the paper): one row per reader (or decoding), its ANLS (x100) per
    no-layout prompt type on `dataset`, the best of them, and its questions per second (mean over those cells).

    `readers`: ``{"name", "info" (the reader's describe() record), "df" (its runs frame)}`` in row order; a reader
    without a cell for a prompt gets NaN there."""
    rows = []
    for r in readers:
        df = r["df"]
        sub = df[(df.dataset == dataset) & (df.dla_model == DLA_NONE)]
        info = r["info"] or {}
        row: dict[str, Any] = {"Reader": r["name"], "Model": reader_label(info),
                               "Decoding": f"{info.get('decoding', 'free')}"
                                           + (f", {info['search']}" if info.get("search", "greedy") != "greedy" else "")}
        scores = []
        for p in prompts:
            hit = sub[sub.prompt == p]
            v = _pct(hit.iloc[0]["anls"]) if not hit.empty else float("nan")
            row[PROMPT_TITLES.get(p, p)] = v
            scores.append(v)
        known = [v for v in scores if not pd.isna(v)]
        row["Best"] = max(known) if known else float("nan")
        qps = sub[sub.prompt.isin(list(prompts))]["questions_per_s"]
        row["q/s"] = float(qps.mean()) if len(qps) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=["Reader", "Model", "Decoding", *(PROMPT_TITLES.get(p, p) for p in prompts),
                                       "Best", "q/s"])


def write_readers_table(readers: Sequence[Mapping[str, Any]], out_dir: str | Path, dataset: Mapping[str, Any],
                        prompts: Sequence[str]) -> list[Path]:
    """table16_readers (.csv/.md/.tex): :func:`readers_table` on the first dataset."""
    t = readers_table(readers, dataset["name"], prompts)
    cap = (f"Table 16, reader dimension (beyond the paper): zero-shot DocVQA on {dataset['label']} without layout tags, "
           "per reader and decoding (extractive: answers restricted to spans of the page's OCR words); ANLS x 100 per "
           "prompt type, the best of them, questions per second. Bold: best per column.")
    bold = {c: "max" for c in t.columns if c not in ("Reader", "Model", "Decoding", "q/s")}
    return list(write_table(t, Path(out_dir) / "table16_readers", cap, "tab:docvqa_table16_readers", bold=bold,
                            decimals=2).values())


def _group_mask(t: pd.DataFrame) -> pd.DataFrame | None:
    """Best score per column within each prompt type; a prompt type with a single row is not marked."""
    if not len(t):
        return None
    eligible = t.groupby("Prompt", sort=False)["Prompt"].transform("size").to_numpy() > 1
    return best_mask(t, _score_bold(t), eligible=eligible, group_by=["Prompt"], decimals=2)


def _score_bold(t: pd.DataFrame) -> dict[str, str]:
    skip = {"Prompt", "DLA", "Space", "N", "Truncated", "Failed", "dla_model"}
    return {c: "max" for c in t.columns if c not in skip}


def write_docvqa_tables(df: pd.DataFrame, out_dir: str | Path, datasets: Sequence[Mapping[str, Any]],
                        table4_dla_model: str, reader: str = "the reader") -> list[Path]:
    """Write table4, table16 and table17 (.csv/.md/.tex) under `out_dir`.

    `datasets` are the ``docvqa.datasets`` entries (``name``, ``table``, ``label``). Table 4 and Table 16
    come from the first ``table16`` dataset; Table 17 from the first ``table17`` dataset, or is written
    empty with a caption saying that the preset has no InfographicVQA set.
    """
    out_dir = Path(out_dir)
    by_table: dict[str, Mapping[str, Any]] = {}
    for d in datasets:
        by_table.setdefault(d["table"], d)
    paths: list[Path] = []
    d16 = by_table.get("table16")
    name16 = d16["name"] if d16 else None
    label16 = d16["label"] if d16 else "no DocVQA-style dataset in this preset"
    t4 = table4(df, name16, table4_dla_model) if d16 else table4(df.iloc[0:0], "", table4_dla_model)
    cap4 = (f"Table 4: zero-shot DocVQA on {label16} with {reader}: task-instruction prompt with / without the space "
            f"layout and with / without the layout tags of {_dla_name(df, table4_dla_model)} ({table4_dla_model}); "
            "ANLS x 100 overall and per question type. Bold: best per column.")
    paths += write_table(t4, out_dir / "table4", cap4, "tab:docvqa_table4", bold=_score_bold(t4), decimals=2).values()

    t16 = grid_table(df, name16)
    cap16 = (f"Table 16: zero-shot DocVQA on {label16} with {reader}, per prompt type and layout model "
             "(DLA '–': no tags); ANLS x 100 overall and per question type; N questions, prompts truncated to fit "
             "the context, failed generations. Bold: best per column within a prompt type (ties all bold).")
    mask16 = _group_mask(t16)
    paths += write_table(t16, out_dir / "table16", cap16, "tab:docvqa_table16", bold_mask=mask16, decimals=2,
                         hidden=("dla_model",), midrule_on="Prompt").values()

    d17 = by_table.get("table17")
    if d17:
        t17 = grid_table(df, d17["name"])
        cap17 = (f"Table 17: zero-shot InfographicVQA on {d17['label']} with {reader}, per prompt type and layout "
                 "model; ANLS x 100 overall and per question type. Bold: best per column within a prompt type.")
    else:
        t17 = grid_table(df, None)
        cap17 = ("Table 17: InfographicVQA is not part of this preset (the embedded presets have no "
                 "infographic data; run the paper preset): no rows.")
    mask17 = _group_mask(t17)
    paths += write_table(t17, out_dir / "table17", cap17, "tab:docvqa_table17", bold_mask=mask17, decimals=2,
                         hidden=("dla_model",), midrule_on="Prompt").values()
    log.info("wrote %s", sorted(str(p) for p in paths))
    return paths


def _dla_name(df: pd.DataFrame, dla_model: str) -> str:
    hit = df[df.dla_model == dla_model]
    if not hit.empty:
        return str(hit.iloc[0]["dla_label"])
    from ..docvqa.run import dla_label

    return dla_label(dla_model)


def docvqa_summary(df: pd.DataFrame, grid_summaries: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """``metrics/docvqa.json``: per dataset the cells' ANLS, the best cell and the job's timing."""
    out: dict[str, Any] = {"datasets": {}}
    jobs = {g["dataset"]: g for g in grid_summaries}
    for ds, sub in df.groupby("dataset", sort=False):
        cells = {f"{r['dla_model']}/{r['prompt']}": {k: (None if pd.isna(r[k]) else r[k]) for k in
                                                      ("anls", "n_questions", "n_truncated", "n_failed",
                                                       "questions_per_s")}
                 for _, r in sub.iterrows()}
        best = sub.loc[sub["anls"].idxmax()] if sub["anls"].notna().any() else None
        out["datasets"][ds] = {
            "n_cells": int(len(sub)),
            "best": None if best is None else {"prompt": best["prompt"], "dla_model": best["dla_model"],
                                               "anls": float(best["anls"])},
            "cells": cells,
            "job": {k: v for k, v in jobs.get(ds, {}).items() if k != "cells"},
        }
    return out
