"""The paper's claims as checks: statement, measured evidence, and a verdict (agrees / disagrees / inconclusive).

Every check is a small function over a *table-shaped* frame, the same shape for this run's tables
(:mod:`distildoc.report.paper`'s ``ours_*``) and for the published numbers (``data/published``), so each
claim is also checked on the paper's own numbers (``paper_verdict``): a check that the published numbers
do not pass would be a wrong reading of the claim.

**Two bases.** The paper prints point values only, so its numbers are judged on **point values** (agrees /
disagrees). This run has seeds and test pages, so where the interval frames are given (``intervals`` of
:func:`check_claims`) each comparison is judged on its **intervals** (:mod:`distildoc.evaluate.stats`): the
comparison *agrees* when its interval lies entirely on the claimed side of 0, *disagrees* when entirely on the
other side, and is *inconclusive* when it straddles 0. A claim made of several comparisons ("every distilled
student ...") is joined with :func:`~distildoc.evaluate.stats.all_hold`: one clear counter-example disagrees,
all agreeing agrees, anything else is inconclusive. A comparison whose interval cannot be computed falls back to
its point value and the evidence marks it ``[point]``; the ``basis`` column says which basis decided.

=========================  ===================================================================================
claim                      criterion (point values; intervals)
=========================  ===================================================================================
kd_beats_supervised        Table 6, ViT-B teacher: vanilla KD (``ce_kd``), MSE and the best SimKD variant (by mean
                           accuracy) each have a higher mean test accuracy than the supervised student (``ce``;
                           the paper's "–" rows, our ``ce_distildoc``, where no ``ce`` run exists), margins averaged
                           over the students. Intervals: per student and method, the KD-vs-supervised verdict of
                           :func:`distildoc.report.dic_stats.kd_vs_supervised` (Welch across seeds and paired
                           bootstrap over test pages; both must agree to take a side), joined over students and
                           methods.
simkd_cnn_best_mse_worst   Table 15: on RVL-CDIP-N, SimKD [CNN] has the highest accuracy and MSE the lowest among
                           the student methods. Intervals: paired bootstrap over RVL-CDIP-N pages of simkd_cnn −
                           every other method (> 0) and mse − every other method (< 0)
                           (:func:`distildoc.report.dic_stats.table15_intervals`).
response_better_calibrated Table 15: on RVL-CDIP-N, response-based methods (ce_kd, nkd, mse, ce_distildoc) have a
                           lower mean ECE than feature-based ones (fitnet, simkd_*). Interval: paired bootstrap of
                           the difference of the group means (< 0).
dla_students_below         Table 3: every distilled layout student has a lower mAP than the supervised model of its
                           architecture. Intervals: paired bootstrap over validation pages of the mAP difference
                           (< 0; :func:`distildoc.report.layout_stats.dla_map_intervals`).
dla_tags_small_effect      Table 4: adding the DLA tags (Table 4's layout model) changes ANLS by at most
                           `tolerance` (2) points for the task and task+space prompts. Intervals: paired bootstrap
                           over questions; agrees when inside [−2, 2], disagrees when entirely outside
                           (:func:`distildoc.report.layout_stats.docvqa_tag_intervals`).
=========================  ===================================================================================

The verdict is ``n/a`` when a table lacks the rows a check needs.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..evaluate.stats import AGREES, DISAGREES, INCONCLUSIVE, NA, all_hold
from ..utils.io import write_json, write_text
from .dic import PRETRAINED_INITS, RANDOM_INIT
from .dic_stats import FEATURE_METHODS, RESPONSE_METHODS
from .tables import format_interval, render_markdown

log = logging.getLogger(__name__)

SIMKD_METHODS = ("simkd_cls_mlp", "simkd_cnn", "simkd_identity")
DLA_TAG_TOLERANCE = 2.0  # ANLS points (x100)
POINT = "point values"
INTERVALS = "intervals"
#: the interval frames :func:`check_claims` accepts, and the claim each one serves
INTERVAL_KEYS = {"kd_vs_supervised": "kd_beats_supervised", "table15": "simkd_cnn_best_mse_worst / "
                 "response_better_calibrated", "dla": "dla_students_below", "docvqa": "dla_tags_small_effect"}
__all__ = ["ClaimResult", "CLAIMS", "check_claims", "write_claims", "kd_beats_supervised", "simkd_cnn_best_mse_worst",
           "response_better_calibrated", "dla_students_below", "dla_tags_small_effect", "point_verdict"]


@dataclass(frozen=True)
class ClaimResult:
    """One claim checked on one table: the measured evidence (text), the verdict (agrees / disagrees /
    inconclusive / n/a) and its basis (``"intervals"``, ``"point values"``, both joined by " + ", or "" for n/a)."""

    key: str
    table: str
    statement: str
    evidence: str
    verdict: str
    basis: str = ""


def point_verdict(holds: bool | None) -> str:
    """A point comparison as a verdict: agrees / disagrees; None: n/a."""
    return NA if holds is None else (AGREES if holds else DISAGREES)


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _need(df: pd.DataFrame | None, cols: tuple[str, ...], what: str) -> pd.DataFrame | None:
    if df is None or df.empty:
        return None
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{what}: table lacks column(s) {missing} (has {list(df.columns)})")
    return df


def _basis(bases: list[str]) -> str:
    return " + ".join(b for b in (INTERVALS, POINT) if b in bases)


def _ci(low, high, decimals: int = 4) -> str:
    return format_interval(low, high, decimals)


# ------------------------------------------------------------------------------------------------
# the five claims
# ------------------------------------------------------------------------------------------------


def _kd_init(kd: pd.DataFrame) -> str:
    inits = [i for i in dict.fromkeys(kd["init"].astype(str)) if i != RANDOM_INIT]
    if not inits:
        return RANDOM_INIT
    return next((n for n in PRETRAINED_INITS if n in inits), sorted(inits)[0])


def kd_beats_supervised(table6: pd.DataFrame | None, teachers: tuple[str, ...] = ("ViT-B",),
                        kd: pd.DataFrame | None = None, init: str | None = None) -> ClaimResult:
    """Vanilla KD, MSE and SimKD beat the supervised student (Table 6; columns teacher, student, method, ACC).

    With `kd` (``metrics/dic_kd_vs_supervised.csv``; RVL-CDIP rows of `init`, default: the pretrained init when
    there is one, as Table 6) the verdict comes from each student's intervals; otherwise from the mean margins."""
    statement = ("Tuned vanilla KD, MSE and SimKD students are more accurate than the supervised student "
                 f"(Table 6, {'/'.join(teachers)} teacher).")
    if kd is not None and not kd.empty:
        rows = kd[(kd["dataset"] == "rvl") & (kd["split"] == "test") & kd["teacher"].isin(teachers)]
        rows = rows[rows["init"].astype(str) == (init or _kd_init(rows if not rows.empty else kd))]
        if not rows.empty:
            return _kd_from_intervals(rows, statement)
    df = _need(table6, ("teacher", "student", "method", "ACC"), "kd_beats_supervised")
    if df is None:
        return ClaimResult("kd_beats_supervised", "table6", statement, "no Table 6 runs", NA)
    df = df[df["teacher"].isin(teachers) & (df["student"].fillna("") != "")]
    acc = {(r.student, r.method): _num(r.ACC) for r in df.itertuples()}
    students = sorted({s for s, _ in acc})
    margins: dict[str, list[float]] = {"vanilla KD": [], "MSE": [], "SimKD (best)": []}
    used_base = set()
    for s in students:
        base_key = "ce" if not math.isnan(acc.get((s, "ce"), math.nan)) else "ce_distildoc"
        base = acc.get((s, base_key), math.nan)
        if math.isnan(base):
            continue
        used_base.add(base_key)
        simkd = [acc.get((s, m), math.nan) for m in SIMKD_METHODS]
        simkd = [v for v in simkd if not math.isnan(v)]
        for name, value in (("vanilla KD", acc.get((s, "ce_kd"), math.nan)), ("MSE", acc.get((s, "mse"), math.nan)),
                            ("SimKD (best)", max(simkd) if simkd else math.nan)):
            if not math.isnan(value):
                margins[name].append(value - base)
    if not all(margins.values()):
        return ClaimResult("kd_beats_supervised", "table6", statement,
                           f"missing runs for {[k for k, v in margins.items() if not v]}", NA)
    parts = [f"{k}: mean ΔACC {sum(v) / len(v):+.4f} ({sum(x > 0 for x in v)}/{len(v)} students better)"
             for k, v in margins.items()]
    holds = all(sum(v) / len(v) > 0 for v in margins.values())
    evidence = f"vs supervised ({'/'.join(sorted(used_base))}): " + "; ".join(parts)
    return ClaimResult("kd_beats_supervised", "table6", statement, evidence, point_verdict(holds), POINT)


