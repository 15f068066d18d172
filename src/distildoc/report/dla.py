"""Table 3 (DocLayNet) / Table 13 (PRImA): layout analysis teachers, students and distilled students."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .. import catalogue
from ..utils.io import read_json
from .tables import write_table

log = logging.getLogger(__name__)

#: the tables' names of the detector roles and layout methods (distildoc.catalogue)
ROLE_NAMES = {r.name: r.backbone for r in catalogue.DETECTOR_ROLES}
METHOD_NAMES = {m.key: m.label for m in catalogue.DETECTION_METHODS}
#: layout methods beyond the paper: their rows follow the paper's, marked with EXTENSION_MARK
EXTENSION_METHODS = catalogue.keys(catalogue.DETECTION, beyond_paper=True)
EXTENSION_MARK = " †"
TEACHERS = ("ViT-B-FPN", "R101-FPN")
#: the paper's row order
ROW_ORDER = [("none", "ViT-B-FPN", "supervised"), ("none", "R101-FPN", "supervised"),
             ("none", "ViT-T-FPN", "supervised"), ("none", "R50-FPN", "supervised"),
             ("R101-FPN", "R50-FPN", "simkd_fpn"), ("R101-FPN", "R50-FPN", "reviewkd"),
             ("ViT-B-FPN", "ViT-T-FPN", "simkd_fpn"), ("ViT-B-FPN", "ViT-T-FPN", "reviewkd")]


def load_dla_runs(paths: list[str | Path], efficiency: str | Path | dict | None = None,
                  publaynet: list[str | Path] | None = None) -> pd.DataFrame:
    """One row per model folder (`<teacher>__<role>__<method>/metrics.json`), with the efficiency columns
    (gflops, params_M, images_per_second, and backbone_images_per_second where measured) from the
    `dla_efficiency` JSON (``models`` keyed by folder name)
    or, without one, from the metrics files themselves.

    `publaynet`: the models' evaluations on the real PubLayNet pages (``<model folder name>.json`` of rule
    dla_eval_publaynet, :func:`distildoc.evaluate.publaynet.evaluate_publaynet`): column ``mAP_publaynet``
    (bbox mAP 0-100, NaN for a model without one); without them the column is absent."""
    eff_path = efficiency if isinstance(efficiency, (str, Path)) else None
    eff = read_json(efficiency)["models"] if eff_path else (efficiency or {}).get("models", {})
    rows = []
    for p in paths:
        p = Path(p)
        m = read_json(p)
        folder = p.parent.name
        teacher = folder.split("__")[0]
        if eff and folder not in eff:
            raise ValueError(f"{eff_path or 'efficiency'}: no entry for model {folder!r} (has {sorted(eff)})")
        e = eff.get(folder, m)
        try:
            rows.append({"teacher": teacher, "role": m["role"], "method": m["method"], "mAP": m["mAP"],
                         "AP50": m["bbox"]["AP50"], "AP75": m["bbox"]["AP75"],
                         "segm_mAP": (m.get("segm") or {}).get("AP"), "gflops": e["gflops"],
                         "params_M": e["params_M"], "images_per_second": e["images_per_second"],
                         "backbone_images_per_second": e.get("backbone_images_per_second"),
                         "train_seconds": m["train"]["wall_time_s"], "iterations": m["train"]["iterations"]})
        except KeyError as err:
            raise ValueError(f"{p}: missing key {err}") from None
    df = pd.DataFrame(rows)
    if publaynet is not None:
        real = publaynet_maps(publaynet)
        names = df.teacher + "__" + df.role + "__" + df.method if len(df) else pd.Series([], dtype=str)
        unknown = sorted(set(real) - set(names))
        if unknown:
            raise ValueError(f"PubLayNet evaluation(s) of model(s) {unknown} that have no metrics.json here")
        df["mAP_publaynet"] = [real.get(n, float("nan")) for n in names]
    return df


def publaynet_maps(paths: list[str | Path]) -> dict[str, float]:
    """``{model folder name: mAP}`` from the per-model PubLayNet evaluation files (``<model>.json``, key
    ``mAP``; a null mAP is NaN)."""
    out: dict[str, float] = {}
    for p in paths:
        p = Path(p)
        try:
            value = read_json(p)["mAP"]
        except KeyError:
            raise ValueError(f"{p}: missing key 'mAP' (a dla_eval_publaynet output?)") from None
        out[p.stem] = float("nan") if value is None else float(value)
    return out


#: Table 3's extra last column (not in the paper): bbox mAP on the real PubLayNet pages (``mAP_publaynet``)
PUBLAYNET_COLUMN = "mAP PubLayNet"


def table3(df: pd.DataFrame) -> pd.DataFrame:
    """The paper's layout: Teacher, Student, Method, mAP, FLOPs (G), Params (M), Im/s; then, when `df` has
    ``mAP_publaynet`` values, :data:`PUBLAYNET_COLUMN` (the real-page evaluation, not in the paper)."""
    real = "mAP_publaynet" in df.columns and df["mAP_publaynet"].notna().any()
    out = []
    # the paper's rows, then the rows of methods beyond the paper that this run has (e.g. PKD)
    extra = [] if df.empty else sorted(
        {(r.teacher, r.role, r.method) for r in df.itertuples() if r.method in EXTENSION_METHODS} - set(ROW_ORDER),
        key=lambda k: (EXTENSION_METHODS.index(k[2]), k[0], k[1]))
    for teacher, role, method in ROW_ORDER + extra:
        hit = df[(df.teacher == teacher) & (df.role == role) & (df.method == method)]
        is_teacher = teacher == "none" and role in TEACHERS
        name = METHOD_NAMES[method] + (EXTENSION_MARK if method in EXTENSION_METHODS else "")
        row = {"Teacher": ROLE_NAMES[role] if is_teacher else ROLE_NAMES.get(teacher, "–"),
               "Student": "–" if is_teacher else ROLE_NAMES[role], "Method": name}
        if hit.empty:
            row.update({"mAP": float("nan"), "FLOPs (G)": float("nan"), "Params (M)": float("nan"),
                        "Im/s": float("nan"), "distilled": method != "supervised"})
        else:
            r = hit.iloc[0]
            row.update({"mAP": r.mAP, "FLOPs (G)": r.gflops, "Params (M)": r.params_M, "Im/s": r.images_per_second,
                        "distilled": method != "supervised"})
        if real:
            row[PUBLAYNET_COLUMN] = float("nan") if hit.empty else hit.iloc[0]["mAP_publaynet"]
        out.append(row)
    return pd.DataFrame(out)


def write_dla_tables(df: pd.DataFrame, out_dir: str | Path, dataset: str = "the synthetic benchmark",
                     table: str = "table3") -> list[Path]:
    """Write the layout table (Table 3's rows and columns) as ``<out_dir>/<table>.{csv,md,tex}``: `table`
    is ``table3`` (DocLayNet / the embedded benchmark) or ``table13`` (PRImA, the same 8 models)."""
    out_dir = Path(out_dir)
    t3 = table3(df)
    number = table.removeprefix("table")
    caption = (f"Table {number}: document layout analysis on {dataset} (validation pages): bbox mAP (COCO, 0-100), "
               "FLOPs of one page at the detector's input size (2 FLOPs per multiply-add), parameters, images/s "
               "on this machine. Bold: best distilled student per column.")
    bold = {"mAP": "max", "FLOPs (G)": "min", "Params (M)": "min", "Im/s": "max"}
    if t3["Method"].str.endswith(EXTENSION_MARK).any():
        caption += f"{EXTENSION_MARK.strip()}: a method beyond the paper (PKD, Cao et al. 2022)."
    if PUBLAYNET_COLUMN in t3.columns:
        caption += (f" {PUBLAYNET_COLUMN}: bbox mAP of the same models on real PubLayNet pages, DocLayNet classes "
                    "mapped to PubLayNet's 5 and list items merged into lists (not in the paper).")
        bold[PUBLAYNET_COLUMN] = "max"
    paths = write_table(t3, out_dir / table, caption, f"tab:dla_{table}", bold=bold,
                        bold_mask=t3["distilled"].to_numpy(), decimals=2, hidden=("distilled",))
    log.info("wrote %s", sorted(str(p) for p in paths.values()))
    return list(paths.values())
