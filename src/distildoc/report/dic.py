"""The paper's document-image-classification tables (6, 9, 10-12, 15, 18-19) from run ``metrics.json`` files.

Run JSON schema (one ``metrics.json`` per run folder, written by `distildoc.train.dic`)::

    {"dataset": "rvl" | "tobacco",          # RVL-CDIP(-like) | Tobacco-3482(-like)
     "role": "teacher" | "student",
     "teacher": "ViT-B" | "DiT-B" | "R101" | null,   # null: the supervised CE student (no teacher)
     "student": "ViT-S" | "ViT-T" | "R50" | null,    # null for teacher runs
     "method": "supervised" (teachers) | "ce" | "ce_distildoc" | "ce_kd" | "nkd" | "mse" | "fitnet"
               | "simkd_cls_mlp" | "simkd_cnn" | "simkd_identity"
               | "ce_kd_ls" | "nkd_ls" | "dist" | "dkd",   # not in the paper (issue 14)
     "init": str,                            # "random", or the pretrained init's name ("imagenet", "pretrained")
     "seed": int,
     "splits": {"test": {"accuracy", "ece", "aurc", "nll", "brier": float, "n": int, "skipped_inputs": [...],
                         "ece_ts", "aurc_ts", "nll_ts", "brier_ts": float},   # after temperature scaling
                "rvl_n": {...}},            # RVL-CDIP-N (covariate shift): rvl runs only
     "calibration": {"temperature": float, "fitted_on": "val", "n_val": int,   # distildoc.evaluate.calibration
                     "nll_val", "nll_val_ts": float},
     "runtime": {"train_seconds", "examples_per_second": float, "epochs", "best_epoch": int},
     "params": int, "hparams": {...}}

Required: everything up to ``splits`` (each split with the five metrics and ``n``); ``runtime``,
``params``, ``hparams``, ``skipped_inputs``, ``calibration`` and the ``_ts`` metrics may be absent (runs from before
post-hoc temperature scaling: NaN in their columns).

Layout rules (the paper's):

* RVL-CDIP tables (6, 9, 18, 19) have columns Teacher, Student, Method, ACC, AURC, ECE; Tobacco
  tables (10-12) ACC, ECE, AURC. Companion columns follow: ``<M>_std`` (seed std), ``method_key``,
  ``n_seeds`` (CSV only).
* A block per teacher: the teacher's own row (Method "Teacher"), the supervised students (Method
  "CE": the ``ce`` run without a teacher; a ``ce`` run under this teacher is used only when no
  teacher-less one exists), then per student one row per KD method.
* Students are filtered by ``init``; teacher rows use the teacher runs of that init when there are
  any, else every teacher run of that architecture (teachers are trained once, not per student init).
  Any init name is accepted: ``random`` is the random one, every other name a pretrained one
  (:func:`main_init` picks the pretrained init of Tables 6, 9 and 10-12).
* Seeds: mean ± sample std (ddof=1); bold by mean; when a cell has several seeds, Markdown and LaTeX
  show the ``n seeds`` column as well.
* Bold: per column, the best value among the *distilled* students (KD methods; not the teacher, not
  CE) of the same teacher block and student. Higher is better for ACC, lower for ECE and AURC.
* A grid cell without runs stays in the table: NaN in CSV, "–" in Markdown / LaTeX.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from collections import Counter
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import catalogue
from ..utils.io import read_json
from .tables import STD_SUFFIX, best_mask, mean_or_nan, sample_std, write_table

log = logging.getLogger(__name__)

DATASETS = ("rvl", "tobacco")
ROLES = ("teacher", "student")
RANDOM_INIT = "random"
#: preferred names of the pretrained init, in order (any other non-random name is accepted too)
PRETRAINED_INITS = ("imagenet", "pretrained")
SPLIT_METRICS = ("accuracy", "ece", "aurc", "nll", "brier")
#: the split metrics after post-hoc temperature scaling (optional; accuracy is unchanged by it)
TS_METRICS = ("ece_ts", "aurc_ts", "nll_ts", "brier_ts")
#: every method of the tables, in the paper's order (distildoc.catalogue)
KNOWN_METHODS = catalogue.keys(catalogue.CLASSIFICATION)
#: the distilled students' methods (a teacher; the bold marks are among these)
KD_METHODS = frozenset(catalogue.keys(catalogue.CLASSIFICATION, teacher=True))
#: methods beyond the paper (listed in the "extended" table, not in the paper's)
EXTENSION_METHODS = catalogue.keys(catalogue.CLASSIFICATION, beyond_paper=True)
HPARAM_COLUMNS = ("tau", "alpha", "gamma", "beta")

RUN_COLUMNS = ["path", "dataset", "role", "teacher", "student", "method", "init", "seed", "split",
               *SPLIT_METRICS, *TS_METRICS, "temperature", "n", "n_skipped", "train_seconds", "examples_per_second",
               "epochs", "best_epoch", "train_examples", "params", *HPARAM_COLUMNS, "hparams", "arch"]

# display name -> run metric
METRIC_COLUMNS = {"ACC": "accuracy", "ECE": "ece", "AURC": "aurc"}
RVL_METRICS = ("ACC", "AURC", "ECE")       # the paper's column order for RVL-CDIP
TOBACCO_METRICS = ("ACC", "ECE", "AURC")   # ... and for Tobacco-3482
BOLD_RULES = {"ACC": "max", "ECE": "min", "AURC": "min"}
HIDDEN = ("method_key", "n_seeds")

VIT_TEACHERS = ("ViT-B", "DiT-B")
VIT_STUDENTS = ("ViT-S", "ViT-T")
RVL_VIT_METHODS = ("ce_distildoc", "ce_kd", "nkd", "mse", "simkd_cls_mlp", "simkd_cnn", "fitnet")
RVL_RESNET_METHODS = ("ce_distildoc", "ce_kd", "nkd", "mse", "simkd_identity", "simkd_cnn", "fitnet")
TOBACCO_VIT_METHODS = ("ce", "ce_kd", "nkd", "mse", "simkd_cls_mlp", "simkd_cnn", "fitnet")
TOBACCO_RESNET_METHODS = ("ce", "ce_kd", "nkd", "mse", "simkd_identity", "simkd_cnn", "fitnet")
TABLE15_METHODS = ("ce", "ce_distildoc", "ce_kd", "nkd", "mse", "simkd_cls_mlp", "simkd_identity", "simkd_cnn",
                   "fitnet")
# Tobacco tables: teacher -> (students, methods); the order of Tables 10, 11, 12
TOBACCO_BLOCKS = {"R101": (("R50",), TOBACCO_RESNET_METHODS),
                  "ViT-B": (VIT_STUDENTS, TOBACCO_VIT_METHODS),
                  "DiT-B": (VIT_STUDENTS, TOBACCO_VIT_METHODS)}

#: the hyper-parameters each method's label shows and their defaults (distildoc.catalogue.Method.defaults)
DEFAULT_HPARAMS = {m.key: dict(m.defaults) for m in catalogue.CLASSIFICATION_METHODS if m.defaults}
_HPARAM_SYMBOLS = {"tau": "τ", "alpha": "α", "gamma": "γ", "beta": "β"}


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------


def _num(value) -> float:
    return math.nan if value is None else float(value)


def _is_number(value) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def _validate(run, path: Path) -> None:
    def bad(msg: str):
        raise ValueError(f"invalid run file {path}: {msg}")

    if not isinstance(run, dict):
        bad(f"expected a JSON object, got {type(run).__name__}")
    missing = [k for k in ("dataset", "role", "teacher", "student", "method", "init", "seed", "splits")
               if k not in run]
    if missing:
        bad(f"missing key(s) {missing}")
    for key, allowed in (("dataset", DATASETS), ("role", ROLES)):
        if run[key] not in allowed:
            bad(f"{key} must be one of {list(allowed)}, got {run[key]!r}")
    if not isinstance(run["init"], str) or not run["init"]:
        bad(f"init must be a name (e.g. 'random', 'imagenet'), got {run['init']!r}")
    for key in ("teacher", "student"):
        if run[key] is not None and not (isinstance(run[key], str) and run[key]):
            bad(f"{key} must be a name or null, got {run[key]!r}")
    if not isinstance(run["method"], str) or not run["method"]:
        bad(f"method must be a name, got {run['method']!r}")
    if run["role"] == "teacher" and (run["teacher"] is None or run["student"] is not None):
        bad("a teacher run needs a teacher name and student null")
    if run["role"] == "student" and run["student"] is None:
        bad("a student run needs a student name")
    if run["role"] == "student" and run["method"] in KD_METHODS and run["teacher"] is None:
        bad(f"a {run['method']} student needs the teacher it was distilled from")
    if not isinstance(run["seed"], int) or isinstance(run["seed"], bool):
        bad(f"seed must be an integer, got {run['seed']!r}")
    splits = run["splits"]
    if not isinstance(splits, dict) or not splits:
        bad("splits must be a non-empty object of split name -> metrics")
    for name, m in splits.items():
        if not isinstance(m, dict):
            bad(f"splits.{name} must be an object")
        miss = [k for k in (*SPLIT_METRICS, "n") if k not in m]
        if miss:
            bad(f"splits.{name} is missing key(s) {miss}")
        wrong = [k for k in (*SPLIT_METRICS, "n") if not _is_number(m[k])]
        wrong += [k for k in TS_METRICS if k in m and not _is_number(m[k])]
        if wrong:
            bad(f"splits.{name}: {wrong} must be numbers")
    cal = run.get("calibration")
    if cal is not None and not (isinstance(cal, dict) and _is_number(cal.get("temperature"))):
        bad("calibration must be an object with a numeric temperature")
    for key in ("runtime", "hparams"):
        if key in run and run[key] is not None and not isinstance(run[key], dict):
            bad(f"{key} must be an object")
    if run["method"] not in KNOWN_METHODS:
        log.warning("%s: unknown method %r (kept in runs, left out of the paper's tables)", path, run["method"])


def load_runs(paths: Sequence[str | Path]) -> pd.DataFrame:
    """One row per (run, split) with the split's metrics (with the ``_ts`` ones after temperature scaling and the
    run's ``temperature``; NaN for runs without them), the run's identity, runtime and the KD
    hyper-parameters (τ, α, γ, β as columns; all of ``hparams`` as a JSON string).

    Malformed JSON, missing keys or wrong values raise ValueError naming the file; the same run
    (dataset, role, teacher, student, method, init, seed) given twice raises naming both files.
    """
    rows: list[dict] = []
    seen: dict[tuple, Path] = {}
    for p in paths:
        path = Path(p)
        run = read_json(path)  # ValueError naming the file on malformed JSON
        _validate(run, path)
        ident = tuple(run[k] for k in ("dataset", "role", "teacher", "student", "method", "init", "seed"))
        if ident in seen:
            raise ValueError(f"duplicate run {ident}: {seen[ident]} and {path}")
        seen[ident] = path
        runtime = run.get("runtime") or {}
        hparams = run.get("hparams") or {}
        temperature = _num((run.get("calibration") or {}).get("temperature"))
        for split, m in run["splits"].items():
            row = {"path": str(path), **{k: run[k] for k in ("dataset", "role", "teacher", "student", "method",
                                                            "init", "seed")},
                   "split": split, **{k: _num(m[k]) for k in SPLIT_METRICS},
                   **{k: _num(m.get(k)) for k in TS_METRICS}, "temperature": temperature, "n": m["n"],
                   "n_skipped": len(m.get("skipped_inputs") or []),
                   **{k: runtime.get(k) for k in ("train_seconds", "examples_per_second", "epochs", "best_epoch",
                                                   "train_examples")},
                   "params": run.get("params"),
                   **{k: hparams.get(k) if _is_number(hparams.get(k)) else None for k in HPARAM_COLUMNS},
                   "hparams": json.dumps(hparams, sort_keys=True, default=str),
                   # the architecture that played the run's role (e.g. EfficientNet-Lite0 for R50); optional
                   "arch": run.get("arch")}
            rows.append(row)
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in (*SPLIT_METRICS, *TS_METRICS, "temperature", "train_seconds", "examples_per_second", *HPARAM_COLUMNS):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in ("seed", "n", "n_skipped", "epochs", "best_epoch", "train_examples", "params"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    log.info("loaded %d runs (%d run-split rows)", len(seen), len(df))
    return df


# ------------------------------------------------------------------------------------------------
# method names
# ------------------------------------------------------------------------------------------------


def _g(x: float) -> str:
    return f"{x:g}"


def method_label(method: str, hparams: dict | None = None, style: str = "rvl") -> str:
    """The paper's name for a method; τ/α/γ/β come from `hparams` when given (else the paper's values; for the
    methods not in the paper, ``ce_kd_ls``, ``nkd_ls``, ``dist``, ``dkd``, their constructors' defaults).

    style "rvl": Tables 6, 9, 15, 18, 19 ("Vanilla [τ=2.5, α=0.5]"); "tobacco": Tables 10-12 ("CE+KD").
    """
    if style not in ("rvl", "tobacco"):
        raise ValueError(f"style must be 'rvl' or 'tobacco', got {style!r}")
    try:
        entry = catalogue.method(method)
    except KeyError:
        return method
    if style == "tobacco":
        return entry.short_label
    hp = dict(entry.defaults)
    for k, v in (hparams or {}).items():
        if k in hp and v is not None and not (isinstance(v, float) and math.isnan(v)):
            hp[k] = float(v)
    label = entry.label.format(**{k: _g(v) for k, v in hp.items()})
    # hyper-parameters shown only when the run sets them (ce_kd's KD weight β when it is not 1 − α; not in the paper)
    extras = "".join(f", {_HPARAM_SYMBOLS[k]}={_g(float(v))}" for k in entry.label_extras
                     if _is_real((hparams or {}).get(k)))
    return f"{label[:-1]}{extras}]" if extras else label


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _hparams_of(rows: pd.DataFrame) -> dict:
    """The runs' τ/α/γ/β (the most common combination; a warning if the runs disagree)."""
    if rows.empty:
        return {}
    cols = [c for c in HPARAM_COLUMNS if c in rows]  # frames read from older runs.csv lack newer columns
    combos = Counter(tuple(None if pd.isna(v) else float(v) for v in r)
                     for r in rows[cols].itertuples(index=False))
    if len(combos) > 1:
        log.warning("runs of %s disagree on hyper-parameters %s; naming the method after the most common",
                    sorted(set(rows["method"])), dict(combos))
    best = combos.most_common(1)[0][0]
    return {k: v for k, v in zip(cols, best) if v is not None}


