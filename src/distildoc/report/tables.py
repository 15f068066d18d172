"""Generic result tables: seed aggregation, bold-best marks, and CSV / Markdown / LaTeX writers.

Conventions (shared by every table of the report: DIC, DLA, DocVQA):

* **Seeds.** `aggregate_seeds` gives the mean, the *sample* standard deviation (``ddof=1``) and the
  number of runs per group. A cell with one run shows its value (``0.800``); a cell with several shows
  ``mean ± std`` (``0.850 ± 0.071`` for 0.80 and 0.90). Bold marks are decided by the mean.
* **Companion columns.** In a table DataFrame a column ``<C>_std`` holds the standard deviation of
  column ``C``; Markdown and LaTeX merge it into ``C`` as ``mean ± std``, CSV keeps both columns.
  Columns named in ``hidden`` (e.g. a method key, a seed count) go to CSV only; ``labels`` renames
  columns in Markdown and LaTeX (CSV keeps the frame's names).
* **Intervals.** :func:`format_interval` writes a confidence interval as ``[+0.012, +0.034]`` (signed, since
  it bounds a difference) and an undefined one as ``–``.
* **Precision.** CSV: full precision (Python's shortest round-trip repr), missing values ``NaN``.
  Markdown / LaTeX: ``decimals`` places (3, like the paper's numprint); missing cells ``–``.
* **Bold.** ``bold = {column: "max" | "min"}`` says which direction is better (accuracy: max; ECE,
  AURC, NLL: min). Values are compared as displayed (rounded to ``decimals``), so ties are all bold.
  `best_mask` restricts the candidates to some rows (e.g. the distilled students) and compares within
  groups (e.g. per teacher and student).
* **LaTeX.** booktabs (``\\toprule``/``\\midrule``/``\\bottomrule``) inside a ``table`` float with
  caption and label, ready for ``\\input``; needs only ``\\usepackage{booktabs}``. Text is escaped
  (``_ % & # $ { } ~ ^ \\``) and Greek/maths symbols become maths (τ → ``$\\tau$``, ∅ → ``$\\emptyset$``).
"""

from __future__ import annotations

import logging
import math
import numbers
from pathlib import Path
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from ..utils.io import write_text

log = logging.getLogger(__name__)

MISSING = "–"  # en dash: a cell whose run is not in the grid
STD_SUFFIX = "_std"
BoldRule = Literal["max", "min"]

_LATEX_CHARS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "τ": r"$\tau$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "λ": r"$\lambda$",
    "Δ": r"$\Delta$",
    "∅": r"$\emptyset$",
    "±": r"$\pm$",
    "×": r"$\times$",
    "→": r"$\rightarrow$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "–": "--",
    "—": "---",
}


# ------------------------------------------------------------------------------------------------
# numbers
# ------------------------------------------------------------------------------------------------


def _is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fmt_number(value, decimals: int) -> str:
    if _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"{float(value):.{decimals}f}"
    return str(value)


def _fmt_mean_std(mean, std, decimals: int) -> str:
    if _is_missing(mean):
        return MISSING
    if _is_missing(std):
        return _fmt_number(mean, decimals)
    return f"{_fmt_number(mean, decimals)} ± {_fmt_number(std, decimals)}"


def mean_or_nan(values: pd.Series) -> float:
    """Mean of the non-missing values; NaN when there are none."""
    v = values.dropna()
    return float(v.mean()) if len(v) else math.nan


def sample_std(values: pd.Series) -> float:
    """Sample standard deviation (ddof=1) of the non-missing values; NaN with fewer than two (one seed has no
    spread to report)."""
    v = values.dropna()
    return float(v.std(ddof=1)) if len(v) > 1 else math.nan


def format_mean_std(values: Iterable[float], decimals: int = 3) -> str:
    """``"mean ± std"`` of `values` (sample std, ddof=1); one value: just it; none (or all NaN): ``–``.

    >>> format_mean_std([0.80, 0.90])
    '0.850 ± 0.071'
    """
    vals = np.asarray([float(v) for v in values if not _is_missing(v)], dtype=np.float64)
    if vals.size == 0:
        return MISSING
    if vals.size == 1:
        return _fmt_number(float(vals[0]), decimals)
    return _fmt_mean_std(float(vals.mean()), float(vals.std(ddof=1)), decimals)


def format_interval(low, high, decimals: int = 3, signed: bool = True) -> str:
    """``"[low, high]"`` with `decimals` places (a sign on both bounds when `signed`); ``–`` when either bound is
    missing or NaN (no interval).

    >>> format_interval(-0.0123, 0.05)
    '[-0.012, +0.050]'
    """
    if _is_missing(low) or _is_missing(high):
        return MISSING
    fmt = f"{{:+.{decimals}f}}" if signed else f"{{:.{decimals}f}}"
    return f"[{fmt.format(float(low))}, {fmt.format(float(high))}]"


