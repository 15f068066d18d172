"""Post-hoc calibration tables: classification metrics before and after temperature scaling (issue 14).

Every classification run (teacher and student) fits one temperature ``T`` on its validation split
(Guo et al., ICML 2017; `distildoc.evaluate.calibration`) and reports each eval split's ECE / AURC / NLL / Brier of
the scaled logits as ``<metric>_ts`` (``dic_runs.csv`` columns, `distildoc.report.dic.load_runs`).

* :func:`calibration_table`: per (dataset, teacher, student, init, method), on the ``test`` split, the mean over
  seeds of ECE, AURC, NLL before and after scaling, the mean ``T`` and the number of runs (``n_seeds``). Means skip
  missing values, so runs written before temperature scaling (NaN ``_ts`` columns) count for the unscaled
  columns only, and a cell with none of them has NaN after-scaling columns.
* :func:`calibration_gap`: does a KD method's ECE difference to the supervised ``ce`` student of the same
  (dataset, student, init) survive calibration? The gap is ``ECE(KD) - ECE(ce)`` of the seed means before
  (``ece_gap``) and after (``ece_gap_ts``) scaling; it *survives* when both are non-zero with the same sign and
  ``|ece_gap_ts| > tol``. The ``ce`` baseline is the teacher-less run, or one trained under the KD run's teacher when
  no teacher-less one exists (the rule of the paper tables, `distildoc.report.dic.student_runs`).
* :func:`write_calibration_tables`: ``calibration.csv`` (the first table), ``calibration_gap.csv`` (the second) and
  ``calibration.md`` (both), with the Markdown / CSV writers of `distildoc.report.tables`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.io import write_text
from .dic import KD_METHODS, KNOWN_METHODS
from .tables import mean_or_nan, render_csv, render_markdown

log = logging.getLogger(__name__)

KEYS = ("dataset", "teacher", "student", "init", "method")
#: (before, after) column pairs of the calibration table
PAIRS = (("ece", "ece_ts"), ("aurc", "aurc_ts"), ("nll", "nll_ts"))
TABLE_COLUMNS = [*KEYS, "accuracy", *(c for pair in PAIRS for c in pair), "temperature", "n_seeds"]
GAP_COLUMNS = [*KEYS, "baseline_teacher", "ece", "ece_ce", "ece_gap", "ece_ts", "ece_ts_ce", "ece_gap_ts",
               "survives"]
LABELS = {"accuracy": "ACC", "ece": "ECE", "ece_ts": "ECE (TS)", "aurc": "AURC", "aurc_ts": "AURC (TS)",
          "nll": "NLL", "nll_ts": "NLL (TS)", "temperature": "T", "n_seeds": "n seeds", "ece_ce": "ECE (ce)",
          "ece_gap": "ECE gap", "ece_ts_ce": "ECE (TS, ce)", "ece_gap_ts": "ECE gap (TS)",
          "baseline_teacher": "ce teacher"}


def _method_rank(method) -> int:
    return KNOWN_METHODS.index(method) if method in KNOWN_METHODS else len(KNOWN_METHODS)


def _key(value):
    """A group key as a plain value (None for a missing teacher / student; NaN once in a DataFrame)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else value