# ------------------------------------------------------------------------------------------------
# cells and rows
# ------------------------------------------------------------------------------------------------


def _is(df: pd.DataFrame, col: str, value) -> pd.Series:
    return df[col].isna() if value is None else (df[col] == value).fillna(False).astype(bool)


def _scope(df: pd.DataFrame, dataset: str, split: str) -> pd.DataFrame:
    return df[_is(df, "dataset", dataset) & _is(df, "split", split)]


def main_init(df: pd.DataFrame, dataset: str = "rvl", students: Sequence[str] | None = None) -> str:
    """The init of the paper's main tables (6, 9 for ``rvl``; 10-12 for ``tobacco``): the pretrained init of the
    dataset's student runs (``imagenet``, then ``pretrained``, then any other non-random name, alphabetically),
    or ``random`` when every student is randomly initialised. `students`: only these student roles count
    (a table's own students: the embedded ViT students have no pretrained init while the CNN student does)."""
    stud = df[_is(df, "dataset", dataset) & _is(df, "role", "student")]
    if students is not None:
        stud = stud[stud["student"].isin(list(students))]
    inits = [i for i in dict.fromkeys(stud["init"].dropna().astype(str)) if i != RANDOM_INIT]
    if not inits:
        return RANDOM_INIT
    return next((name for name in PRETRAINED_INITS if name in inits), sorted(inits)[0])