def _kd_from_intervals(rows: pd.DataFrame, statement: str) -> ClaimResult:
    families: dict[str, list] = {"vanilla KD": [], "MSE": [], "SimKD (best)": []}
    for student, part in rows.groupby("student", sort=True):
        by = part.set_index("method")
        simkd = part[part["method"].isin(SIMKD_METHODS)].dropna(subset=["accuracy"])
        best = simkd.sort_values("accuracy", ascending=False, kind="stable")["method"].iloc[0] if len(simkd) else None
        for name, method in (("vanilla KD", "ce_kd"), ("MSE", "mse"), ("SimKD (best)", best)):
            if method is not None and method in by.index:
                families[name].append((student, method, by.loc[method]))
    if not all(families.values()):
        return ClaimResult("kd_beats_supervised", "table6", statement,
                           f"missing runs for {[k for k, v in families.items() if not v]}", NA)
    verdicts, bases, parts = [], [], []
    for name, items in families.items():
        texts = []
        for student, method, r in items:
            defined = r["verdict"] != NA
            verdict = r["verdict"] if defined else point_verdict(_num(r["delta"]) > 0 if not math.isnan(_num(r["delta"]))
                                                                 else None)
            verdicts.append(verdict)
            bases.append(INTERVALS if defined else POINT)
            label = f"{student}{f' {method}' if name == 'SimKD (best)' else ''}"
            texts.append(f"{label} ΔACC {_num(r['delta']):+.4f} (Welch {_ci(r['welch_low'], r['welch_high'])}, "
                         f"pages {_ci(r['boot_low'], r['boot_high'])}) {verdict}{'' if defined else ' [point]'}")
        parts.append(f"{name}: " + "; ".join(texts))
    n = rows[["n_seeds", "n_seeds_ce"]].max()
    evidence = (f"vs supervised (ce), {rows['init'].iloc[0]} init, up to {int(n['n_seeds'])} / "
                f"{int(n['n_seeds_ce'])} seeds: " + " | ".join(parts))
    return ClaimResult("kd_beats_supervised", "table6", statement, evidence, all_hold(verdicts), _basis(bases))


