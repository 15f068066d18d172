"""Where a pipeline run's time went, from Snakemake's own measurements.

Every rule has a ``benchmark:`` file, ``logs/<preset>/benchmarks/<rule>/<job>.tsv``: Snakemake measures the job's
process tree and writes one row (``s`` = wall seconds, ``cpu_time`` = user + system CPU seconds, ``max_rss``
in MB, ...). ``make pipeline`` appends the whole run's start / end / exit status to
``logs/<preset>/benchmarks/make_pipeline.tsv``. This module reads both into pandas and summarises them per rule
and per stage; ``benchmarks/pipeline_profile.py`` prints the summary.

The CPU minutes are the budget's currency on a shared machine: a job's wall time grows with whatever else runs
beside it, its CPU time much less. ``cpu_min / cores`` is the wall time an ideal schedule on ``cores`` cores
could not beat.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: rule-name prefix -> pipeline stage (first match wins; anything else is the data stage)
STAGE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("dic_", "classification"), ("dla_", "layout"), ("docvqa_", "docvqa"), ("report_", "report"),
    ("export_", "export"), ("real_teacher_", "real_teacher"),
)
#: the columns kept from a Snakemake benchmark file
_COLUMNS = {"s": "wall_s", "cpu_time": "cpu_s", "max_rss": "max_rss_mb"}


def stage_of(rule: str) -> str:
    """The pipeline stage a rule belongs to (by its name's prefix): classification, layout, docvqa, ..."""
    return next((stage for prefix, stage in STAGE_PREFIXES if rule.startswith(prefix)), "data")


def read_benchmarks(root: str | Path) -> pd.DataFrame:
    """One row per job: ``rule``, ``job`` (the file's path under the rule's folder), ``stage``, ``wall_s``,
    ``cpu_s``, ``max_rss_mb``. ``root`` is ``logs/<preset>/benchmarks``; a file that is not a Snakemake
    benchmark table is an error naming it. Empty when no job has run yet."""
    root = Path(root)
    rows = []
    for path in sorted(root.glob("*/**/*.tsv")):
        rule = path.relative_to(root).parts[0]
        table = pd.read_csv(path, sep="\t")
        missing = [c for c in _COLUMNS if c not in table.columns]
        if missing or table.empty:
            raise ValueError(f"{path}: not a Snakemake benchmark file (missing column(s) "
                             f"{', '.join(missing) or 'none'}; {len(table)} row(s))")
        last = table.iloc[-1]  # a `repeat()` benchmark has one row per repetition: the last run counts
        rows.append({"rule": rule, "job": str(path.relative_to(root / rule).with_suffix("")),
                     "stage": stage_of(rule), **{new: float(last[old]) for old, new in _COLUMNS.items()}})
    return pd.DataFrame(rows, columns=["rule", "job", "stage", *_COLUMNS.values()])


def summarise(jobs: pd.DataFrame, by: str = "rule") -> pd.DataFrame:
    """Per ``by`` (``rule`` or ``stage``): ``jobs``, ``wall_min`` and ``cpu_min`` (sums), ``max_job_min`` (the
    longest job's wall minutes), ``max_rss_mb``; sorted by CPU minutes, largest first."""
    if by not in ("rule", "stage"):
        raise ValueError(f"summarise(by={by!r}): allowed values: rule, stage")
    grouped = jobs.groupby(by)
    out = pd.DataFrame({
        "jobs": grouped.size(),
        "wall_min": grouped["wall_s"].sum() / 60,
        "cpu_min": grouped["cpu_s"].sum() / 60,
        "max_job_min": grouped["wall_s"].max() / 60,
        "max_rss_mb": grouped["max_rss_mb"].max(),
    })
    return out.sort_values("cpu_min", ascending=False).reset_index()


def read_runs(path: str | Path) -> pd.DataFrame:
    """``make pipeline``'s log (``start``, ``end`` as Unix seconds, ``status``), with ``wall_min``. Empty when
    the file does not exist."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=["start", "end", "status", "wall_min"])
    runs = pd.read_csv(path, sep="\t", names=["start", "end", "status"])
    runs["wall_min"] = (runs["end"] - runs["start"]) / 60
    return runs


def profile_markdown(jobs: pd.DataFrame, runs: pd.DataFrame, cores: int) -> str:
    """The profile as Markdown: per stage, the costliest rules, the longest jobs, and the whole-run wall time."""
    if jobs.empty:
        return "No benchmark files yet: run the pipeline first.\n"
    cpu_total = jobs["cpu_s"].sum() / 60
    lines = [f"{len(jobs)} jobs; **{cpu_total:.1f} CPU-minutes** in all, so at least {cpu_total / cores:.1f} min "
             f"of wall time on {cores} cores.", ""]
    if not runs.empty:
        ok = runs[runs["status"] == 0]
        lines += [f"`make pipeline` invocations: {len(runs)} ({', '.join(f'{w:.1f}' for w in runs['wall_min'])} "
                  f"min; exit status {', '.join(str(int(s)) for s in runs['status'])}); "
                  f"{'the last successful one took ' + format(ok['wall_min'].iloc[-1], '.1f') + ' min' if len(ok) else 'none succeeded'}.",
                  ""]
    for title, table in (("Per stage", summarise(jobs, "stage")), ("Per rule", summarise(jobs, "rule"))):
        lines += [f"### {title}", "", table.to_markdown(index=False, floatfmt=".1f"), ""]
    longest = jobs.sort_values("wall_s", ascending=False).head(10)
    longest = longest.assign(wall_min=longest["wall_s"] / 60, cpu_min=longest["cpu_s"] / 60)
    lines += ["### Longest jobs", "",
              longest[["rule", "job", "wall_min", "cpu_min"]].to_markdown(index=False, floatfmt=".1f"), ""]
    return "\n".join(lines)