def teacher_runs(sub: pd.DataFrame, teacher: str, init: str | None) -> pd.DataFrame:
    """The runs of `teacher` in `sub`: those of `init` when there are any, else all of them (teachers are
    trained once, not per student init)."""
    return _teacher_runs(sub, teacher, init)


def student_runs(sub: pd.DataFrame, teacher: str | None, student: str, method: str, init: str | None) -> pd.DataFrame:
    """The seeds of one table cell: `student` trained with `method` under `teacher` (for ``ce``: the teacher-less
    supervised run, or one trained under `teacher` when no teacher-less one exists), filtered by `init`."""
    return _student_runs(sub, teacher, student, method, init)


def _teacher_runs(sub: pd.DataFrame, teacher: str, init: str | None) -> pd.DataFrame:
    rows = sub[_is(sub, "role", "teacher") & _is(sub, "teacher", teacher)]
    if init is not None and _is(rows, "init", init).any():
        rows = rows[_is(rows, "init", init)]
    return rows


def _student_runs(sub: pd.DataFrame, teacher: str | None, student: str, method: str, init: str | None) -> pd.DataFrame:
    rows = sub[_is(sub, "role", "student") & _is(sub, "student", student) & _is(sub, "method", method)]
    if init is not None:
        rows = rows[_is(rows, "init", init)]
    if method == "ce":  # the supervised baseline: no teacher; one trained under this teacher as a fallback
        own = rows[rows["teacher"].isna()]
        return own if not own.empty or teacher is None else rows[_is(rows, "teacher", teacher)]
    return rows[_is(rows, "teacher", teacher)]