def aggregate_seeds(df: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per group of `keys`: each metric's mean (column ``<m>``), sample std (``<m>_std``, ddof=1; NaN for
    a single run) and the number of runs (``n_seeds``). Missing keys (e.g. no teacher) form their own
    group; NaN metric values are skipped. Groups keep their first-appearance order."""
    keys, metrics = list(keys), list(metrics)
    missing = [c for c in keys + metrics if c not in df.columns]
    if missing:
        raise KeyError(f"aggregate_seeds: columns {missing} not in the frame (has {list(df.columns)})")
    cols = keys + metrics + [m + STD_SUFFIX for m in metrics] + ["n_seeds"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    values = df[metrics].apply(pd.to_numeric, errors="coerce")
    values[keys] = df[keys]
    grouped = values.groupby(keys, dropna=False, sort=False)
    mean = grouped[metrics].mean()
    std = grouped[metrics].std(ddof=1).add_suffix(STD_SUFFIX)
    n = grouped.size().rename("n_seeds")
    out = pd.concat([mean, std, n], axis=1).reset_index()
    out["n_seeds"] = out["n_seeds"].astype("Int64")
    return out[cols]


# ------------------------------------------------------------------------------------------------
# bold
# ------------------------------------------------------------------------------------------------


def _check_bold(df: pd.DataFrame, bold: Mapping[str, str]) -> None:
    for col, rule in bold.items():
        if col not in df.columns:
            raise KeyError(f"bold column {col!r} not in the table (has {list(df.columns)})")
        if rule not in ("max", "min"):
            raise ValueError(f"bold rule for {col!r} must be 'max' or 'min', got {rule!r}")


def best_mask(df: pd.DataFrame, bold: Mapping[str, BoldRule], eligible: Sequence[bool] | pd.Series | None = None,
              group_by: Sequence[str] | None = None, decimals: int = 3) -> pd.DataFrame:
    """Boolean frame (same index/columns as `df`): True on the best value of each `bold` column among the
    `eligible` rows, separately within each `group_by` group. "max": higher is better, "min": lower is
    better. Values are compared as displayed (rounded to `decimals`) so displayed ties are all marked;
    missing values never are."""
    _check_bold(df, bold)
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    if eligible is None:
        elig = pd.Series(True, index=df.index)
    else:
        elig = pd.Series(np.asarray(eligible, dtype=bool), index=df.index)
    if group_by:
        gid = df.groupby(list(group_by), dropna=False, sort=False).ngroup()
        groups = [gid.index[gid == g] for g in gid.unique()]
    else:
        groups = [df.index]
    for col, rule in bold.items():
        shown = pd.to_numeric(df[col], errors="coerce").map(
            lambda v: float(f"{v:.{decimals}f}") if not _is_missing(v) else np.nan)
        for idx in groups:
            cand = shown.loc[idx][elig.loc[idx].to_numpy()].dropna()
            if cand.empty:
                continue
            best = cand.max() if rule == "max" else cand.min()
            mask.loc[cand.index[cand == best], col] = True
    return mask


def _resolve_mask(df: pd.DataFrame, bold, bold_mask, decimals: int) -> pd.DataFrame:
    empty = pd.DataFrame(False, index=df.index, columns=df.columns)
    if isinstance(bold_mask, pd.DataFrame):
        return empty | bold_mask.reindex(index=df.index, columns=df.columns, fill_value=False).astype(bool)
    if not bold:
        if bold_mask is not None:
            raise ValueError("a row mask (bold_mask) needs `bold` rules to say which columns to mark")
        return empty
    return best_mask(df, bold, eligible=bold_mask, decimals=decimals)


# ------------------------------------------------------------------------------------------------
# rendering
# ------------------------------------------------------------------------------------------------


def latex_escape(text: str) -> str:
    """Escape LaTeX specials in plain text; Greek letters and maths symbols become inline maths."""
    return "".join(_LATEX_CHARS.get(ch, ch) for ch in str(text))


def _display_columns(df: pd.DataFrame, hidden: Sequence[str]) -> list[str]:
    return [c for c in df.columns
            if c not in hidden and not (str(c).endswith(STD_SUFFIX) and str(c)[: -len(STD_SUFFIX)] in df.columns)]


def _is_numeric_col(df: pd.DataFrame, col: str) -> bool:
    return bool(pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]))


def _cell_texts(df: pd.DataFrame, cols: list[str], decimals: int) -> pd.DataFrame:
    """Each displayed cell as plain text (numbers rounded, std merged, missing as –)."""
    out = pd.DataFrame(index=df.index, columns=cols, dtype=object)
    for col in cols:
        std_col = f"{col}{STD_SUFFIX}"
        for i in df.index:
            value = df.at[i, col]
            if std_col in df.columns:
                out.at[i, col] = _fmt_mean_std(value, df.at[i, std_col], decimals)
            elif _is_missing(value):
                out.at[i, col] = MISSING
            elif isinstance(value, str):
                out.at[i, col] = value
            else:
                out.at[i, col] = _fmt_number(value, decimals)
    return out


def render_markdown(df: pd.DataFrame, caption: str | None = None, bold: Mapping[str, BoldRule] | None = None,
                    bold_mask=None, decimals: int = 3, hidden: Sequence[str] = (),
                    labels: Mapping[str, str] | None = None) -> str:
    """A GitHub pipe table (optionally preceded by the caption); bold cells as ``**x**``; `labels` renames
    header cells."""
    if bold:
        _check_bold(df, bold)
    cols = _display_columns(df, hidden)
    texts = _cell_texts(df, cols, decimals)
    mask = _resolve_mask(df, bold, bold_mask, decimals)

    def esc(s: str) -> str:
        return str(s).replace("|", r"\|").replace("\n", " ")

    names = dict(labels or {})
    lines = ["| " + " | ".join(esc(names.get(c, c)) for c in cols) + " |",
             "|" + "|".join("---:" if _is_numeric_col(df, c) else ":---" for c in cols) + "|"]
    for i in df.index:
        cells = []
        for c in cols:
            t = esc(texts.at[i, c])
            cells.append(f"**{t}**" if mask.at[i, c] and t != MISSING else t)
        lines.append("| " + " | ".join(cells) + " |")
    head = f"{caption}\n\n" if caption else ""
    return head + "\n".join(lines) + "\n"


def render_latex(df: pd.DataFrame, caption: str, label: str, bold: Mapping[str, BoldRule] | None = None,
                 bold_mask=None, decimals: int = 3, hidden: Sequence[str] = (), midrule_on: str | None = None,
                 float_env: bool = True, labels: Mapping[str, str] | None = None) -> str:
    """A booktabs table; bold cells as ``\\textbf{}``; a ``\\midrule`` wherever `midrule_on` changes; `labels`
    renames header cells."""
    if bold:
        _check_bold(df, bold)
    cols = _display_columns(df, hidden)
    texts = _cell_texts(df, cols, decimals)
    mask = _resolve_mask(df, bold, bold_mask, decimals)
    spec = "".join("r" if _is_numeric_col(df, c) else "l" for c in cols)
    body = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
            " & ".join(latex_escape(dict(labels or {}).get(c, c)) for c in cols) + r" \\", r"\midrule"]
    prev = object()
    for n, i in enumerate(df.index):
        if midrule_on is not None:
            cur = df.at[i, midrule_on]
            if n > 0 and not (cur == prev or (_is_missing(cur) and _is_missing(prev))):
                body.append(r"\midrule")
            prev = cur
        cells = []
        for c in cols:
            t = latex_escape(texts.at[i, c])
            cells.append(rf"\textbf{{{t}}}" if mask.at[i, c] and texts.at[i, c] != MISSING else t)
        body.append(" & ".join(cells) + r" \\")
    body += [r"\bottomrule", r"\end{tabular}"]
    lines = ["% Generated by distildoc.report.tables -- do not edit by hand. Needs \\usepackage{booktabs}."]
    if float_env:
        lines += [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
                  rf"\label{{{label}}}", *body, r"\end{table}"]
    else:
        lines += body
    return "\n".join(lines) + "\n"


def render_csv(df: pd.DataFrame) -> str:
    """Every column (companions and hidden ones included) at full precision; missing values as NaN."""
    return df.to_csv(index=False, na_rep="NaN", lineterminator="\n")


def write_table(df: pd.DataFrame, out_stem: str | Path, caption: str, label: str,
                bold: Mapping[str, BoldRule] | None = None, bold_mask=None, decimals: int = 3,
                hidden: Sequence[str] = (), midrule_on: str | None = None,
                labels: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write ``<stem>.csv``, ``<stem>.md`` and ``<stem>.tex`` atomically; returns ``{"csv"|"md"|"tex": path}``.

    `bold` maps a column to "max" (higher is better) or "min" (lower is better). `bold_mask` is either
    a boolean DataFrame of the cells to mark (taken as given), or a boolean per-row sequence of the rows
    that compete for the best value (None: all rows); use `best_mask` for per-group marks. `labels` renames
    columns in Markdown and LaTeX only.
    """
    out_stem = Path(out_stem)
    if bold:
        _check_bold(df, bold)
    mask = _resolve_mask(df, bold, bold_mask, decimals)
    paths = {
        "csv": write_text(out_stem.with_name(out_stem.name + ".csv"), render_csv(df)),
        "md": write_text(out_stem.with_name(out_stem.name + ".md"),
                         render_markdown(df, caption, None, mask, decimals, hidden, labels)),
        "tex": write_text(out_stem.with_name(out_stem.name + ".tex"),
                          render_latex(df, caption, label, None, mask, decimals, hidden, midrule_on,
                                       labels=labels)),
    }
    log.info("table %s: %d rows -> %s", label, len(df), ", ".join(str(p) for p in paths.values()))
    return paths