def _student_methods(table15: pd.DataFrame) -> pd.DataFrame:
    return table15[table15["method"] != "supervised"].dropna(subset=["ACC"])


def simkd_cnn_best_mse_worst(table15: pd.DataFrame | None, intervals: pd.DataFrame | None = None) -> ClaimResult:
    """SimKD [CNN] most accurate, MSE least accurate on RVL-CDIP-N (Table 15; columns method, ACC). With
    `intervals` (:func:`distildoc.report.dic_stats.table15_intervals`) every pairwise comparison is judged on its
    page bootstrap."""
    statement = ("Under covariate shift (RVL-CDIP-N), SimKD [CNN] is the most accurate method and MSE the "
                 "least accurate (Table 15).")
    df = _need(table15, ("method", "ACC"), "simkd_cnn_best_mse_worst")
    if df is None or _student_methods(df).empty:
        return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, "no RVL-CDIP-N runs", NA)
    df = _student_methods(df)
    if not {"simkd_cnn", "mse"} <= set(df["method"]):
        return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, "simkd_cnn or mse runs missing", NA)
    order = df.sort_values("ACC", ascending=False, kind="stable")
    ranking = ", ".join(f"{r.method} {r.ACC:.4f}" for r in order.itertuples())
    evidence = f"ACC on RVL-CDIP-N: {ranking}"
    pairs = None if intervals is None or intervals.empty else \
        intervals[intervals["comparison"].isin(["simkd_cnn_best", "mse_worst"])]
    if pairs is not None and not pairs.empty:
        verdicts = [r.verdict if r.verdict != NA else point_verdict(r.expected_sign * _num(r.estimate) > 0)
                    for r in pairs.itertuples()]
        bases = [INTERVALS if r.verdict != NA else POINT for r in pairs.itertuples()]
        texts = [f"{r.a} − {r.b} {_num(r.estimate):+.4f} {_ci(r.low, r.high)} {v}" for r, v in
                 zip(pairs.itertuples(), verdicts) if v != AGREES]
        n_agree = sum(v == AGREES for v in verdicts)
        evidence += (f"; page bootstrap: {n_agree}/{len(verdicts)} comparisons clear"
                     + (f"; not clear: {'; '.join(texts)}" if texts else ""))
        return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, evidence, all_hold(verdicts),
                           _basis(bases))
    best = set(df.loc[df["ACC"] == df["ACC"].max(), "method"])
    worst = set(df.loc[df["ACC"] == df["ACC"].min(), "method"])
    holds = "simkd_cnn" in best and "mse" in worst
    return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, evidence, point_verdict(holds), POINT)