def _row(runs: pd.DataFrame, teacher: str, student: str, method: str, label: str,
         metrics: Sequence[str]) -> dict:
    row: dict = {"Teacher": teacher, "Student": student, "Method": label}
    for m in metrics:
        row[m] = mean_or_nan(runs[METRIC_COLUMNS[m]])
        row[m + STD_SUFFIX] = sample_std(runs[METRIC_COLUMNS[m]])
    row["method_key"] = method
    row["n_seeds"] = int(len(runs))
    return row


def _frame(rows: list[dict], metrics: Sequence[str]) -> pd.DataFrame:
    cols = ["Teacher", "Student", "Method", *metrics, *(m + STD_SUFFIX for m in metrics), *HIDDEN]
    df = pd.DataFrame(rows, columns=cols)
    for m in metrics:
        df[m] = df[m].astype("float64")
        df[m + STD_SUFFIX] = df[m + STD_SUFFIX].astype("float64")
    df["n_seeds"] = df["n_seeds"].astype("Int64")
    return df.reset_index(drop=True)


def _block(sub: pd.DataFrame, teacher: str, students: Sequence[str], methods: Sequence[str], init: str | None,
           metrics: Sequence[str], style: str, baselines_first: bool) -> list[dict]:
    """Teacher row, then (RVL) all CE baselines followed by each student's KD rows, or (Tobacco, where
    `methods` starts with "ce") each student's rows in `methods` order."""
    rows = [_row(_teacher_runs(sub, teacher, init), teacher, "", "supervised", method_label("supervised", style=style),
                 metrics)]
    order: list[tuple[str, str]] = []
    if baselines_first:
        order += [(s, "ce") for s in students]
    order += [(s, m) for s in students for m in methods]
    for student, method in order:
        runs = _student_runs(sub, teacher, student, method, init)
        rows.append(_row(runs, teacher, student, method, method_label(method, _hparams_of(runs), style), metrics))
    return rows


