"""Classification results with their uncertainty: KD vs the supervised student, and the knowledge gap.

Inputs are ``dic_runs.csv`` rows (:func:`distildoc.report.dic.load_runs`) and, for the page-level intervals, each
run's ``logits_<split>.npz`` next to its ``metrics.json`` (``logits``, ``labels``, ``ids``: one row per test
page; a page is *correct* when the arg-max logit is its label). Intervals come from
:mod:`distildoc.evaluate.stats`.

**KD vs supervised** (:func:`kd_vs_supervised`). For every (dataset, teacher, student, init) and every KD method
of that cell, against the supervised ``ce`` student of the same architecture and init (the teacher-less run;
one trained under the teacher only when no teacher-less one exists, as in the paper tables):

* ``delta`` = mean accuracy over the method's seeds − mean over the ``ce`` seeds;
* ``welch_low`` / ``welch_high``: Welch's 95 % interval across seeds (NaN with fewer than 2 seeds on a side:
  ``welch_note`` says why);
* ``boot_low`` / ``boot_high``: the paired bootstrap over test pages (``n_resamples``, seeded), seeds averaged
  per page (same number as pairing seeds by id and averaging);
* ``verdict_welch`` / ``verdict_bootstrap``: :func:`~distildoc.evaluate.stats.interval_verdict` for "KD is more
  accurate" (expected sign +1); ``verdict`` = their :func:`~distildoc.evaluate.stats.consensus` (a side only when
  every defined interval takes it).

**Knowledge gap** (:func:`knowledge_gap`). Per (dataset, teacher, student, init): the teacher's accuracy, the
supervised student's mean, the best KD method by mean accuracy and its mean, and the fraction of the
teacher-student gap that KD closed, ``(best − ce) / (teacher − ce)``. Its interval is a paired bootstrap over
test pages (the teacher, ``ce`` and best-method correctness resampled together); it covers page sampling only,
with the seeds and the choice of the best method held fixed; the best method is chosen on the same test pages,
so the fraction is optimistic. A teacher not above the supervised student leaves no gap: NaN and a note.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluate.classification import calibration_error_from_confidences, softmax
from ..evaluate.stats import (
    NA,
    Interval,
    bootstrap_interval,
    consensus,
    interval_verdict,
    paired_bootstrap_accuracy,
    welch_interval,
)
from .dic import (
    DATASETS,
    EXTENSION_METHODS,
    TABLE15_METHODS,
    VIT_STUDENTS,
    VIT_TEACHERS,
    _hparams_of,
    _is,
    method_label,
    student_runs,
    teacher_runs,
)
from .tables import format_interval, mean_or_nan, sample_std, write_table

log = logging.getLogger(__name__)

KD_COLUMNS = ["dataset", "split", "init", "teacher", "student", "method", "label", "n_seeds", "n_seeds_ce", "seeds",
              "seeds_ce", "accuracy", "accuracy_std", "accuracy_ce", "accuracy_ce_std", "delta", "welch_low",
              "welch_high", "welch_df", "welch_note", "boot_low", "boot_high", "n_pages", "n_resamples", "boot_note",
              "confidence", "verdict_welch", "verdict_bootstrap", "verdict"]
GAP_COLUMNS = ["dataset", "split", "init", "teacher", "student", "accuracy_teacher", "n_teacher_runs", "accuracy_ce",
               "accuracy_ce_std", "n_seeds_ce", "best_method", "best_label", "accuracy_best", "accuracy_best_std",
               "n_seeds_best", "gap", "closed", "fraction_closed", "fraction_low", "fraction_high", "n_pages",
               "n_resamples", "note"]


# ------------------------------------------------------------------------------------------------
# per-page correctness
# ------------------------------------------------------------------------------------------------


class PageCorrectness:
    """Per-page correctness of runs, read once from ``logits_<split>.npz`` beside each ``metrics.json`` (the
    ``path`` column of ``dic_runs.csv``, relative to `root`)."""

    def __init__(self, root: str | Path = ".") -> None:
        self.root = Path(root)
        self._cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def file(self, metrics_path: str | Path, split: str) -> Path:
        return self.root / Path(metrics_path).parent / f"logits_{split}.npz"

    def load(self, metrics_path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(page ids, 0/1 correct) of one run on `split`; errors name the file."""
        ids, correct, _ = self._read(metrics_path, split)
        return ids, correct

    def _read(self, metrics_path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(page ids, 0/1 correct, top-1 softmax confidence) of one run on `split`."""
        key = (str(metrics_path), split)
        if key not in self._cache:
            f = self.file(metrics_path, split)
            if not f.exists():
                raise FileNotFoundError(f"{f}: per-page logits of run {metrics_path} on {split} are missing "
                                        "(dic_runs.csv path column; the training job writes logits_<split>.npz)")
            try:
                with np.load(f) as z:
                    logits, labels = np.asarray(z["logits"]), np.asarray(z["labels"])
                    ids = np.asarray(z["ids"]) if "ids" in z.files else np.arange(len(labels))
            except (KeyError, ValueError, OSError) as err:
                raise ValueError(f"{f}: unreadable logits file ({err}); expected arrays logits, labels, ids") from None
            if logits.ndim != 2 or len(logits) != len(labels) or len(ids) != len(labels):
                raise ValueError(f"{f}: logits {logits.shape}, labels {labels.shape}, ids {ids.shape} do not match")
            probs = softmax(logits.astype(np.float64))
            self._cache[key] = (ids.astype(str), (probs.argmax(axis=1) == labels).astype(np.float64),
                                probs.max(axis=1))
        return self._cache[key]

    def matrix(self, groups: Sequence[Sequence[str]], split: str, what: str = "correct") -> tuple[list[np.ndarray], int]:
        """Each group of runs (metrics paths) as a ``[runs, pages]`` matrix of `what` (``"correct"``: 0/1;
        ``"confidence"``: top-1 softmax probability) over the pages *all* runs share (aligned by page id, in the
        first run's order), and the number of shared pages."""
        col = {"correct": 1, "confidence": 2}[what]
        loaded = [[(r[0], r[col]) for r in (self._read(p, split) for p in g)] for g in groups]
        first_ids = next(ids for g in loaded for ids, _ in g)
        common = set(first_ids)
        for g in loaded:
            for ids, _ in g:
                common &= set(ids)
        order = [i for i in first_ids if i in common]
        if any(len(ids) != len(order) for g in loaded for ids, _ in g):
            log.warning("%s: runs differ in their %s pages; using the %d pages they share", split, split, len(order))
        out = []
        for g in loaded:
            rows = []
            for ids, correct in g:
                pos = {k: n for n, k in enumerate(ids)}
                rows.append(correct[[pos[k] for k in order]])
            out.append(np.vstack(rows) if rows else np.zeros((0, len(order))))
        return out, len(order)


# ------------------------------------------------------------------------------------------------
# KD vs supervised
# ------------------------------------------------------------------------------------------------


def _ordered(values, order: Sequence[str]) -> list[str]:
    vals = list(dict.fromkeys(v for v in values if isinstance(v, str)))
    return [v for v in order if v in vals] + sorted(v for v in vals if v not in order)


def _seeds(rows: pd.DataFrame) -> str:
    return ",".join(str(int(s)) for s in sorted(rows["seed"].dropna().astype(int)))


def kd_vs_supervised(runs: pd.DataFrame, root: str | Path = ".", split: str = "test", n_resamples: int = 2000,
                     seed: int = 0, confidence: float = 0.95, pages: bool = True) -> pd.DataFrame:
    """One row per (dataset, init, teacher, student, KD method) with its supervised baseline: columns
    :data:`KD_COLUMNS` (module docstring). `pages` False skips the page bootstrap (NaN, noted), e.g. for runs
    without logits files; otherwise a missing logits file is an error naming it."""
    sub = runs[_is(runs, "split", split) & _is(runs, "role", "student")]
    loader = PageCorrectness(root)
    rows: list[dict] = []
    for dataset in _ordered(sub["dataset"], DATASETS):
        ds = sub[_is(sub, "dataset", dataset)]
        for init in _ordered(ds["init"], ("imagenet", "pretrained", "random")):
            part = ds[_is(ds, "init", init)]
            kd = part[part["teacher"].notna() & ~_is(part, "method", "ce")]
            for teacher in list(dict.fromkeys(kd["teacher"])):
                for student in list(dict.fromkeys(kd[_is(kd, "teacher", teacher)]["student"])):
                    base = student_runs(part, teacher, student, "ce", init)
                    cell = kd[_is(kd, "teacher", teacher) & _is(kd, "student", student)]
                    for method in _ordered(cell["method"], TABLE15_METHODS):
                        m_runs = cell[_is(cell, "method", method)]
                        rows.append(_kd_row(dataset, split, init, teacher, student, method, m_runs, base, loader,
                                            n_resamples, seed, confidence, pages))
    out = pd.DataFrame(rows, columns=KD_COLUMNS)
    log.info("KD vs supervised: %d comparisons on %s", len(out), split)
    return out


def _kd_row(dataset: str, split: str, init: str, teacher: str, student: str, method: str, m_runs: pd.DataFrame,
            base: pd.DataFrame, loader: PageCorrectness, n_resamples: int, seed: int, confidence: float,
            pages: bool) -> dict:
    welch = welch_interval(m_runs["accuracy"], base["accuracy"], confidence)
    boot = _page_interval(m_runs, base, loader, split, n_resamples, seed, confidence, pages)
    v_w, v_b = interval_verdict(welch, +1), interval_verdict(boot, +1)
    return {"dataset": dataset, "split": split, "init": init, "teacher": teacher, "student": student,
            "method": method, "label": method_label(method, _hparams_of(m_runs)),
            "n_seeds": int(len(m_runs)), "n_seeds_ce": int(len(base)), "seeds": _seeds(m_runs),
            "seeds_ce": _seeds(base), "accuracy": mean_or_nan(m_runs["accuracy"]),
            "accuracy_std": sample_std(m_runs["accuracy"]),
            "accuracy_ce": mean_or_nan(base["accuracy"]), "accuracy_ce_std": sample_std(base["accuracy"]),
            "delta": welch.estimate, "welch_low": welch.low, "welch_high": welch.high, "welch_df": welch.df,
            "welch_note": welch.note, "boot_low": boot.low, "boot_high": boot.high, "n_pages": boot.n_a,
            "n_resamples": boot.n_resamples, "boot_note": boot.note, "confidence": confidence,
            "verdict_welch": v_w, "verdict_bootstrap": v_b, "verdict": consensus([v_w, v_b])}


def _page_interval(a: pd.DataFrame, b: pd.DataFrame, loader: PageCorrectness, split: str, n_resamples: int,
                   seed: int, confidence: float, pages: bool) -> Interval:
    def none(note: str) -> Interval:
        return Interval(math.nan, math.nan, math.nan, confidence, "paired_bootstrap", 0, 0, n_resamples=0,
                        seed=seed, note=note)

    if a.empty or b.empty:
        return none("no supervised (ce) run to compare with" if b.empty else "no runs of the method")
    if not pages:
        return none("page bootstrap not computed (no per-page logits)")
    (ca, cb), n = loader.matrix([list(a["path"]), list(b["path"])], split)
    if n == 0:
        return none("the runs share no page")
    return paired_bootstrap_accuracy(ca, cb, n_resamples=n_resamples, seed=seed, confidence=confidence)


# ------------------------------------------------------------------------------------------------
# knowledge gap
# ------------------------------------------------------------------------------------------------


def knowledge_gap(runs: pd.DataFrame, kd: pd.DataFrame, root: str | Path = ".", n_resamples: int = 2000,
                  seed: int = 0, confidence: float = 0.95, pages: bool = True) -> pd.DataFrame:
    """One row per (dataset, init, teacher, student) of `kd` (:func:`kd_vs_supervised`'s frame, whose split is
    used): columns :data:`GAP_COLUMNS` (module docstring)."""
    loader = PageCorrectness(root)
    rows = []
    for key, group in kd.groupby(["dataset", "split", "init", "teacher", "student"], sort=False):
        dataset, split, init, teacher, student = key
        scope = runs[_is(runs, "dataset", dataset) & _is(runs, "split", split)]
        t_runs = teacher_runs(scope, teacher, init)
        base = student_runs(scope[_is(scope, "role", "student")], teacher, student, "ce", init)
        ranked = group.dropna(subset=["accuracy"]).sort_values("accuracy", ascending=False, kind="stable")
        row = {"dataset": dataset, "split": split, "init": init, "teacher": teacher, "student": student,
               "accuracy_teacher": mean_or_nan(t_runs["accuracy"]), "n_teacher_runs": int(len(t_runs)),
               "accuracy_ce": mean_or_nan(base["accuracy"]), "accuracy_ce_std": sample_std(base["accuracy"]),
               "n_seeds_ce": int(len(base)), "best_method": None, "best_label": None, "accuracy_best": math.nan,
               "accuracy_best_std": math.nan, "n_seeds_best": 0, "gap": math.nan, "closed": math.nan,
               "fraction_closed": math.nan, "fraction_low": math.nan, "fraction_high": math.nan, "n_pages": 0,
               "n_resamples": 0, "note": ""}
        if ranked.empty or base.empty or t_runs.empty:
            row["note"] = "missing " + ", ".join(w for w, e in (("KD runs", ranked.empty), ("ce runs", base.empty),
                                                                ("teacher runs", t_runs.empty)) if e)
            rows.append(row)
            continue
        best = ranked.iloc[0]
        b_runs = student_runs(scope[_is(scope, "role", "student")], teacher, student, best["method"], init)
        gap = row["accuracy_teacher"] - row["accuracy_ce"]
        closed = float(best["accuracy"]) - row["accuracy_ce"]
        row.update(best_method=best["method"], best_label=best["label"], accuracy_best=float(best["accuracy"]),
                   accuracy_best_std=sample_std(b_runs["accuracy"]), n_seeds_best=int(len(b_runs)), gap=gap,
                   closed=closed)
        if not gap > 0:
            row["note"] = "the teacher is not more accurate than the supervised student: no gap to close"
        else:
            row["fraction_closed"] = closed / gap
            if pages:
                iv = _gap_interval(t_runs, base, b_runs, loader, split, n_resamples, seed, confidence)
                row.update(fraction_low=iv.low, fraction_high=iv.high, n_pages=iv.n_a, n_resamples=iv.n_resamples,
                           note=iv.note)
            else:
                row["note"] = "no interval (no per-page logits)"
        rows.append(row)
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def _gap_interval(t_runs: pd.DataFrame, base: pd.DataFrame, best: pd.DataFrame, loader: PageCorrectness, split: str,
                  n_resamples: int, seed: int, confidence: float) -> Interval:
    (ct, cc, cb), n = loader.matrix([list(t_runs["path"]), list(base["path"]), list(best["path"])], split)
    t, c, b = ct.mean(axis=0), cc.mean(axis=0), cb.mean(axis=0)

    def fraction(idx: np.ndarray) -> float:
        den = t[idx].mean() - c[idx].mean()
        return float((b[idx].mean() - c[idx].mean()) / den) if den > 0 else math.nan

    return bootstrap_interval(fraction, n, n_resamples=n_resamples, seed=seed, confidence=confidence)


# ------------------------------------------------------------------------------------------------
# tables and summary
# ------------------------------------------------------------------------------------------------


def read_interval_csv(path: str | Path) -> pd.DataFrame:
    """An interval frame written as CSV (``metrics/dic_kd_vs_supervised.csv``, ``dic_knowledge_gap.csv``,
    ``report/claim_intervals/*.csv``): ``NaN`` and empty cells are missing, every other text is kept, so the
    verdict ``n/a`` stays a word (pandas would read it as missing by default)."""
    return pd.read_csv(path, keep_default_na=False, na_values=["NaN", ""])

KD_LABELS = {"dataset": "Dataset", "init": "Init", "teacher": "Teacher", "student": "Student", "label": "Method",
              "accuracy": "ACC (KD)", "accuracy_ce": "ACC (CE)", "n_seeds": "n seeds (KD/CE)", "delta": "ΔACC",
              "verdict": "KD more accurate?"}


def kd_display(kd: pd.DataFrame) -> pd.DataFrame:
    """The Markdown / LaTeX view of :func:`kd_vs_supervised`: means ± std, seed counts, ΔACC, both intervals."""
    conf = int(round(100 * float(kd["confidence"].iloc[0]))) if len(kd) else 95
    out = pd.DataFrame({
        "dataset": kd["dataset"], "init": kd["init"], "teacher": kd["teacher"], "student": kd["student"],
        "label": kd["label"], "accuracy": kd["accuracy"], "accuracy_std": kd["accuracy_std"],
        "accuracy_ce": kd["accuracy_ce"], "accuracy_ce_std": kd["accuracy_ce_std"],
        "n_seeds": [f"{a}/{b}" for a, b in zip(kd["n_seeds"], kd["n_seeds_ce"])],
        "delta": kd["delta"],
        f"Welch {conf}% CI (seeds)": [format_interval(lo, hi) for lo, hi in zip(kd["welch_low"], kd["welch_high"])],
        f"bootstrap {conf}% CI (pages)": [format_interval(lo, hi) for lo, hi in zip(kd["boot_low"], kd["boot_high"])],
        "verdict": kd["verdict"]})
    return out.reset_index(drop=True)


GAP_LABELS = {"dataset": "Dataset", "init": "Init", "teacher": "Teacher", "student": "Student",
               "accuracy_teacher": "ACC teacher", "accuracy_ce": "ACC CE", "best_label": "best KD",
               "accuracy_best": "ACC best KD", "gap": "gap", "fraction_closed": "fraction closed"}


def gap_display(gap: pd.DataFrame) -> pd.DataFrame:
    """The Markdown / LaTeX view of :func:`knowledge_gap`."""
    out = gap[["dataset", "init", "teacher", "student", "accuracy_teacher", "accuracy_ce", "accuracy_ce_std",
               "best_label", "accuracy_best", "accuracy_best_std", "gap", "fraction_closed"]].copy()
    out["95% CI (pages)"] = [format_interval(lo, hi, signed=False)
                             for lo, hi in zip(gap["fraction_low"], gap["fraction_high"])]
    out["best_label"] = out["best_label"].fillna("–")
    return out.reset_index(drop=True)


def _family(role: str) -> str:
    return "vit" if role in VIT_TEACHERS or role in VIT_STUDENTS else "cnn"


def extended_rows(kd: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`kd_vs_supervised` that go beyond the paper: the methods of
    :data:`~distildoc.report.dic.EXTENSION_METHODS` (logit standardisation, DIST, DKD) on any pair, and every method
    on a cross-architecture pair (a ViT / DiT teacher with a CNN student or a CNN teacher with a ViT student)."""
    if kd.empty:
        return kd
    cross = [_family(t) != _family(s) for t, s in zip(kd["teacher"], kd["student"])]
    return kd[kd["method"].isin(EXTENSION_METHODS) | pd.Series(cross, index=kd.index)].reset_index(drop=True)


def write_interval_tables(kd: pd.DataFrame, gap: pd.DataFrame, out_dir: str | Path,
                          decimals: int = 3) -> list[Path]:
    """``kd_vs_supervised.{csv,md,tex}``, ``knowledge_gap.{csv,md,tex}`` and ``extended.{csv,md,tex}`` (the rows
    of :func:`extended_rows`) under `out_dir` (the CSVs are the
    Markdown views; the full numeric frames are ``metrics/dic_kd_vs_supervised.csv`` / ``dic_knowledge_gap.csv``)."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    n_res = int(kd["n_resamples"].max()) if len(kd) and kd["n_resamples"].notna().any() else 0
    caption = ("KD vs the supervised student (CE, same architecture and init), test accuracy: means ± sample std "
               "over seeds, ΔACC = mean(KD) − mean(CE), Welch's interval across seeds (– with fewer than 2 seeds on "
               f"a side or zero variance), paired bootstrap over test pages ({n_res} resamples, seeds averaged per "
               "page). Verdict for 'KD is more accurate': agrees / disagrees when every defined interval lies "
               "above / below 0, inconclusive otherwise.")
    paths = write_table(kd_display(kd), out_dir / "kd_vs_supervised", caption, "tab:dic_kd_vs_supervised",
                        decimals=decimals, midrule_on="teacher", labels=KD_LABELS)
    written += list(paths.values())
    caption = ("Knowledge gap: teacher accuracy, the supervised student (CE, mean ± std over seeds), the best KD "
               "method by mean accuracy, gap = teacher − CE and the fraction of it closed, (best − CE) / gap, with a "
               "paired bootstrap interval over test pages (seeds and the choice of the best method held fixed; the "
               "best method is chosen on the same pages, so the fraction is optimistic). – : no gap or no runs.")
    paths = write_table(gap_display(gap), out_dir / "knowledge_gap", caption, "tab:dic_knowledge_gap",
                        decimals=decimals, labels=GAP_LABELS)
    written += list(paths.values())
    ext = extended_rows(kd)
    caption = ("Extended (beyond the paper): logit-standardised KD / NKD (Sun et al. 2024), DIST (Huang et al. 2022), "
               "DKD (Zhao et al. 2022) on any pair, and every method on a cross-architecture pair (ViT / DiT teacher -> "
               "CNN student, CNN teacher -> ViT student); columns as in the KD-vs-supervised table.")
    paths = write_table(kd_display(ext), out_dir / "extended", caption, "tab:dic_extended", decimals=decimals,
                        midrule_on="teacher", labels=KD_LABELS)
    written += list(paths.values())
    return written


def interval_summary(kd: pd.DataFrame, gap: pd.DataFrame) -> dict:
    """For ``metrics/dic.json``: per dataset and init, the verdict counts of KD vs supervised and each knowledge
    gap row (fraction closed and its interval; JSON null for NaN)."""

    def num(x) -> float | None:
        return None if x is None or (isinstance(x, float) and math.isnan(x)) or pd.isna(x) else float(x)

    out: dict = {}
    for (dataset, init), part in kd.groupby(["dataset", "init"], sort=False):
        counts = {v: int((part["verdict"] == v).sum()) for v in ("agrees", "disagrees", "inconclusive", NA)}
        out.setdefault(dataset, {}).setdefault(init, {})["kd_vs_supervised"] = {
            "verdicts": counts, "n_comparisons": int(len(part)),
            "mean_delta": num(part["delta"].mean()) if part["delta"].notna().any() else None}
    for r in gap.itertuples(index=False):
        cell = out.setdefault(r.dataset, {}).setdefault(r.init, {}).setdefault("knowledge_gap", {})
        cell[f"{r.teacher}->{r.student}"] = {
            "teacher": num(r.accuracy_teacher), "ce": num(r.accuracy_ce), "best_method": r.best_method,
            "best": num(r.accuracy_best), "fraction_closed": num(r.fraction_closed),
            "fraction_low": num(r.fraction_low), "fraction_high": num(r.fraction_high)}
    return out


# ------------------------------------------------------------------------------------------------
# Table 15 (RVL-CDIP-N) comparisons for the claims
# ------------------------------------------------------------------------------------------------

RESPONSE_METHODS = ("ce_kd", "nkd", "mse", "ce_distildoc")
FEATURE_METHODS = ("fitnet", "simkd_cls_mlp", "simkd_cnn", "simkd_identity")
T15_COLUMNS = ["comparison", "metric", "a", "b", "expected_sign", "estimate", "low", "high", "n_runs_a", "n_runs_b",
               "n_pages", "n_resamples", "note", "verdict"]


def table15_intervals(runs: pd.DataFrame, root: str | Path = ".", split: str = "rvl_n", n_resamples: int = 2000,
                      ece_resamples: int = 200, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Paired bootstrap intervals over the RVL-CDIP-N pages for the Table 15 claims (every RVL-CDIP student run
    with that split, all teachers, students, seeds and inits: Table 15's pooling; a method's per-page value is
    the mean over its runs, so the estimates are Table 15's numbers). Rows (columns :data:`T15_COLUMNS`):

    * ``simkd_cnn_best`` — ACC(simkd_cnn) − ACC(m) for every other method m, expected > 0;
    * ``mse_worst`` — ACC(mse) − ACC(m), expected < 0;
    * ``response_vs_feature`` — mean ECE of the response-based methods − that of the feature-based ones
      (each method's ECE the mean over its runs, recomputed on every resample with the metrics' own ECE,
      `ece_resamples` resamples), expected < 0.

    Welch intervals are not used here: the pooled runs differ in teacher and student, not only in seed.
    """
    rvl = runs[_is(runs, "dataset", "rvl") & _is(runs, "role", "student") & _is(runs, "split", split)]
    paths = {m: list(rvl[_is(rvl, "method", m)]["path"]) for m in TABLE15_METHODS}
    paths = {m: p for m, p in paths.items() if p}
    loader = PageCorrectness(root)
    rows: list[dict] = []
    for target, name, sign in (("simkd_cnn", "simkd_cnn_best", +1), ("mse", "mse_worst", -1)):
        if target not in paths:
            continue
        for other in (m for m in paths if m != target):
            (ca, cb), n = loader.matrix([paths[target], paths[other]], split)
            iv = (paired_bootstrap_accuracy(ca, cb, n_resamples=n_resamples, seed=seed, confidence=confidence)
                  if n else Interval(math.nan, math.nan, math.nan, confidence, "paired_bootstrap", 0, 0,
                                     note="the runs share no page"))
            rows.append(_t15_row(name, "ACC", target, other, sign, iv, len(paths[target]), len(paths[other])))
    resp = [m for m in RESPONSE_METHODS if m in paths]
    feat = [m for m in FEATURE_METHODS if m in paths]
    if resp and feat:
        iv = _group_ece_interval([paths[m] for m in resp], [paths[m] for m in feat], loader, split, ece_resamples,
                                 seed, confidence)
        rows.append(_t15_row("response_vs_feature", "ECE", "+".join(resp), "+".join(feat), -1, iv,
                             sum(len(paths[m]) for m in resp), sum(len(paths[m]) for m in feat)))
    return pd.DataFrame(rows, columns=T15_COLUMNS)


def _t15_row(name: str, metric: str, a: str, b: str, sign: int, iv: Interval, n_a: int, n_b: int) -> dict:
    return {"comparison": name, "metric": metric, "a": a, "b": b, "expected_sign": sign, "estimate": iv.estimate,
            "low": iv.low, "high": iv.high, "n_runs_a": n_a, "n_runs_b": n_b, "n_pages": iv.n_a,
            "n_resamples": iv.n_resamples, "note": iv.note, "verdict": interval_verdict(iv, sign)}


def _group_ece_interval(resp: list[list[str]], feat: list[list[str]], loader: PageCorrectness, split: str,
                        n_resamples: int, seed: int, confidence: float) -> Interval:
    groups = resp + feat
    correct, n = loader.matrix(groups, split, "correct")
    conf, _ = loader.matrix(groups, split, "confidence")

    def group_mean(idx: np.ndarray, members: range) -> float:
        return float(np.mean([np.mean([calibration_error_from_confidences(conf[g][r, idx], correct[g][r, idx])
                                       for r in range(conf[g].shape[0])]) for g in members]))

    def diff(idx: np.ndarray) -> float:
        return group_mean(idx, range(len(resp))) - group_mean(idx, range(len(resp), len(groups)))

    return bootstrap_interval(diff, n, n_resamples=n_resamples, seed=seed, confidence=confidence)
