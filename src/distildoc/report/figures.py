"""The paper's figures from the run tables (matplotlib, Agg backend; each saved as PNG and PDF).

* :func:`id_vs_ood_figure`: three scatter panels (accuracy, ECE, AURC), in-distribution (RVL-CDIP test) vs
  RVL-CDIP-N, one point per student run coloured by method, teachers as black stars, the diagonal dashed.
* :func:`ood_boxplot_figure`: RVL-CDIP-N box plots of accuracy, ECE, AURC and relative runtime (a student's
  ``train_seconds`` over the supervised ``ce`` student of the same architecture and dataset) grouped by KD
  approach (response: ce_kd, nkd, mse, ce_distildoc; feature: fitnet, simkd_*), by teacher or by student.
* :func:`dla_efficiency_figure`: layout models, mAP vs GFLOPs and vs images/s, marker per method.
* :func:`anls_vs_map_figure`: ANLS of every DLA-tagged DocVQA cell vs the mAP of its layout model, one
  series per prompt type, the prompt's no-DLA ANLS as a dotted line.
* :func:`reliability_figure`: reliability diagrams (equal-mass bins, :func:`distildoc.evaluate.classification.
  calibration_bins`) of a teacher and its students (the main tables' init, one seed per method), from the runs'
  ``logits_<split>.npz``.

With several seeds, the scatter and box plots show every run (one point per seed).

Every builder returns a :class:`matplotlib.figure.Figure` (tests inspect axes labels and legends);
:func:`save_figure` writes it atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .. import catalogue  # noqa: E402
from ..evaluate.classification import calibration_bins, expected_calibration_error, softmax  # noqa: E402
from ..utils.io import atomic_path  # noqa: E402
from .dic import main_init  # noqa: E402

log = logging.getLogger(__name__)

RESPONSE = ("ce_kd", "nkd", "mse", "ce_distildoc")
FEATURE = ("fitnet", "simkd_cls_mlp", "simkd_cnn", "simkd_identity")
METHOD_ORDER = ("ce", "ce_distildoc", "ce_kd", "nkd", "mse", "fitnet", "simkd_cls_mlp", "simkd_cnn", "simkd_identity")
METHOD_NAMES = {"supervised": "teacher", "ce": "CE", "ce_distildoc": "CE [DistilDoc code]", "ce_kd": "Vanilla KD",
                "nkd": "NKD", "mse": "MSE", "fitnet": "FitNet", "simkd_cls_mlp": "SimKD [CLS+MLP]",
                "simkd_cnn": "SimKD [CNN]", "simkd_identity": "SimKD [∅]"}
METRICS = (("accuracy", "accuracy"), ("ece", "ECE"), ("aurc", "AURC"))
DLA_MARKERS = {"supervised": "o", "simkd_fpn": "s", "reviewkd": "^", "pkd": "D"}
DLA_METHOD_NAMES = {**{m.key: m.label for m in catalogue.DETECTION_METHODS}, "supervised": "supervised"}
PROMPT_NAMES = {"plain": "plain", "space": "space", "task": "task", "task_space": "task+space"}
ROLE_SHORT = {r.name: r.backbone for r in catalogue.DETECTOR_ROLES}


def _colors(keys: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {k: cmap(i % 10) for i, k in enumerate(keys)}


def _require(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: missing column(s) {missing} (has {list(df.columns)})")


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (150 dpi) and ``<stem>.pdf`` atomically; closes the figure."""
    stem = Path(stem)
    paths = []
    for ext in ("png", "pdf"):
        path = stem.with_name(f"{stem.name}.{ext}")
        with atomic_path(path, suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    log.info("figure %s", ", ".join(str(p) for p in paths))
    return paths


def _paired(dic_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per RVL-CDIP run with ``<metric>_id`` (test) and ``<metric>_ood`` (rvl_n) columns."""
    _require(dic_runs, ["path", "dataset", "role", "teacher", "student", "method", "split", "accuracy", "ece",
                        "aurc"], "dic_runs.csv")
    rvl = dic_runs[dic_runs["dataset"] == "rvl"]
    keys = ["path", "role", "teacher", "student", "method"]
    cols = ["accuracy", "ece", "aurc"]
    extra = [c for c in ("train_seconds", "init", "seed") if c in rvl.columns]
    ind = rvl[rvl["split"] == "test"][keys + cols + extra]
    ood = rvl[rvl["split"] == "rvl_n"][["path"] + cols]
    return ind.merge(ood, on="path", suffixes=("_id", "_ood"))


# ------------------------------------------------------------------------------------------------
# classification
# ------------------------------------------------------------------------------------------------


def id_vs_ood_figure(dic_runs: pd.DataFrame) -> Figure:
    """In-distribution (RVL-CDIP test) vs RVL-CDIP-N accuracy, ECE and AURC per run; teachers as stars."""
    runs = _paired(dic_runs)
    if runs.empty:
        raise ValueError("dic_runs.csv: no RVL-CDIP run has both a test and an rvl_n split")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    students = runs[runs["role"] == "student"]
    methods = [m for m in METHOD_ORDER if m in set(students["method"])] + \
        sorted(set(students["method"]) - set(METHOD_ORDER))
    colors = _colors(methods)
    for ax, (metric, title) in zip(axes, METRICS):
        for m in methods:
            sub = students[students["method"] == m]
            ax.scatter(sub[f"{metric}_id"], sub[f"{metric}_ood"], color=colors[m], s=30, alpha=0.8,
                       label=METHOD_NAMES.get(m, m))
        teach = runs[runs["role"] == "teacher"]
        ax.scatter(teach[f"{metric}_id"], teach[f"{metric}_ood"], marker="*", s=220, color="black",
                   edgecolors="white", linewidths=0.5, label="teacher", zorder=5)
        for r in teach.itertuples():
            ax.annotate(str(r.teacher), (getattr(r, f"{metric}_id"), getattr(r, f"{metric}_ood")),
                        textcoords="offset points", xytext=(6, 4), fontsize=8)
        vals = np.concatenate([runs[f"{metric}_id"].to_numpy(float), runs[f"{metric}_ood"].to_numpy(float)])
        lo, hi = float(np.nanmin(vals)), float(np.nanmax(vals))
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="grey", lw=0.8)
        ax.set_xlabel(f"{title} (RVL-CDIP test, in-distribution)")
        ax.set_ylabel(f"{title} (RVL-CDIP-N, covariate shift)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False, fontsize=9)
    fig.suptitle("In-distribution vs out-of-distribution per run (dashed: y = x)")
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    return fig


def relative_runtime(runs: pd.DataFrame) -> pd.Series:
    """Per student run: its ``train_seconds`` over the mean of the supervised ``ce`` runs of the same student
    architecture (NaN without one)."""
    if "train_seconds" not in runs.columns:
        return pd.Series(np.nan, index=runs.index)
    base = runs[runs["method"] == "ce"].groupby("student")["train_seconds"].mean()
    return runs["train_seconds"] / runs["student"].map(base)


def ood_boxplot_figure(dic_runs: pd.DataFrame, by: str) -> Figure:
    """RVL-CDIP-N accuracy, ECE, AURC and relative runtime of the student runs, grouped `by` "approach"
    (response vs feature KD), "teacher" or "student"."""
    if by not in ("approach", "teacher", "student"):
        raise ValueError(f"by must be 'approach', 'teacher' or 'student', got {by!r}")
    runs = _paired(dic_runs)
    runs = runs[runs["role"] == "student"].copy()
    runs["relative_runtime"] = relative_runtime(runs)
    if by == "approach":
        runs["group"] = runs["method"].map(lambda m: "response" if m in RESPONSE else
                                           "feature" if m in FEATURE else None)
        groups = ["response", "feature"]
    else:
        runs = runs[runs["method"] != "ce"] if by == "teacher" else runs
        runs["group"] = runs[by].fillna("none")
        groups = sorted(set(runs["group"]))
    runs = runs[runs["group"].notna()]
    if runs.empty:
        raise ValueError(f"dic_runs.csv: no student runs with an rvl_n split to group by {by}")
    panels = [("accuracy_ood", "accuracy"), ("ece_ood", "ECE"), ("aurc_ood", "AURC"),
              ("relative_runtime", "runtime / supervised CE")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    colors = _colors(groups)
    for ax, (col, title) in zip(axes, panels):
        data = [runs.loc[runs["group"] == g, col].dropna().to_numpy(float) for g in groups]
        bp = ax.boxplot([d if len(d) else [np.nan] for d in data], patch_artist=True, widths=0.6)
        ax.set_xticks(range(1, len(groups) + 1), groups)
        for patch, g in zip(bp["boxes"], groups):
            patch.set_facecolor(colors[g])
            patch.set_alpha(0.6)
        for i, d in enumerate(data, start=1):  # the runs themselves, jittered
            ax.scatter(np.full(len(d), i) + np.linspace(-0.12, 0.12, len(d)) if len(d) > 1 else [i] * len(d), d,
                       s=10, color="black", alpha=0.6, zorder=3)
        ax.set_title(title)
        ax.set_xlabel({"approach": "KD approach", "teacher": "teacher", "student": "student"}[by])
        ax.set_ylabel(f"{title} (RVL-CDIP-N)" if col != "relative_runtime" else title)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(f"RVL-CDIP-N (covariate shift), student runs by {by}")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def _logits_file(metrics_path: str | Path, split: str) -> Path:
    return Path(metrics_path).parent / f"logits_{split}.npz"


def _one_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """Per method, the run with the lowest seed (one diagram per method, not one per seed)."""
    if "seed" not in runs.columns or runs.empty:
        return runs
    return runs.sort_values("seed", kind="stable").drop_duplicates("method", keep="first")


def reliability_figure(dic_runs: pd.DataFrame, teacher: str, student: str | None = None, split: str = "test",
                       n_bins: int = 10, root: str | Path = ".") -> Figure:
    """Reliability diagrams (equal-mass bins; bar: accuracy per bin at its mean confidence) of `teacher` and
    its students of architecture `student` (default: the first one) on RVL-CDIP `split`, from the runs'
    ``logits_<split>.npz`` (paths relative to `root`). Students of the main tables' init
    (:func:`distildoc.report.dic.main_init`) and, per method, the lowest seed."""
    _require(dic_runs, ["path", "dataset", "role", "teacher", "student", "method", "split"], "dic_runs.csv")
    rvl = dic_runs[(dic_runs["dataset"] == "rvl") & (dic_runs["split"] == split)]
    if "init" in rvl.columns:
        init = main_init(dic_runs, "rvl")
        rvl = rvl[(rvl["role"] == "teacher") | (rvl["init"] == init)]
    t_run = rvl[(rvl["role"] == "teacher") & (rvl["teacher"] == teacher)]
    studs = rvl[(rvl["role"] == "student") & (rvl["teacher"] == teacher)]
    if student is None:
        student = sorted(set(studs["student"].dropna()))[0] if not studs.empty else None
    studs = _one_seed(studs[studs["student"] == student])
    ce = _one_seed(rvl[(rvl["role"] == "student") & rvl["teacher"].isna() & (rvl["student"] == student)
                       & (rvl["method"] == "ce")])
    entries = [(f"{teacher} (teacher)", r.path) for r in t_run.itertuples()][:1]
    entries += [(f"{student} CE", r.path) for r in ce.itertuples()][:1]
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    for r in sorted(studs.itertuples(), key=lambda r: order.get(r.method, 99)):
        entries.append((f"{student} {METHOD_NAMES.get(r.method, r.method)}", r.path))
    if not entries:
        raise ValueError(f"dic_runs.csv: no runs of teacher {teacher!r} on rvl {split}")
    ncol = min(4, len(entries))
    nrow = int(np.ceil(len(entries) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.4 * nrow), squeeze=False)
    for ax in axes.flat[len(entries):]:
        ax.set_visible(False)
    for ax, (title, path) in zip(axes.flat, entries):
        f = Path(root) / _logits_file(path, split)
        if not f.exists():
            raise FileNotFoundError(f"{f}: logits of run {path} on {split} (dic_runs.csv path column)")
        with np.load(f) as z:
            logits, labels = z["logits"], z["labels"]
        probs = softmax(logits)
        conf = probs.max(axis=1)
        correct = (probs.argmax(axis=1) == labels).astype(float)
        bins = calibration_bins(conf, correct, n_bins=min(n_bins, max(1, len(conf) // 2)), scheme="equal-mass",
                                proxy="mean")
        ece = expected_calibration_error(logits, labels, from_logits=True)
        keep = bins.counts > 0
        # each equal-mass bin drawn over the confidences it holds (its outer edges can reach 0 and 1)
        lefts = np.array([conf[bins.assignment == b].min() for b in np.flatnonzero(keep)])
        rights = np.array([conf[bins.assignment == b].max() for b in np.flatnonzero(keep)])
        ax.bar(lefts, bins.accuracy[keep], width=np.maximum(rights - lefts, 0.01), align="edge", alpha=0.6,
               edgecolor="black", linewidth=0.5, label="accuracy per bin")
        ax.plot(bins.mean_confidence[keep], bins.accuracy[keep], "o", color="C3", ms=3, label="(mean conf., acc.)")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{title}\nECE {ece:.3f}, acc. {correct.mean():.3f}", fontsize=9)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Reliability diagrams (equal-mass bins), RVL-CDIP {split}: {teacher} → {student}")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


# ------------------------------------------------------------------------------------------------
# layout analysis and DocVQA
# ------------------------------------------------------------------------------------------------


def _dla_label(r) -> str:
    role = ROLE_SHORT.get(r.role, r.role)
    return role if r.method == "supervised" else f"{role} {DLA_METHOD_NAMES.get(r.method, r.method)}"



def _label_clusters(xs: list[float], ys: list[float], labels: list[str], frac: float = 0.12) -> list[tuple]:
    """Stack the labels of points closer than `frac` of the axis spans into one annotation (left-most x, top y),
    so coinciding models stay readable."""
    dx = frac * ((max(xs) - min(xs)) or 1.0)
    dy = frac * ((max(ys) - min(ys)) or 1.0)
    clusters: list[list[tuple[float, float, str]]] = []
    for x, y, t in sorted(zip(xs, ys, labels)):
        for c in clusters:
            if abs(x - c[0][0]) <= dx and abs(y - c[0][1]) <= dy:
                c.append((x, y, t))
                break
        else:
            clusters.append([(x, y, t)])
    return [(c[0][0], max(p[1] for p in c), "\n".join(p[2] for p in c)) for c in clusters]


def dla_efficiency_figure(dla_runs: pd.DataFrame) -> Figure:
    """mAP vs GFLOPs and vs images/s, one point per layout model, marker per method, colour per architecture."""
    _require(dla_runs, ["teacher", "role", "method", "mAP", "gflops", "images_per_second"], "dla_runs.csv")
    if dla_runs.empty:
        raise ValueError("dla_runs.csv: no layout models")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    roles = list(dict.fromkeys(dla_runs["role"]))
    colors = _colors(roles)
    for ax, (col, xlabel) in zip(axes, (("gflops", "GFLOPs per page"), ("images_per_second", "images / s"))):
        for r in dla_runs.itertuples():
            ax.scatter(float(getattr(r, col)), float(r.mAP), marker=DLA_MARKERS.get(r.method, "x"),
                       color=colors[r.role], s=70, edgecolors="black", linewidths=0.5)
        for x, y, text in _label_clusters(dla_runs[col].astype(float).tolist(), dla_runs["mAP"].astype(float).tolist(),
                                          [_dla_label(r) for r in dla_runs.itertuples()]):
            ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8, va="bottom")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("bbox mAP (COCO, 0-100)")
        ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=DLA_MARKERS.get(m, "x"), ls="", color="grey", markeredgecolor="black",
                      label=DLA_METHOD_NAMES.get(m, m)) for m in dict.fromkeys(dla_runs["method"])]
    handles += [Line2D([], [], marker="o", ls="", color=colors[r], label=ROLE_SHORT.get(r, r)) for r in roles]
    axes[1].legend(handles=handles, fontsize=8, loc="best")
    fig.suptitle("Layout analysis: accuracy vs cost (marker: method, colour: architecture)")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def anls_vs_map_figure(docvqa_runs: pd.DataFrame, dla_runs: pd.DataFrame) -> Figure:
    """ANLS (× 100) of every DLA-tagged cell vs its layout model's mAP, one series per prompt type, one panel
    per dataset; the prompt's ANLS without tags as a dotted horizontal line."""
    _require(docvqa_runs, ["dataset", "prompt", "dla_model", "anls"], "docvqa_runs.csv")
    _require(dla_runs, ["teacher", "role", "method", "mAP"], "dla_runs.csv")
    maps = {f"{r.teacher}__{r.role}__{r.method}": float(r.mAP) for r in dla_runs.itertuples()}
    datasets = list(dict.fromkeys(docvqa_runs["dataset"]))
    if not datasets:
        raise ValueError("docvqa_runs.csv: no cells")
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.6), squeeze=False)
    prompts = [p for p in PROMPT_NAMES if p in set(docvqa_runs["prompt"])]
    colors = _colors(prompts)
    for ax, ds in zip(axes[0], datasets):
        sub = docvqa_runs[docvqa_runs["dataset"] == ds]
        for p in prompts:
            cells = sub[(sub["prompt"] == p) & (sub["dla_model"] != "none")]
            xs = cells["dla_model"].map(maps)
            unknown = cells.loc[xs.isna(), "dla_model"].tolist()
            if unknown:
                log.warning("docvqa_runs.csv: layout models %s not in dla_runs.csv; left out", unknown)
            ok = xs.notna()
            if ok.any():
                order = np.argsort(xs[ok].to_numpy())
                ax.plot(xs[ok].to_numpy()[order], 100 * cells.loc[ok, "anls"].to_numpy(float)[order], "o-",
                        color=colors[p], label=f"{PROMPT_NAMES[p]} + DLA", alpha=0.85)
            base = sub[(sub["prompt"] == p) & (sub["dla_model"] == "none")]["anls"]
            if not base.empty and not ok.any():
                continue
            if not base.empty:
                ax.axhline(100 * float(base.iloc[0]), ls=":", color=colors[p], lw=1.2,
                           label=f"{PROMPT_NAMES[p]}, no DLA")
        ax.set_xlabel("layout model bbox mAP (0-100)")
        ax.set_ylabel("ANLS × 100")
        ax.set_title(str(ds))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("Zero-shot DocVQA: ANLS vs the layout model's mAP, per prompt type")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