def table6(df: pd.DataFrame, init: str | None = None) -> pd.DataFrame:
    """Table 6 (RVL-CDIP, ViT-B / DiT-B → ViT-S / ViT-T): per teacher, the teacher, the CE students,
    then per student the KD methods. Columns Teacher, Student, Method, ACC, AURC, ECE (+ companions).
    `init` None: :func:`main_init`."""
    init = main_init(df, "rvl") if init is None else init
    sub = _scope(df, "rvl", "test")
    rows = [r for t in VIT_TEACHERS
            for r in _block(sub, t, VIT_STUDENTS, RVL_VIT_METHODS, init, RVL_METRICS, "rvl", True)]
    return _frame(rows, RVL_METRICS)


def table9(df: pd.DataFrame, init: str | None = None) -> pd.DataFrame:
    """Table 9 (RVL-CDIP, R101 → R50): teacher, CE R50, then the KD methods (SimKD [∅ projector]).
    `init` None: :func:`main_init`."""
    init = main_init(df, "rvl") if init is None else init
    sub = _scope(df, "rvl", "test")
    return _frame(_block(sub, "R101", ("R50",), RVL_RESNET_METHODS, init, RVL_METRICS, "rvl", True), RVL_METRICS)


def tables10_12(df: pd.DataFrame, init: str | None = None) -> dict[str, pd.DataFrame]:
    """Tables 10-12 (Tobacco-3482): {"R101": Table 10, "ViT-B": Table 11, "DiT-B": Table 12}; per student
    CE, CE+KD, NKD, MSE, SimKD [CLS+MLP] | SimKD [∅], SimKD [CNN], FitNet. Columns ACC, ECE, AURC.
    `init` None: :func:`main_init` of the Tobacco runs."""
    init = main_init(df, "tobacco") if init is None else init
    sub = _scope(df, "tobacco", "test")
    return {t: _frame(_block(sub, t, students, methods, init, TOBACCO_METRICS, "tobacco", False), TOBACCO_METRICS)
            for t, (students, methods) in TOBACCO_BLOCKS.items()}