def calibration_table(runs: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Per (dataset, teacher, student, init, method) of `runs` (``load_runs`` rows) on `split`: mean over seeds of
    accuracy, ECE, AURC, NLL before and after temperature scaling (``*_ts``), the mean temperature and
    ``n_seeds``. Rows sorted by dataset, teacher, student (teacher-less / student-less first), init and the paper's
    method order. Columns missing from `runs` (frames from before temperature scaling) count as NaN."""
    part = runs[runs["split"] == split] if len(runs) else runs
    rows: list[dict] = []
    if len(part):
        grouped = part.astype({k: object for k in KEYS}).groupby(list(KEYS), dropna=False, sort=False)
        for key, g in grouped:
            row: dict = {k: _key(v) for k, v in zip(KEYS, key)}
            for col in TABLE_COLUMNS[len(KEYS):-1]:
                row[col] = mean_or_nan(g[col]) if col in g.columns else math.nan
            row["n_seeds"] = int(len(g))
            rows.append(row)
    rows.sort(key=lambda r: (str(r["dataset"]), r["teacher"] is not None, str(r["teacher"]), r["student"] is not None,
                             str(r["student"]), str(r["init"]), _method_rank(r["method"]), str(r["method"])))
    out = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for col in TABLE_COLUMNS[len(KEYS):-1]:
        out[col] = out[col].astype("float64")
    out["n_seeds"] = out["n_seeds"].astype("Int64")
    return out


def _survives(before: float, after: float, tol: float) -> object:
    if math.isnan(before) or math.isnan(after):
        return pd.NA
    return bool(np.sign(before) != 0 and np.sign(before) == np.sign(after) and abs(after) > tol)


def calibration_gap(table: pd.DataFrame, tol: float = 0.0) -> pd.DataFrame:
    """For each KD-method row of :func:`calibration_table` `table`: its ECE gap to the supervised ``ce`` student of
    the same (dataset, student, init) before (``ece_gap``) and after (``ece_gap_ts``) temperature scaling, and
    whether it ``survives`` (both gaps non-zero with the same sign, ``|ece_gap_ts| > tol``; NA when either gap is
    missing). Negative gaps: the KD student is better calibrated than ``ce``. Rows without a ``ce`` baseline are
    left out."""
    rows: list[dict] = []
    ce = table[table["method"] == "ce"]
    for _, r in table[table["method"].isin(KD_METHODS)].iterrows():
        same = ce[(ce["dataset"] == r["dataset"]) & (ce["student"] == r["student"]) & (ce["init"] == r["init"])]
        base = same[same["teacher"].isna()]
        if base.empty:
            base = same[same["teacher"] == r["teacher"]]
        if base.empty:
            continue
        b = base.iloc[0]
        gap = float(r["ece"] - b["ece"])
        gap_ts = float(r["ece_ts"] - b["ece_ts"])
        rows.append({**{k: r[k] for k in KEYS}, "baseline_teacher": _key(b["teacher"]),
                     "ece": float(r["ece"]), "ece_ce": float(b["ece"]), "ece_gap": gap,
                     "ece_ts": float(r["ece_ts"]), "ece_ts_ce": float(b["ece_ts"]), "ece_gap_ts": gap_ts,
                     "survives": _survives(gap, gap_ts, tol)})
    out = pd.DataFrame(rows, columns=GAP_COLUMNS)
    for col in ("ece", "ece_ce", "ece_gap", "ece_ts", "ece_ts_ce", "ece_gap_ts"):
        out[col] = out[col].astype("float64")
    out["survives"] = out["survives"].astype("boolean")
    return out


_TABLE_CAPTION = ("Post-hoc temperature scaling (Guo et al., 2017): one temperature T per run, fitted by minimising "
                  "the NLL on its validation split; test-split metrics before and after scaling (TS), mean over "
                  "seeds (accuracy is unchanged by scaling). Missing: –.")
_GAP_CAPTION = ("ECE gap of each KD student to the supervised CE student of the same dataset, student and init "
                "(ECE(KD) − ECE(CE) of the seed means; negative: KD better calibrated), before and after temperature "
                "scaling. Survives: the gap keeps its sign after scaling.")


def write_calibration_tables(runs: pd.DataFrame, out_dir: str | Path, decimals: int = 3) -> list[Path]:
    """Write ``calibration.csv`` (:func:`calibration_table` on ``test``), ``calibration_gap.csv``
    (:func:`calibration_gap`) and ``calibration.md`` (both tables) under `out_dir`; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = calibration_table(runs)
    gap = calibration_gap(table)
    md = render_markdown(table, _TABLE_CAPTION, decimals=decimals, labels=LABELS) if len(table) else \
        f"{_TABLE_CAPTION}\n\nNo test-split runs.\n"
    md += "\n" + (render_markdown(gap, _GAP_CAPTION, decimals=decimals, labels=LABELS) if len(gap) else
                  f"{_GAP_CAPTION}\n\nNo KD run with a CE baseline.\n")
    paths = [write_text(out_dir / "calibration.csv", render_csv(table)),
             write_text(out_dir / "calibration_gap.csv", render_csv(gap)),
             write_text(out_dir / "calibration.md", md)]
    log.info("calibration tables: %d cells, %d KD-vs-CE gaps -> %s", len(table), len(gap), out_dir)
    return paths
