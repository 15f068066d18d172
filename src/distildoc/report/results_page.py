"""The generated results page (``results/<preset>/report/results.md``) and its copy into README.md.

:func:`results_page` renders, from the run's CSVs only (never hand-written numbers): the teachers' accuracies,
the knowledge-gap table, the KD-vs-supervised intervals (with a count of verdicts per dataset and init), each KD
method's calibration gap to the supervised student before and after temperature scaling, the paper's claims with
their verdicts, and Table 3 (layout) when the stage wrote it. :func:`replace_block` puts a
page between the ``<!-- results:begin -->`` and ``<!-- results:end -->`` markers of a Markdown file (README.md),
headings shifted down so that the page nests under the README section holding the markers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .dic_stats import GAP_LABELS, KD_LABELS, gap_display, kd_display, read_interval_csv
from .tables import STD_SUFFIX, mean_or_nan, render_markdown, sample_std

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
VERDICT_ORDER = ("agrees", "disagrees", "inconclusive", "n/a")


def _teachers(dic_runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and teacher: mean (± std over runs) test and RVL-CDIP-N accuracy, number of runs."""
    t = dic_runs[dic_runs["role"] == "teacher"]
    cols = ["Dataset", "Teacher", "ACC (test)", "ACC (test)_std", "ACC (RVL-CDIP-N)", "ACC (RVL-CDIP-N)_std",
            "n runs"]
    rows = []
    for (dataset, teacher), part in t.groupby(["dataset", "teacher"], sort=False):
        arch = part["arch"].dropna().iloc[0] if "arch" in part and part["arch"].notna().any() else teacher
        name = teacher if arch == teacher else f"{teacher} ({arch})"
        row = {"Dataset": dataset, "Teacher": name, "n runs": int(part["path"].nunique())}
        for split, name in (("test", "ACC (test)"), ("rvl_n", "ACC (RVL-CDIP-N)")):
            vals = part[part["split"] == split]["accuracy"]
            row[name] = mean_or_nan(vals)
            row[f"{name}{STD_SUFFIX}"] = sample_std(vals)
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    for c in cols[2:6]:
        out[c] = out[c].astype("float64")
    return out


def _verdict_counts(kd: pd.DataFrame) -> str:
    lines = []
    for (dataset, init), part in kd.groupby(["dataset", "init"], sort=False):
        counts = ", ".join(f"{int((part['verdict'] == v).sum())} {v}" for v in VERDICT_ORDER
                           if (part["verdict"] == v).any())
        seeds = f"{int(part['n_seeds'].max())} / {int(part['n_seeds_ce'].max())}"
        lines.append(f"- `{dataset}`, {init} init: {len(part)} comparisons (up to {seeds} seeds KD / CE): {counts}")
    return "\n".join(lines)


def _claims(claims: pd.DataFrame) -> pd.DataFrame:
    cols = {"claim": "Claim", "evidence": "This run's evidence", "verdict": "This run", "basis": "Judged on",
            "paper_verdict": "Paper's numbers"}
    return claims[[c for c in cols if c in claims.columns]].rename(columns=cols).fillna("")


CALIBRATION_LABELS = {"dataset": "Dataset", "init": "Init", "teacher": "Teacher", "student": "Student",
                      "method": "Method", "ece_ce": "ECE (CE)", "ece": "ECE", "ece_ts_ce": "ECE (CE, TS)",
                      "ece_ts": "ECE (TS)", "survives": "Gap survives TS"}


def _calibration(cal_gap: pd.DataFrame) -> pd.DataFrame:
    """The calibration-gap table (``tables/dic/calibration_gap.csv``) for the page: one row per KD cell."""
    out = cal_gap[[c for c in CALIBRATION_LABELS if c in cal_gap.columns]].copy()
    out["teacher"] = out["teacher"].fillna("–")
    out["survives"] = out["survives"].map({True: "yes", False: "no"}).fillna("–")
    return out.rename(columns=CALIBRATION_LABELS)