def table15(df: pd.DataFrame, init: str | None = None) -> pd.DataFrame:
    """Table 15 (RVL-CDIP-N): per student method, the mean over every run (teachers × students × seeds,
    and inits unless `init` is given) that has an ``rvl_n`` split: ACC, ECE, AURC on RVL-CDIP-N, the same
    runs' in-distribution test means (``ACC (ID)`` ...), and ``n runs``. Plain means (no std: the runs
    differ in teacher and student, not only in seed)."""
    rvl = df[_is(df, "dataset", "rvl") & _is(df, "role", "student")]
    if init is not None:
        rvl = rvl[_is(rvl, "init", init)]
    ood = rvl[_is(rvl, "split", "rvl_n")]
    ind = rvl[_is(rvl, "split", "test")]
    present = set(rvl["method"].dropna())
    rows = []
    for method in TABLE15_METHODS:
        if method not in present:
            continue
        o = ood[_is(ood, "method", method)]
        i = ind[_is(ind, "method", method) & ind["path"].isin(set(o["path"]))]
        row = {"Method": method_label(method, _hparams_of(o if not o.empty else rvl[_is(rvl, "method", method)]))}
        for m in TOBACCO_METRICS:  # ACC, ECE, AURC
            row[m] = float(o[METRIC_COLUMNS[m]].mean()) if len(o) else math.nan
        for m in TOBACCO_METRICS:
            row[f"{m} (ID)"] = float(i[METRIC_COLUMNS[m]].mean()) if len(i) else math.nan
        row["n runs"] = int(len(o))
        row["method_key"] = method
        rows.append(row)
    cols = ["Method", *TOBACCO_METRICS, *(f"{m} (ID)" for m in TOBACCO_METRICS), "n runs", "method_key"]
    out = pd.DataFrame(rows, columns=cols)
    for c in cols[1:7]:
        out[c] = out[c].astype("float64")
    out["n runs"] = out["n runs"].astype("Int64")
    return out


