"""The paper's published numbers (``data/published/*.csv``) side by side with this run's: comparison views.

Each published table is a CSV with *key* columns that join with the run tables (DIC: ``teacher``,
``student``, ``method``; DLA: ``dla_model``; DocVQA: ``prompt``, ``dla_model``), the paper's printed label,
its metric columns, ``bold`` (the metrics the paper prints in bold, ``;``-separated) and ``note``
(copy errors, mappings). ``data/published/README.md`` says where each value comes from.

A comparison view (:func:`compare`) has one row per published row (plus this run's rows the paper does
not have), the keys, the paper's label, and per metric ``<M> (paper)``, ``<M> (ours)`` and ``<M> Δ``
(ours − paper). Scales are the paper's: accuracy / ECE / AURC as fractions, mAP and ANLS × 100.
Run-only metrics (:data:`OURS_ONLY`, e.g. Table 3's ``mAP_publaynet``, the layout models on real PubLayNet pages)
follow the headline metric where this run's table has them; their "(paper)" and "Δ" values are NaN ('–').
:func:`write_comparisons` writes every view with :func:`distildoc.report.tables.write_table` under
``results/<preset>/report/compare/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import dic as dic_report
from .tables import write_table

log = logging.getLogger(__name__)

#: repository folder of the published numbers
PUBLISHED_DIR = Path(__file__).resolve().parents[3] / "data" / "published"

DIC_KEYS = ("teacher", "student", "method")
DLA_KEYS = ("dla_model",)
DOCVQA_KEYS = ("prompt", "dla_model")
RVL_METRICS = ("ACC", "AURC", "ECE")
TOBACCO_METRICS = ("ACC", "ECE", "AURC")
DLA_METRICS = ("mAP", "GFLOPs", "params_M", "images_per_second")
#: metrics this run measures and the paper does not print, per published table: not required in (and parsed
#: as numbers when present in) ``data/published/<name>.csv``; a view shows them only where this run's table has
#: the column. ``mAP_publaynet``: bbox mAP (0-100) of the layout models on the real PubLayNet pages
#: (``dla.real_eval.publaynet``, rule dla_eval_publaynet), next to the synthetic mAP; PRImA runs have none.
OURS_ONLY: dict[str, tuple[str, ...]] = {"table3": ("mAP_publaynet",), "table13": ("mAP_publaynet",)}
#: what a run-only metric is, for the view's caption
OURS_ONLY_NOTES = {"mAP_publaynet": "bbox mAP (0-100) of the same models on real PubLayNet pages, DocLayNet "
                                    "classes mapped to PubLayNet's 5 (not in the paper, no paper value)"}


@dataclass(frozen=True)
class PublishedTable:
    """One published table: its file stem, join keys, metric columns (in the paper's order), caption."""

    name: str
    keys: tuple[str, ...]
    metrics: tuple[str, ...]
    caption: str


#: every published table, keyed by its file stem
PUBLISHED: dict[str, PublishedTable] = {t.name: t for t in (
    PublishedTable("table3", DLA_KEYS, DLA_METRICS, "Table 3: DLA-KD on DocLayNet (validation), bbox mAP"),
    PublishedTable("table4_docvqa", DOCVQA_KEYS, ("anls",), "Table 4: SP-DocVQA validation ANLS × 100"),
    PublishedTable("table4_infovqa", DOCVQA_KEYS, ("anls",), "Table 4: InfographicVQA validation ANLS × 100"),
    PublishedTable("table6_vitb", DIC_KEYS, RVL_METRICS, "Table 6 (left): RVL-CDIP, ViT-B teacher"),
    PublishedTable("table6_ditb", DIC_KEYS, RVL_METRICS, "Table 6 (right): RVL-CDIP, DiT-B teacher"),
    PublishedTable("table9", DIC_KEYS, RVL_METRICS, "Table 9: RVL-CDIP, R101 → R50"),
    PublishedTable("table10_r101", DIC_KEYS, TOBACCO_METRICS, "Table 10: Tobacco-3482, R101 → R50"),
    PublishedTable("table11_vitb", DIC_KEYS, TOBACCO_METRICS, "Table 11: Tobacco-3482, ViT-B → ViT-S/T"),
    PublishedTable("table12_ditb", DIC_KEYS, TOBACCO_METRICS, "Table 12: Tobacco-3482, DiT-B → ViT-S/T"),
    PublishedTable("table13", DLA_KEYS, ("mAP",), "Table 13: DLA-KD on PRImA, mAP"),
    PublishedTable("table15", ("method",), TOBACCO_METRICS, "Table 15: RVL-CDIP-N, mean per method"),
    PublishedTable("table16", DOCVQA_KEYS, ("anls",), "Table 16: SP-DocVQA ANLS × 100 per prompt and DLA model"),
    PublishedTable("table17", DOCVQA_KEYS, ("anls",), "Table 17: InfographicVQA ANLS × 100 per prompt and DLA model"),
    PublishedTable("table18", DIC_KEYS, RVL_METRICS, "Table 18: RVL-CDIP, ViT-B → random-init ViT-S/T"),
    PublishedTable("table19", DIC_KEYS, RVL_METRICS, "Table 19: RVL-CDIP, R101 → random-init R50"),
)}


# ------------------------------------------------------------------------------------------------
# published numbers
# ------------------------------------------------------------------------------------------------


def load_published(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """``<root>/<name>.csv`` (default: the repository's ``data/published``) with its keys as strings ('' for
    an empty key, e.g. a teacher row's student) and its metrics as floats; errors name the file and column.
    The run-only metrics of :data:`OURS_ONLY` may be absent (floats when present)."""
    if name not in PUBLISHED:
        raise KeyError(f"unknown published table {name!r}; known: {sorted(PUBLISHED)}")
    spec = PUBLISHED[name]
    path = Path(root or PUBLISHED_DIR) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"published numbers missing: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in (*spec.keys, *spec.metrics) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing} (has {list(df.columns)})")
    numeric = [*spec.metrics, *(c for c in df.columns if c.startswith("anls_") and c not in spec.metrics),
               *(c for c in OURS_ONLY.get(name, ()) if c in df.columns and c not in spec.metrics)]
    for c in numeric:
        try:
            df[c] = pd.to_numeric(df[c].replace({"": None, "NaN": None}), errors="raise").astype(float)
        except ValueError as err:
            raise ValueError(f"{path}: column {c!r} is not numeric ({err})") from None
    if df.duplicated(list(spec.keys)).any() and "suspect" not in df.columns:
        dup = df[df.duplicated(list(spec.keys), keep=False)][list(spec.keys)].to_dict("records")
        raise ValueError(f"{path}: duplicate key rows {dup}")
    return df


# ------------------------------------------------------------------------------------------------
# this run's values in the published tables' shape
# ------------------------------------------------------------------------------------------------


def dic_table_keyed(table: pd.DataFrame) -> pd.DataFrame:
    """A DIC stage table (:mod:`distildoc.report.dic`) with the join keys teacher / student / method."""
    out = table.copy()
    out["teacher"] = out["Teacher"].fillna("").astype(str)
    out["student"] = out["Student"].fillna("").astype(str)
    out["method"] = out["method_key"].astype(str)
    return out


def ours_dic(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    """This run's values for a published DIC table (table6_vitb ... table19, table15), from ``dic_runs.csv``."""
    if name.startswith("table6"):
        t = dic_table_keyed(dic_report.table6(runs, dic_report.table_init(runs, "table6")))
        teacher = "ViT-B" if name.endswith("vitb") else "DiT-B"
        return t[t["teacher"] == teacher]
    if name == "table9":
        return dic_table_keyed(dic_report.table9(runs, dic_report.table_init(runs, "table9")))
    if name.startswith(("table10", "table11", "table12")):
        teacher = {"table10_r101": "R101", "table11_vitb": "ViT-B", "table12_ditb": "DiT-B"}[name]
        return dic_table_keyed(dic_report.tables10_12(runs, dic_report.table_init(runs, name))[teacher])
    if name == "table18":
        t = dic_table_keyed(dic_report.tables18_19(runs)[0])
        return t[t["teacher"] == "ViT-B"]
    if name == "table19":
        return dic_table_keyed(dic_report.tables18_19(runs)[1])
    if name == "table15":
        t = dic_report.table15(runs).rename(columns={"method_key": "method"})
        teach = runs[(runs["role"] == "teacher") & (runs["split"] == "rvl_n") & (runs["dataset"] == "rvl")]
        if not teach.empty:  # the paper's Table 15 starts with the teachers' mean
            row = {"method": "supervised", "Method": "Teacher", "n runs": len(teach),
                   **{m: float(teach[dic_report.METRIC_COLUMNS[m]].mean()) for m in TOBACCO_METRICS}}
            t = pd.concat([pd.DataFrame([row]), t], ignore_index=True)
        return t
    raise KeyError(f"{name!r} is not a DIC table")


def ours_dla(dla_runs: pd.DataFrame) -> pd.DataFrame:
    """``dla_runs.csv`` keyed by ``dla_model`` with the published column names (mAP × 100 already)."""
    need = ["teacher", "role", "method", "mAP", "gflops", "params_M", "images_per_second"]
    missing = [c for c in need if c not in dla_runs.columns]
    if missing:
        raise ValueError(f"dla_runs.csv: missing column(s) {missing} (has {list(dla_runs.columns)})")
    out = dla_runs.copy()
    out["dla_model"] = out["teacher"].astype(str) + "__" + out["role"].astype(str) + "__" + out["method"].astype(str)
    return out.rename(columns={"gflops": "GFLOPs"})


def ours_docvqa(docvqa_runs: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """The cells of `dataset` in ``docvqa_runs.csv`` (ANLS columns × 100, the paper's scale)."""
    need = ["dataset", "prompt", "dla_model", "anls"]
    missing = [c for c in need if c not in docvqa_runs.columns]
    if missing:
        raise ValueError(f"docvqa_runs.csv: missing column(s) {missing} (has {list(docvqa_runs.columns)})")
    sub = docvqa_runs[docvqa_runs["dataset"] == dataset].copy() if dataset else docvqa_runs.iloc[0:0].copy()
    for c in [c for c in sub.columns if c == "anls" or c.startswith("anls_")]:
        sub[c] = pd.to_numeric(sub[c], errors="coerce") * 100.0
    return sub


# ------------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------------


def compare(published: pd.DataFrame, ours: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str],
            label: str = "label", keep_ours_only: bool = True) -> pd.DataFrame:
    """Paper vs this run: keys, the paper's label, then per metric ``<M> (paper)``, ``<M> (ours)``, ``<M> Δ``.

    Rows follow the published order; this run's rows with keys the paper lacks follow (``keep_ours_only``).
    A published key repeated (a copy error kept as printed) matches the same run row each time. A metric
    missing from `ours` gives NaN "ours" values; one missing from `published` (a run-only metric,
    :data:`OURS_ONLY`) NaN "paper" values and differences.
    """
    keys = list(keys)
    for name, frame in (("published", published), ("ours", ours)):
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise KeyError(f"compare: {name} table lacks key column(s) {missing} (has {list(frame.columns)})")
    pub = published.copy()
    run = ours.copy()
    for k in keys:
        pub[k] = pub[k].fillna("").astype(str)
        run[k] = run[k].fillna("").astype(str)
    run = run.drop_duplicates(keys)
    run_cols = {m: f"{m} (ours)" for m in metrics}
    run_view = run[keys].copy()
    for m in metrics:
        run_view[run_cols[m]] = pd.to_numeric(run[m], errors="coerce").astype(float) if m in run.columns else np.nan
    pub_view = pub[keys].copy()
    pub_view["label"] = pub[label].astype(str) if label in pub.columns else ""
    for m in metrics:
        pub_view[f"{m} (paper)"] = pd.to_numeric(pub[m], errors="coerce").astype(float) if m in pub.columns \
            else np.nan
    pub_view["_order"] = range(len(pub_view))
    merged = pub_view.merge(run_view, on=keys, how="outer" if keep_ours_only else "left", sort=False)
    merged["in_paper"] = merged["_order"].notna()
    merged["_order"] = merged["_order"].fillna(len(pub_view) + 1e6)
    merged = merged.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    merged["label"] = merged["label"].fillna("(not in the paper)")
    cols = [*keys, "label"]
    for m in metrics:
        merged[f"{m} Δ"] = merged[run_cols[m]] - merged[f"{m} (paper)"]
        cols += [f"{m} (paper)", run_cols[m], f"{m} Δ"]
    return merged[cols + ["in_paper"]]


def comparison_views(dic_runs: pd.DataFrame | None, dla_runs: pd.DataFrame | None,
                     docvqa_runs: pd.DataFrame | None, docvqa_datasets: Mapping[str, str | None] | None = None,
                     published_root: str | Path | None = None,
                     dla_prima_runs: pd.DataFrame | None = None) -> dict[str, tuple[pd.DataFrame, str]]:
    """Every comparison view: ``{published table name: (view, caption)}``.

    `docvqa_datasets` maps ``"table16"`` / ``"table17"`` to this run's dataset name for that table (None:
    the preset has no such dataset; its views have no "ours" values). A missing run table (None) gives
    views with NaN "ours" values; so does Table 13 (PRImA, `dla_prima_runs` = ``dla_prima_runs.csv``) in the
    embedded presets, which have no PRImA run. A run-only metric (:data:`OURS_ONLY`) follows the table's
    first (headline) metric where the run table has its column (Table 3: ``mAP_publaynet`` after ``mAP`` when
    ``dla.real_eval`` is on).
    """
    docvqa_datasets = dict(docvqa_datasets or {})
    views: dict[str, tuple[pd.DataFrame, str]] = {}
    for name, spec in PUBLISHED.items():
        pub = load_published(name, published_root)
        metrics = list(spec.metrics)
        if spec.keys == DIC_KEYS or name == "table15":
            ours = ours_dic(dic_runs, name) if dic_runs is not None and not dic_runs.empty \
                else pd.DataFrame(columns=list(spec.keys))
        elif name in ("table3", "table13"):  # DocLayNet / PRImA
            runs = dla_runs if name == "table3" else dla_prima_runs
            ours = ours_dla(runs) if runs is not None else pd.DataFrame(columns=list(spec.keys))
        else:
            table = "table17" if name in ("table17", "table4_infovqa") else "table16"
            ds = docvqa_datasets.get(table)
            ours = ours_docvqa(docvqa_runs, ds) if docvqa_runs is not None else pd.DataFrame(columns=list(spec.keys))
            if name.startswith("table4"):  # Table 4 is the task-prompt part of Tables 16/17
                ours = ours[ours["prompt"].isin(["task", "task_space"])] if len(ours) else ours
            metrics = ["anls"] + [c for c in pub.columns if c.startswith("anls_")]
        # run-only metrics right after the headline metric (Table 3: real-page mAP next to the synthetic mAP)
        extra = [m for m in OURS_ONLY.get(name, ()) if m in ours.columns and m not in metrics]
        metrics[1:1] = extra
        keep_extra = not name.startswith("table4") and name != "table15"
        view = compare(pub, ours, spec.keys, metrics, keep_ours_only=keep_extra)
        if name.startswith("table4") and len(ours):
            table4_models = set(pub["dla_model"])
            view = view[view["dla_model"].isin(table4_models)].reset_index(drop=True)
        caption = (f"{spec.caption}: the paper's value, this run's value and the difference (ours − paper). "
                   "Rows the paper does not have are marked '(not in the paper)'; '–': no value.")
        caption += "".join(f" {m}: {OURS_ONLY_NOTES.get(m, 'not in the paper')}." for m in extra)
        views[name] = (view, caption)
    return views


def write_comparisons(views: Mapping[str, tuple[pd.DataFrame, str]], out_dir: str | Path,
                      decimals: int = 3) -> list[Path]:
    """Write every view as ``<out_dir>/<name>.{csv,md,tex}`` (mAP / ANLS views with 2 decimals)."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    for name, (view, caption) in views.items():
        dec = 2 if name.startswith(("table3", "table4", "table13", "table16", "table17")) else decimals
        paths = write_table(view, out_dir / name, caption, f"tab:compare_{name}", decimals=dec,
                            hidden=("in_paper",))
        written += list(paths.values())
    log.info("wrote %d comparison files under %s", len(written), out_dir)
    return written


def mean_abs_difference(view: pd.DataFrame) -> dict[str, float | None]:
    """Mean |Δ| per metric of a comparison view over the rows both have (None, JSON null, when none): a DVC
    metric."""
    out: dict[str, float | None] = {}
    for c in view.columns:
        if c.endswith(" Δ"):
            v = pd.to_numeric(view[c], errors="coerce").abs().dropna()
            out[c[: -len(" Δ")]] = float(v.mean()) if len(v) else None
    return out


# ------------------------------------------------------------------------------------------------
# the tables the claims are checked on
# ------------------------------------------------------------------------------------------------


def claim_tables_ours(dic_runs: pd.DataFrame | None, dla_runs: pd.DataFrame | None,
                      docvqa_runs: pd.DataFrame | None) -> dict[str, pd.DataFrame | None]:
    """This run's ``{"table6", "table15", "table3", "table4"}`` frames for :func:`distildoc.report.claims.check_claims`
    (DocVQA: every dataset's cells, ANLS × 100)."""
    out: dict[str, pd.DataFrame | None] = {"table6": None, "table15": None, "table3": None, "table4": None}
    if dic_runs is not None and not dic_runs.empty:
        out["table6"] = pd.concat([ours_dic(dic_runs, "table6_vitb"), ours_dic(dic_runs, "table6_ditb")],
                                  ignore_index=True)
        out["table15"] = ours_dic(dic_runs, "table15")
    if dla_runs is not None and not dla_runs.empty:
        out["table3"] = ours_dla(dla_runs)
    if docvqa_runs is not None and not docvqa_runs.empty:
        out["table4"] = pd.concat([ours_docvqa(docvqa_runs, ds) for ds in docvqa_runs["dataset"].unique()],
                                  ignore_index=True)
    return out


def claim_tables_published(root: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """The published counterparts of :func:`claim_tables_ours`."""
    return {"table6": pd.concat([load_published("table6_vitb", root), load_published("table6_ditb", root)],
                                ignore_index=True),
            "table15": load_published("table15", root),
            "table3": load_published("table3", root),
            "table4": pd.concat([load_published("table4_docvqa", root), load_published("table4_infovqa", root)],
                                ignore_index=True)}