def results_page(preset: str, dic_runs: pd.DataFrame, kd: pd.DataFrame, gap: pd.DataFrame, claims: pd.DataFrame,
                 table3_md: str | None = None, decimals: int = 3, cal_gap: pd.DataFrame | None = None) -> str:
    """The results page as Markdown (module docstring). `table3_md`: the stage's ``tables/dla/table3.md`` text (its
    caption included), or None; `cal_gap`: ``tables/dic/calibration_gap.csv`` (:mod:`distildoc.report.calibration`),
    or None."""
    conf = int(round(100 * float(kd["confidence"].iloc[0]))) if len(kd) and not math.isnan(kd["confidence"].iloc[0]) \
        else 95
    n_res = int(kd["n_resamples"].max()) if len(kd) and kd["n_resamples"].notna().any() else 0
    boot = (f"the paired bootstrap {conf} % interval over test pages ({n_res} resamples, seeds averaged per page)"
            if n_res else "no page bootstrap (no per-page logits)")
    parts = [
        f"# Results: `{preset}` preset",
        "",
        f"Generated from `results/{preset}/` (`metrics/dic_runs.csv`, `metrics/dic_kd_vs_supervised.csv`, "
        "`metrics/dic_knowledge_gap.csv`, `report/claims.csv`, `tables/dla/table3.md`) by the `report_results` rule; "
        "do not edit by hand. Means ± sample std over seeds.",
        "",
        "## Teachers",
        "",
        render_markdown(_teachers(dic_runs), decimals=decimals) if len(dic_runs) else "No teacher runs.\n",
        "## Knowledge gap",
        "",
        "Teacher accuracy, the supervised student (CE), the best KD method by mean test accuracy and the fraction "
        "of the teacher − CE gap it closed, (best − CE) / (teacher − CE), with a paired bootstrap interval over "
        "test pages (seeds and the choice of the best method held fixed; chosen on the same pages, so optimistic).",
        "",
        render_markdown(gap_display(gap), decimals=decimals, labels=GAP_LABELS) if len(gap) else "No pairs.\n",
        "## KD vs the supervised student",
        "",
        f"ΔACC = mean test accuracy of the KD student − that of the supervised student (CE) of the same "
        f"architecture and init. Welch's {conf} % interval across seeds (– with fewer than 2 seeds on a side) and "
        f"{boot}. The verdict on 'KD is more accurate' is *agrees* / *disagrees* only when every defined interval lies above / "
        "below 0, *inconclusive* otherwise.",
        "",
        _verdict_counts(kd) if len(kd) else "No KD runs.",
        "",
        render_markdown(kd_display(kd), decimals=decimals, labels=KD_LABELS) if len(kd) else "",
        *(["## Calibration before and after temperature scaling", "",
            "Test ECE of each KD student and of the supervised student (CE) of its cell, before and after one "
            "temperature per run fitted on its validation split (TS), means over seeds. The ECE gap to CE *survives* "
            "when it keeps its sign after scaling (`tables/dic/calibration.md` has AURC, NLL and T).", "",
            render_markdown(_calibration(cal_gap), decimals=decimals)]
           if cal_gap is not None and len(cal_gap) else []),
        "## The paper's claims",
        "",
        "Verdicts from this run's intervals where it has seeds, pages or questions (point values otherwise, as "
        "for the paper's own numbers, which have no intervals); `report/claims.md` has the paper's statements.",
        "",
        render_markdown(_claims(claims)) if len(claims) else "No claims checked.\n",
    ]
    if table3_md:
        parts += ["## Layout analysis (Table 3)", "", table3_md.strip() + "\n"]
    return "\n".join(parts).rstrip() + "\n"


def write_results_page(out: str | Path, preset: str, dic_runs: str | Path, kd: str | Path, gap: str | Path,
                       claims: str | Path, dla_tables: str | Path | None = None,
                       dic_tables: str | Path | None = None) -> Path:
    """Read the run's CSVs, render :func:`results_page`, write it atomically to `out`."""
    from ..utils.io import write_text

    table3 = Path(dla_tables) / "table3.md" if dla_tables is not None else None
    cal = Path(dic_tables) / "calibration_gap.csv" if dic_tables is not None else None
    page = results_page(preset, pd.read_csv(dic_runs), read_interval_csv(kd), read_interval_csv(gap),
                        read_interval_csv(claims),
                        table3.read_text(encoding="utf-8") if table3 is not None and table3.exists() else None,
                        cal_gap=pd.read_csv(cal) if cal is not None and cal.exists() else None)
    return write_text(out, page)


_HEADING = re.compile(r"^(#{1,6})(\s)", re.MULTILINE)


def shift_headings(text: str, by: int) -> str:
    """Every ATX heading outside fenced code blocks `by` levels deeper (capped at ######)."""
    out, fenced = [], False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and by:
            line = _HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + by) + m.group(2), line, count=1)
        out.append(line)
    return "".join(out)


def drop_sections(text: str, titles: Sequence[str], note: str = "") -> str:
    """`text` without the sections whose heading text starts with one of `titles` (the heading and everything up
    to the next heading of the same or a higher level; outside fenced code). Each dropped section leaves the line
    ``*<heading text>*<note>`` in its place; a title that matches no heading raises ValueError naming it."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    found: set[str] = set()
    fenced, dropping_level = False, 0
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#{1,6})\s+(.*?)\s*$", line)
        if m and dropping_level and len(m.group(1)) <= dropping_level:
            dropping_level = 0
        if m and not dropping_level:
            hit = next((t for t in titles if m.group(2).startswith(t)), None)
            if hit is not None:
                found.add(hit)
                dropping_level = len(m.group(1))
                out.append(f"*{m.group(2)}*{note}\n\n")
                continue
        if not dropping_level:
            out.append(line)
    missing = [t for t in titles if t not in found]
    if missing:
        raise ValueError(f"drop_sections: no heading starts with {missing}")
    return "".join(out)


def replace_block(document: str, page: str, name: str = "README.md", shift: int = 1) -> str:
    """`document` with everything between the :data:`BEGIN` and :data:`END` marker lines replaced by `page`
    (headings shifted by `shift`). Missing, repeated or out-of-order markers raise ValueError naming `name`."""
    counts = {m: document.count(m) for m in (BEGIN, END)}
    if counts[BEGIN] != 1 or counts[END] != 1:
        raise ValueError(f"{name}: expected one '{BEGIN}' and one '{END}' marker line, found "
                         f"{counts[BEGIN]} and {counts[END]}; add them where the generated results go")
    start, end = document.index(BEGIN), document.index(END)
    if end < start:
        raise ValueError(f"{name}: '{END}' comes before '{BEGIN}'")
    head = document[: start + len(BEGIN)]
    body = shift_headings(page, shift).strip("\n")
    return f"{head}\n{body}\n{document[end:]}"