def tables18_19(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 18 and 19: Tables 6 and 9 with randomly initialised students."""
    return table6(df, RANDOM_INIT), table9(df, RANDOM_INIT)


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------


def dic_bold_mask(table: pd.DataFrame, decimals: int = 3) -> pd.DataFrame:
    """The paper's marks: per metric column, the best among the distilled students (KD methods) of the
    same teacher and student (ACC: max; ECE, AURC: min)."""
    bold = {m: BOLD_RULES[m] for m in METRIC_COLUMNS if m in table.columns}
    eligible = table["method_key"].isin(KD_METHODS).to_numpy()
    group_by = [c for c in ("Teacher", "Student") if c in table.columns]
    return best_mask(table, bold, eligible=eligible, group_by=group_by or None, decimals=decimals)


def _has_students(table: pd.DataFrame) -> bool:
    rows = table[table["method_key"] != "supervised"]
    return bool((rows["n_seeds"].fillna(0) > 0).any())


_SEEDS_NOTE = ("Several seeds: mean ± sample std (ddof=1), bold by mean. Missing runs: –.")
_N_SEEDS_NOTE = "n seeds: the runs (seeds) behind each cell."
_BOLD_NOTE = ("Bold: best distilled student per teacher and student (higher ACC, lower AURC/ECE is better).")


#: the dataset and the student roles of each main table (each table takes the pretrained init of its own students)
TABLE_STUDENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "table6": ("rvl", ("ViT-S", "ViT-T")), "table9": ("rvl", ("R50",)),
    "table10_r101": ("tobacco", ("R50",)), "table11_vitb": ("tobacco", ("ViT-S", "ViT-T")),
    "table12_ditb": ("tobacco", ("ViT-S", "ViT-T")),
}


def table_init(df: pd.DataFrame, table: str) -> str:
    """The init a main table (``table6``, ``table9``, ``table10_r101`` ...) is built from: :func:`main_init` of its
    dataset and students."""
    dataset, students = TABLE_STUDENTS[table]
    return main_init(df, dataset, students)


def pages_note(df: pd.DataFrame, dataset: str, students: Sequence[str], init: str) -> str:
    """The training pages of a table's student runs (their ``train_examples``; `dic.student_pages` chooses the
    student subset or the teacher's full splits), e.g. ``"Training pages: ViT-S 480, ViT-T 3200."``; empty when
    the runs do not record them."""
    runs = df[_is(df, "dataset", dataset) & _is(df, "role", "student") & _is(df, "init", init)
              & df["student"].isin(list(students))]
    pages = runs.dropna(subset=["train_examples"]).groupby("student", sort=True)["train_examples"].unique()
    if pages.empty:
        return ""
    return "Training pages: " + ", ".join(f"{st} {'/'.join(str(int(n)) for n in sorted(ns))}"
                                          for st, ns in pages.items()) + "."


def seed_display(table: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, str]]:
    """(hidden columns, display labels) of a paper table: ``n_seeds`` is shown (as "n seeds") when any cell
    has more than one seed, else CSV only."""
    multi = bool((pd.to_numeric(table["n_seeds"], errors="coerce").fillna(0) > 1).any())
    return (("method_key",), {"n_seeds": "n seeds"}) if multi else (HIDDEN, {})


def write_dic_tables(df: pd.DataFrame, out_dir: str | Path, decimals: int = 3) -> list[Path]:
    """Write table6, table9, table10_r101, table11_vitb, table12_ditb, table15, table18, table19 (each as
    .csv/.md/.tex) under `out_dir`; a table without any student run is skipped with a warning.

    Tables 6 and 9 use pretrained students (:func:`main_init`: any init not named ``random``), 18 and 19
    random ones; Tables 10-12 use pretrained students when the Tobacco runs include any, else random ones (the
    caption says which); Table 15 averages over every init present. When no RVL-CDIP student is pretrained
    (the embedded presets: their CPU-scaled students have no pretrained weights), Tables 6 and 9 are built from
    the random-init runs and say so: they then coincide with Tables 18 and 19. With several seeds in a cell the
    Markdown / LaTeX tables also show the number of seeds (``n seeds``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t18, t19 = tables18_19(df)
    # each table takes the pretrained init of its own students (the embedded ViT students are random-init only)
    vit_init, cnn_init = table_init(df, "table6"), table_init(df, "table9")
    tob_vit_init, tob_cnn_init = table_init(df, "table11_vitb"), table_init(df, "table10_r101")
    tob_vit, tob_cnn = tables10_12(df, tob_vit_init), tables10_12(df, tob_cnn_init)
    vit_pages, cnn_pages = (pages_note(df, "rvl", TABLE_STUDENTS[t][1], i)
                            for t, i in (("table6", vit_init), ("table9", cnn_init)))
    specs = [
        ("table6", table6(df, vit_init),
         "Table 6: RVL-CDIP document image classification, ViT-B / DiT-B teachers distilled into ViT-S / ViT-T "
         f"({vit_init} students). {vit_pages}"),
        ("table9", table9(df, cnn_init),
         f"Table 9: RVL-CDIP document image classification, R101 teacher distilled into R50 ({cnn_init} student). "
         f"{cnn_pages}"),
        ("table10_r101", tob_cnn["R101"],
         f"Table 10: Tobacco-3482 document image classification, R101 teacher → R50 ({tob_cnn_init} students)."),
        ("table11_vitb", tob_vit["ViT-B"],
         f"Table 11: Tobacco-3482 document image classification, ViT-B teacher → ViT-S / ViT-T "
         f"({tob_vit_init} students)."),
        ("table12_ditb", tob_vit["DiT-B"],
         f"Table 12: Tobacco-3482 document image classification, DiT-B teacher → ViT-S / ViT-T "
         f"({tob_vit_init} students)."),
        ("table18", t18,
         "Table 18: RVL-CDIP document image classification, ViT-B / DiT-B teachers distilled into ViT-S / ViT-T "
         f"(randomly initialised students). {pages_note(df, 'rvl', TABLE_STUDENTS['table6'][1], RANDOM_INIT)}"),
        ("table19", t19,
         "Table 19: RVL-CDIP document image classification, R101 teacher distilled into R50 "
         f"(randomly initialised student). {pages_note(df, 'rvl', TABLE_STUDENTS['table9'][1], RANDOM_INIT)}"),
    ]
    written: list[Path] = []
    for stem, table, caption in specs:
        if not _has_students(table):
            log.warning("skipping %s: no student runs for it", stem)
            continue
        hidden, labels = seed_display(table)
        note = f"{_SEEDS_NOTE} {_N_SEEDS_NOTE}" if labels else _SEEDS_NOTE
        paths = write_table(table, out_dir / stem, f"{caption.strip()} {_BOLD_NOTE} {note}", f"tab:dic_{stem}",
                            bold_mask=dic_bold_mask(table, decimals), decimals=decimals, hidden=hidden,
                            midrule_on="Teacher", labels=labels)
        written += list(paths.values())
    t15 = table15(df)
    if t15.empty or not (t15["n runs"].fillna(0) > 0).any():
        log.warning("skipping table15: no student runs with an rvl_n (RVL-CDIP-N) split")
    else:
        bold15 = {c: BOLD_RULES[c.split(" ")[0]] for c in t15.columns if c.split(" ")[0] in BOLD_RULES}
        caption = ("Table 15: RVL-CDIP-N (covariate shift), per method averaged over all teachers, students, "
                   "seeds and initialisations present; (ID) columns: the same runs on the RVL-CDIP test set. "
                   "Bold: best distilled method per column (higher ACC, lower ECE/AURC is better). Missing: –.")
        paths = write_table(t15, out_dir / "table15", caption, "tab:dic_table15", bold=bold15,
                            bold_mask=t15["method_key"].isin(KD_METHODS).to_numpy(), decimals=decimals,
                            hidden=("method_key",))
        written += list(paths.values())
    log.info("wrote %d DIC table files under %s", len(written), out_dir)
    return written


def dic_summary(df: pd.DataFrame) -> dict:
    """Headline numbers for `dvc metrics`: teachers' and mean students' test accuracy / ECE / AURC per
    dataset and method (mean over teachers, students, inits and seeds)."""
    test = df[df["split"] == "test"]
    out: dict = {}
    for ds, part in test.groupby("dataset"):
        teachers = part[part["role"] == "teacher"]
        students = part[part["role"] == "student"]
        out[ds] = {
            "teachers": {r.teacher: {"accuracy": float(r.accuracy), "ece": float(r.ece), "aurc": float(r.aurc)}
                         for r in teachers.itertuples()},
            "students": {m: {k: float(g[k].mean()) for k in ("accuracy", "ece", "aurc")}
                         for m, g in students.groupby("method")},
        }
    return out