def response_better_calibrated(table15: pd.DataFrame | None, intervals: pd.DataFrame | None = None) -> ClaimResult:
    """Response-based KD has a lower mean ECE than feature-based KD on RVL-CDIP-N (Table 15; method, ECE). With
    `intervals` the group difference is judged on its page bootstrap (``response_vs_feature`` row)."""
    statement = ("Response-based methods (vanilla KD, NKD, MSE, CE) are better calibrated than feature-based "
                 "ones (FitNet, SimKD) on the shifted split (RVL-CDIP-N, Table 15).")
    df = _need(table15, ("method", "ECE"), "response_better_calibrated")
    if df is None:
        return ClaimResult("response_better_calibrated", "table15", statement, "no RVL-CDIP-N runs", NA)
    resp = df[df["method"].isin(RESPONSE_METHODS)]["ECE"].dropna()
    feat = df[df["method"].isin(FEATURE_METHODS)]["ECE"].dropna()
    if resp.empty or feat.empty:
        return ClaimResult("response_better_calibrated", "table15", statement,
                           "no response- or no feature-based runs", NA)
    extra = []
    for m in ("ACC", "AURC"):
        if m in df.columns:
            r = df[df["method"].isin(RESPONSE_METHODS)][m].mean()
            f = df[df["method"].isin(FEATURE_METHODS)][m].mean()
            extra.append(f"{m} {r:.4f} vs {f:.4f}")
    evidence = (f"mean ECE response {resp.mean():.4f} ({len(resp)} methods) vs feature {feat.mean():.4f} "
                f"({len(feat)} methods)" + (f"; {', '.join(extra)}" if extra else ""))
    row = None if intervals is None or intervals.empty else \
        intervals[intervals["comparison"] == "response_vs_feature"]
    if row is not None and not row.empty and row.iloc[0]["verdict"] != NA:
        r = row.iloc[0]
        evidence += (f"; ΔECE {_num(r['estimate']):+.4f}, page bootstrap {_ci(r['low'], r['high'])} "
                     f"({int(r['n_resamples'])} resamples)")
        return ClaimResult("response_better_calibrated", "table15", statement, evidence, r["verdict"], INTERVALS)
    return ClaimResult("response_better_calibrated", "table15", statement, evidence,
                       point_verdict(bool(resp.mean() < feat.mean())), POINT)


def dla_students_below(table3: pd.DataFrame | None, intervals: pd.DataFrame | None = None) -> ClaimResult:
    """Every distilled DLA student below the supervised model of its architecture (Table 3; role, method, mAP).
    With `intervals` (:func:`distildoc.report.layout_stats.dla_map_intervals`) each student is judged on its page
    bootstrap (point value where its interval is undefined, marked ``[point]``)."""
    statement = "Distilled layout-analysis students have a lower mAP than the supervised students (Table 3)."
    df = _need(table3, ("role", "method", "mAP"), "dla_students_below")
    if df is None:
        return ClaimResult("dla_students_below", "table3", statement, "no layout runs", NA)
    sup = {r.role: _num(r.mAP) for r in df[df["method"] == "supervised"].itertuples()}
    ivs = {} if intervals is None or intervals.empty else \
        {(r.role, r.method): r for r in intervals.itertuples()}
    parts, verdicts, bases = [], [], []
    for r in df[df["method"] != "supervised"].itertuples():
        base = sup.get(r.role, math.nan)
        if math.isnan(base) or math.isnan(_num(r.mAP)):
            continue
        iv = ivs.get((r.role, r.method))
        text = f"{r.role} {r.method} {_num(r.mAP):.2f} vs supervised {base:.2f}"
        if iv is not None and iv.verdict != NA:
            verdicts.append(iv.verdict)
            bases.append(INTERVALS)
            text += f" (Δ {_num(iv.delta):+.2f}, pages {_ci(iv.low, iv.high, 2)}) {iv.verdict}"
        else:
            verdicts.append(point_verdict(_num(r.mAP) < base))
            bases.append(POINT)
            if ivs:
                text += f" {verdicts[-1]} [point]"
        parts.append(text)
    if not verdicts:
        return ClaimResult("dla_students_below", "table3", statement, "no distilled / supervised pairs", NA)
    below = sum(_num(r.mAP) < sup.get(r.role, math.nan) for r in df[df["method"] != "supervised"].itertuples())
    evidence = f"{below}/{len(verdicts)} below: " + "; ".join(parts)
    return ClaimResult("dla_students_below", "table3", statement, evidence, all_hold(verdicts), _basis(bases))


