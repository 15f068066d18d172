"""The paper's claims as checks over result tables: statement, measured evidence, agrees / disagrees.

Every check is a small function over a *table-shaped* frame, the same shape for this run's tables
(:mod:`distildoc.report.paper`'s ``ours_*``) and for the published numbers (``data/published``), so each
claim is also checked on the paper's own numbers (``paper_agrees``): a check that the published numbers
do not pass would be a wrong reading of the claim.

=========================  ===================================================================================
claim                      criterion
=========================  ===================================================================================
kd_beats_supervised        Table 6, ViT-B teacher: vanilla KD (``ce_kd``), MSE and the best SimKD variant each
                           have a higher mean test accuracy than the supervised student (``ce``; the paper's
                           "–" rows, our ``ce_distildoc``, where no ``ce`` run exists), margins averaged over
                           the students.
simkd_cnn_best_mse_worst   Table 15: on RVL-CDIP-N, SimKD [CNN] has the highest accuracy and MSE the lowest
                           among the student methods.
response_better_calibrated Table 15: on RVL-CDIP-N, response-based methods (ce_kd, nkd, mse, ce_distildoc) have
                           a lower mean ECE than feature-based ones (fitnet, simkd_*).
dla_students_below         Table 3: every distilled layout student has a lower mAP than the supervised model of
                           its architecture.
dla_tags_small_effect      Table 4: adding the DLA tags (Table 4's layout model) changes ANLS by at most
                           `tolerance` (2) points for the task and task+space prompts.
=========================  ===================================================================================

``agrees`` is None ("n/a") when a table lacks the rows a check needs.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..utils.io import write_json, write_text
from .tables import render_markdown

log = logging.getLogger(__name__)

RESPONSE_METHODS = ("ce_kd", "nkd", "mse", "ce_distildoc")
FEATURE_METHODS = ("fitnet", "simkd_cls_mlp", "simkd_cnn", "simkd_identity")
SIMKD_METHODS = ("simkd_cls_mlp", "simkd_cnn", "simkd_identity")
DLA_TAG_TOLERANCE = 2.0  # ANLS points (x100)


@dataclass(frozen=True)
class ClaimResult:
    """One claim checked on one table: the measured evidence (text) and whether it agrees (None: n/a)."""

    key: str
    table: str
    statement: str
    evidence: str
    agrees: bool | None


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


# ------------------------------------------------------------------------------------------------
# the five claims
# ------------------------------------------------------------------------------------------------


def kd_beats_supervised(table6: pd.DataFrame | None, teachers: tuple[str, ...] = ("ViT-B",)) -> ClaimResult:
    """Vanilla KD, MSE and SimKD beat the supervised student (Table 6; columns teacher, student, method, ACC)."""
    statement = ("Tuned vanilla KD, MSE and SimKD students are more accurate than the supervised student "
                 f"(Table 6, {'/'.join(teachers)} teacher).")
    df = _need(table6, ("teacher", "student", "method", "ACC"), "kd_beats_supervised")
    if df is None:
        return ClaimResult("kd_beats_supervised", "table6", statement, "no Table 6 runs", None)
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
                           f"missing runs for {[k for k, v in margins.items() if not v]}", None)
    parts = [f"{k}: mean ΔACC {sum(v) / len(v):+.4f} ({sum(x > 0 for x in v)}/{len(v)} students better)"
             for k, v in margins.items()]
    agrees = all(sum(v) / len(v) > 0 for v in margins.values())
    evidence = f"vs supervised ({'/'.join(sorted(used_base))}): " + "; ".join(parts)
    return ClaimResult("kd_beats_supervised", "table6", statement, evidence, agrees)


def _student_methods(table15: pd.DataFrame) -> pd.DataFrame:
    return table15[table15["method"] != "supervised"].dropna(subset=["ACC"])


def simkd_cnn_best_mse_worst(table15: pd.DataFrame | None) -> ClaimResult:
    """SimKD [CNN] most accurate, MSE least accurate on RVL-CDIP-N (Table 15; columns method, ACC)."""
    statement = ("Under covariate shift (RVL-CDIP-N), SimKD [CNN] is the most accurate method and MSE the "
                 "least accurate (Table 15).")
    df = _need(table15, ("method", "ACC"), "simkd_cnn_best_mse_worst")
    if df is None or _student_methods(df).empty:
        return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, "no RVL-CDIP-N runs", None)
    df = _student_methods(df)
    if not {"simkd_cnn", "mse"} <= set(df["method"]):
        return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, "simkd_cnn or mse runs missing", None)
    order = df.sort_values("ACC", ascending=False, kind="stable")
    ranking = ", ".join(f"{r.method} {r.ACC:.4f}" for r in order.itertuples())
    best = set(df.loc[df["ACC"] == df["ACC"].max(), "method"])
    worst = set(df.loc[df["ACC"] == df["ACC"].min(), "method"])
    agrees = "simkd_cnn" in best and "mse" in worst
    return ClaimResult("simkd_cnn_best_mse_worst", "table15", statement, f"ACC on RVL-CDIP-N: {ranking}", agrees)


def response_better_calibrated(table15: pd.DataFrame | None) -> ClaimResult:
    """Response-based KD has a lower mean ECE than feature-based KD on RVL-CDIP-N (Table 15; method, ECE)."""
    statement = ("Response-based methods (vanilla KD, NKD, MSE, CE) are better calibrated than feature-based "
                 "ones (FitNet, SimKD) on the shifted split (RVL-CDIP-N, Table 15).")
    df = _need(table15, ("method", "ECE"), "response_better_calibrated")
    if df is None:
        return ClaimResult("response_better_calibrated", "table15", statement, "no RVL-CDIP-N runs", None)
    resp = df[df["method"].isin(RESPONSE_METHODS)]["ECE"].dropna()
    feat = df[df["method"].isin(FEATURE_METHODS)]["ECE"].dropna()
    if resp.empty or feat.empty:
        return ClaimResult("response_better_calibrated", "table15", statement,
                           "no response- or no feature-based runs", None)
    extra = []
    for m in ("ACC", "AURC"):
        if m in df.columns:
            r = df[df["method"].isin(RESPONSE_METHODS)][m].mean()
            f = df[df["method"].isin(FEATURE_METHODS)][m].mean()
            extra.append(f"{m} {r:.4f} vs {f:.4f}")
    evidence = (f"mean ECE response {resp.mean():.4f} ({len(resp)} methods) vs feature {feat.mean():.4f} "
                f"({len(feat)} methods)" + (f"; {', '.join(extra)}" if extra else ""))
    return ClaimResult("response_better_calibrated", "table15", statement, evidence, bool(resp.mean() < feat.mean()))


def dla_students_below(table3: pd.DataFrame | None) -> ClaimResult:
    """Every distilled DLA student below the supervised model of its architecture (Table 3; role, method, mAP)."""
    statement = "Distilled layout-analysis students have a lower mAP than the supervised students (Table 3)."
    df = _need(table3, ("role", "method", "mAP"), "dla_students_below")
    if df is None:
        return ClaimResult("dla_students_below", "table3", statement, "no layout runs", None)
    sup = {r.role: _num(r.mAP) for r in df[df["method"] == "supervised"].itertuples()}
    parts, verdicts = [], []
    for r in df[df["method"] != "supervised"].itertuples():
        base = sup.get(r.role, math.nan)
        if math.isnan(base) or math.isnan(_num(r.mAP)):
            continue
        verdicts.append(_num(r.mAP) < base)
        parts.append(f"{r.role} {r.method} {_num(r.mAP):.2f} vs supervised {base:.2f}")
    if not verdicts:
        return ClaimResult("dla_students_below", "table3", statement, "no distilled / supervised pairs", None)
    evidence = f"{sum(verdicts)}/{len(verdicts)} below: " + "; ".join(parts)
    return ClaimResult("dla_students_below", "table3", statement, evidence, all(verdicts))


def dla_tags_small_effect(table4: pd.DataFrame | None, dla_model: str = "none__ViT-B-FPN__supervised",
                          tolerance: float = DLA_TAG_TOLERANCE) -> ClaimResult:
    """|ANLS(with tags) − ANLS(without)| ≤ `tolerance` points for the task and task+space prompts (Table 4;
    columns dataset (optional), prompt, dla_model, anls × 100)."""
    statement = (f"Layout (DLA) tags change ANLS only slightly (at most {tolerance:g} points, task and "
                 "task+space prompts; Table 4).")
    df = _need(table4, ("prompt", "dla_model", "anls"), "dla_tags_small_effect")
    if df is None:
        return ClaimResult("dla_tags_small_effect", "table4", statement, "no DocVQA cells", None)
    if "dataset" not in df.columns:
        df = df.assign(dataset="")
    parts, deltas = [], []
    for ds, sub in df.groupby("dataset", sort=False):
        for prompt in ("task", "task_space"):
            a = sub[(sub["prompt"] == prompt) & (sub["dla_model"] == dla_model)]["anls"]
            b = sub[(sub["prompt"] == prompt) & (sub["dla_model"] == "none")]["anls"]
            if a.empty or b.empty or pd.isna(a.iloc[0]) or pd.isna(b.iloc[0]):
                continue
            d = float(a.iloc[0]) - float(b.iloc[0])
            deltas.append(d)
            parts.append(f"{ds + ' ' if ds else ''}{prompt}: {float(b.iloc[0]):.2f} → {float(a.iloc[0]):.2f} "
                         f"({d:+.2f})")
    if not deltas:
        return ClaimResult("dla_tags_small_effect", "table4", statement,
                           f"no task / task_space cells with and without {dla_model}", None)
    agrees = all(abs(d) <= tolerance for d in deltas)
    return ClaimResult("dla_tags_small_effect", "table4", statement, "ANLS " + "; ".join(parts), agrees)


# ------------------------------------------------------------------------------------------------
# all claims
# ------------------------------------------------------------------------------------------------

CLAIMS: dict[str, tuple[str, Callable[..., ClaimResult]]] = {
    "kd_beats_supervised": ("table6", kd_beats_supervised),
    "simkd_cnn_best_mse_worst": ("table15", simkd_cnn_best_mse_worst),
    "response_better_calibrated": ("table15", response_better_calibrated),
    "dla_students_below": ("table3", dla_students_below),
    "dla_tags_small_effect": ("table4", dla_tags_small_effect),
}


def check_claims(ours: Mapping[str, pd.DataFrame | None], paper: Mapping[str, pd.DataFrame | None] | None = None,
                 table4_dla_model: str = "none__ViT-B-FPN__supervised") -> pd.DataFrame:
    """Every claim on this run's tables (`ours`: ``{"table6", "table15", "table3", "table4": frame}``) and,
    when given, on the published ones. Columns: claim, table, statement, evidence, agrees, paper_evidence,
    paper_agrees (True / False / None)."""
    rows = []
    for key, (table, fn) in CLAIMS.items():
        kwargs = {"dla_model": table4_dla_model} if key == "dla_tags_small_effect" else {}
        res = fn(ours.get(table), **kwargs)
        row = {"claim": key, "table": table, "statement": res.statement, "evidence": res.evidence,
               "agrees": res.agrees}
        if paper is not None:
            pres = fn(paper.get(table), **({"dla_model": "none__ViT-B-FPN__supervised"} if kwargs else {}))
            row.update({"paper_evidence": pres.evidence, "paper_agrees": pres.agrees})
        rows.append(row)
        log.info("claim %s: %s (%s)", key, _verdict(res.agrees), res.evidence)
    return pd.DataFrame(rows)


def _verdict(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "agrees" if bool(value) else "disagrees"


def write_claims(claims: pd.DataFrame, out_dir: str | Path, preset: str = "") -> dict[str, Path]:
    """``claims.csv`` (every column), ``claims.md`` (statement, evidence, verdicts) and ``claims.json``
    (``{claim: 1 | 0 | null}`` plus counts, for ``dvc metrics``) under `out_dir`."""
    out_dir = Path(out_dir)
    csv = claims.copy()
    for c in ("agrees", "paper_agrees"):
        if c in csv.columns:
            csv[c] = csv[c].map(_verdict)
    paths = {"csv": write_text(out_dir / "claims.csv", csv.to_csv(index=False, lineterminator="\n"))}
    md_cols = ["claim", "statement", "evidence", "agrees"] + (["paper_agrees"] if "paper_agrees" in csv else [])
    md = csv[md_cols].rename(columns={"claim": "Claim", "statement": "Paper's statement",
                                      "evidence": "This run's evidence", "agrees": "This run",
                                      "paper_agrees": "Check on the paper's numbers"})
    head = (f"# The paper's claims on the {preset or 'this'} preset\n\n"
            "One line per claim: the paper's statement, what this run measured, whether it agrees; the last column "
            "runs the same check on the published numbers (data/published). The embedded presets use synthetic "
            "data and CPU-sized models, so disagreement is expected and is a finding, not an error.\n")
    paths["md"] = write_text(out_dir / "claims.md", head + "\n" + render_markdown(md))
    verdicts = {r.claim: (None if _verdict(r.agrees) == "n/a" else int(bool(r.agrees))) for r in claims.itertuples()}
    summary = {"claims": verdicts, "n_agree": sum(v == 1 for v in verdicts.values()),
               "n_disagree": sum(v == 0 for v in verdicts.values()),
               "n_na": sum(v is None for v in verdicts.values())}
    paths["json"] = write_json(out_dir / "claims.json", summary)
    log.info("claims: %s", json.dumps(summary))
    return paths