def dla_tags_small_effect(table4: pd.DataFrame | None, dla_model: str = "none__ViT-B-FPN__supervised",
                          tolerance: float = DLA_TAG_TOLERANCE, intervals: pd.DataFrame | None = None) -> ClaimResult:
    """|ANLS(with tags) − ANLS(without)| ≤ `tolerance` points for the task and task+space prompts (Table 4;
    columns dataset (optional), prompt, dla_model, anls × 100). With `intervals`
    (:func:`distildoc.report.layout_stats.docvqa_tag_intervals`) each difference is judged on its question
    bootstrap (inside [−tol, tol]: agrees; entirely outside: disagrees)."""
    statement = (f"Layout (DLA) tags change ANLS only slightly (at most {tolerance:g} points, task and "
                 "task+space prompts; Table 4).")
    df = _need(table4, ("prompt", "dla_model", "anls"), "dla_tags_small_effect")
    if df is None:
        return ClaimResult("dla_tags_small_effect", "table4", statement, "no DocVQA cells", NA)
    if "dataset" not in df.columns:
        df = df.assign(dataset="")
    ivs = {} if intervals is None or intervals.empty else \
        {(str(r.dataset), r.prompt): r for r in intervals.itertuples() if r.dla_model == dla_model}
    parts, verdicts, bases = [], [], []
    for ds, sub in df.groupby("dataset", sort=False):
        for prompt in ("task", "task_space"):
            a = sub[(sub["prompt"] == prompt) & (sub["dla_model"] == dla_model)]["anls"]
            b = sub[(sub["prompt"] == prompt) & (sub["dla_model"] == "none")]["anls"]
            if a.empty or b.empty or pd.isna(a.iloc[0]) or pd.isna(b.iloc[0]):
                continue
            d = float(a.iloc[0]) - float(b.iloc[0])
            text = f"{ds + ' ' if ds else ''}{prompt}: {float(b.iloc[0]):.2f} → {float(a.iloc[0]):.2f} ({d:+.2f})"
            iv = ivs.get((str(ds), prompt))
            if iv is not None and iv.verdict != NA:
                verdicts.append(iv.verdict)
                bases.append(INTERVALS)
                text += f", questions {_ci(iv.low, iv.high, 2)} {iv.verdict}"
            else:
                verdicts.append(point_verdict(abs(d) <= tolerance))
                bases.append(POINT)
            parts.append(text)
    if not verdicts:
        return ClaimResult("dla_tags_small_effect", "table4", statement,
                           f"no task / task_space cells with and without {dla_model}", NA)
    return ClaimResult("dla_tags_small_effect", "table4", statement, "ANLS " + "; ".join(parts), all_hold(verdicts),
                       _basis(bases))


# ------------------------------------------------------------------------------------------------
# all claims
# ------------------------------------------------------------------------------------------------

#: claim -> (its table, the check, the interval frame it takes)
CLAIMS: dict[str, tuple[str, Callable[..., ClaimResult], str]] = {
    "kd_beats_supervised": ("table6", kd_beats_supervised, "kd_vs_supervised"),
    "simkd_cnn_best_mse_worst": ("table15", simkd_cnn_best_mse_worst, "table15"),
    "response_better_calibrated": ("table15", response_better_calibrated, "table15"),
    "dla_students_below": ("table3", dla_students_below, "dla"),
    "dla_tags_small_effect": ("table4", dla_tags_small_effect, "docvqa"),
}
_INTERVAL_ARG = {"kd_beats_supervised": "kd"}


def check_claims(ours: Mapping[str, pd.DataFrame | None], paper: Mapping[str, pd.DataFrame | None] | None = None,
                 table4_dla_model: str = "none__ViT-B-FPN__supervised",
                 intervals: Mapping[str, pd.DataFrame | None] | None = None, init: str | None = None) -> pd.DataFrame:
    """Every claim on this run's tables (`ours`: ``{"table6", "table15", "table3", "table4": frame}``) and, when
    given, on the published ones (point values). `intervals`: this run's interval frames (keys
    :data:`INTERVAL_KEYS`: ``kd_vs_supervised``, ``table15``, ``dla``, ``docvqa``); `init`: the init of Table 6's
    students for ``kd_beats_supervised`` (default: pretrained when present). Columns: claim, table, statement,
    evidence, verdict, basis, paper_evidence, paper_verdict."""
    intervals = dict(intervals or {})
    unknown = sorted(set(intervals) - set(INTERVAL_KEYS))
    if unknown:
        raise KeyError(f"check_claims: unknown interval frame(s) {unknown}; known: {sorted(INTERVAL_KEYS)}")
    rows = []
    for key, (table, fn, ikey) in CLAIMS.items():
        kwargs = {"dla_model": table4_dla_model} if key == "dla_tags_small_effect" else {}
        ours_kwargs = {**kwargs, _INTERVAL_ARG.get(key, "intervals"): intervals.get(ikey)}
        if key == "kd_beats_supervised":
            ours_kwargs["init"] = init
        res = fn(ours.get(table), **ours_kwargs)
        row = {"claim": key, "table": table, "statement": res.statement, "evidence": res.evidence,
               "verdict": res.verdict, "basis": res.basis}
        if paper is not None:
            pres = fn(paper.get(table), **({"dla_model": "none__ViT-B-FPN__supervised"} if kwargs else {}))
            row.update({"paper_evidence": pres.evidence, "paper_verdict": pres.verdict})
        rows.append(row)
        log.info("claim %s: %s on %s (%s)", key, res.verdict, res.basis or "nothing", res.evidence)
    return pd.DataFrame(rows)


def write_claims(claims: pd.DataFrame, out_dir: str | Path, preset: str = "") -> dict[str, Path]:
    """``claims.csv`` (every column), ``claims.md`` (statement, evidence, verdicts) and ``claims.json`` (for
    ``dvc metrics``: ``verdicts`` / ``paper_verdicts`` as words, ``claims`` as 1 agrees / 0 disagrees / null
    inconclusive or n/a, and the counts ``n_agree``, ``n_disagree``, ``n_inconclusive``, ``n_na``) under `out_dir`."""
    out_dir = Path(out_dir)
    paths = {"csv": write_text(out_dir / "claims.csv", claims.to_csv(index=False, lineterminator="\n"))}
    md_cols = ["claim", "statement", "evidence", "verdict", "basis"] + \
        (["paper_verdict"] if "paper_verdict" in claims else [])
    md = claims[md_cols].rename(columns={"claim": "Claim", "statement": "Paper's statement",
                                         "evidence": "This run's evidence", "verdict": "This run",
                                         "basis": "Judged on", "paper_verdict": "Check on the paper's numbers"})
    head = (f"# The paper's claims on the {preset or 'this'} preset\n\n"
            "One line per claim: the paper's statement, what this run measured, and the verdict: agrees / disagrees "
            "when every interval (Welch across seeds, paired bootstrap over test pages or questions, 95 %) lies on "
            "one side of the claim, inconclusive when an interval straddles it; 'point values' where no interval "
            "exists. The last column runs the same check on the published numbers (data/published; point values, "
            "the paper gives no intervals). The embedded presets use synthetic data and CPU-sized models, so "
            "disagreement is expected and is a finding, not an error.\n")
    paths["md"] = write_text(out_dir / "claims.md", head + "\n" + render_markdown(md))
    verdicts = dict(zip(claims["claim"], claims["verdict"]))
    summary = {"verdicts": verdicts,
               "claims": {k: {AGREES: 1, DISAGREES: 0}.get(v) for k, v in verdicts.items()},
               "n_agree": sum(v == AGREES for v in verdicts.values()),
               "n_disagree": sum(v == DISAGREES for v in verdicts.values()),
               "n_inconclusive": sum(v == INCONCLUSIVE for v in verdicts.values()),
               "n_na": sum(v == NA for v in verdicts.values())}
    if "paper_verdict" in claims:
        summary["paper_verdicts"] = dict(zip(claims["claim"], claims["paper_verdict"]))
    paths["json"] = write_json(out_dir / "claims.json", summary)
    log.info("claims: %s", json.dumps(summary))
    return paths
