"""The real-teacher experiment's result: teacher, reference and students scored on real PubLayNet pages.

Every row is one model's :func:`distildoc.evaluate.publaynet.evaluate_publaynet` result (DocLayNet classes
mapped to PubLayNet's 5, list items merged, COCO bbox AP 0-100). :func:`real_teacher_summary` gathers them
with what the student was trained on (the pseudo-label summary of
:func:`distildoc.train.pseudo_labels.pseudo_label`) and its synthetic validation mAP (``metrics.json`` of
:func:`distildoc.train.dla.train_dla`); :func:`summary_markdown` renders the table
(:func:`distildoc.report.tables.render_markdown`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..report.tables import render_markdown
from .publaynet import PUBLAYNET_CATEGORIES

SUMMARY_FORMAT = "distildoc-real-teacher/v1"
ROLES = ("teacher", "reference", "student", "baseline")


def summary_row(role: str, name: str, trained_on: str, licence: str | None, evaluation: Mapping[str, Any],
                synthetic_val_map: float | None = None, seconds_per_page: float | None = None) -> dict[str, Any]:
    """One model's row: `role` (one of :data:`ROLES`), its PubLayNet `evaluation`, and what it was trained on."""
    if role not in ROLES:
        raise ValueError(f"real-teacher row {name!r}: role {role!r} is not one of {ROLES}")
    for key in ("mAP", "AP50", "per_class"):
        if key not in evaluation:
            raise KeyError(f"real-teacher row {name!r}: the PubLayNet evaluation has no {key!r}")
    return {"role": role, "model": name, "trained_on": trained_on, "licence": licence,
            "mAP_publaynet": evaluation["mAP"], "AP50_publaynet": evaluation["AP50"],
            "per_class": dict(evaluation["per_class"]), "n_detections": evaluation.get("n_detections"),
            "synthetic_val_mAP": synthetic_val_map, "seconds_per_page": seconds_per_page}


def build_rows(onnx_evals: Sequence[Mapping[str, Any]], student_eval: Mapping[str, Any],
               student_metrics: Mapping[str, Any], pseudo_labels: Mapping[str, Any],
               baseline_eval: Mapping[str, Any] | None = None,
               baseline_metrics: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The table's rows: the ONNX models (the pseudo-labels' teacher first, then the references; their
    ``model_info`` from :meth:`~distildoc.models.detection.onnx_teachers.OnnxLayoutTeacher.describe`), the
    pseudo-label student and, when given, the supervised baseline of the student's role."""
    teacher = pseudo_labels["teacher"]["name"]
    rows = []
    for ev in sorted(onnx_evals, key=lambda e: e["model"] != teacher):
        info = ev["model_info"]
        rows.append(summary_row("teacher" if ev["model"] == teacher else "reference", f"{info['title']} [{ev['model']}]",
                                info["trained_on"], info["licence"], ev, seconds_per_page=ev.get("seconds_per_page")))
    pages = ", ".join(f"{n} {k}" for k, n in pseudo_labels.get("pages", {}).items())
    rows.append(summary_row("student", f"{student_metrics['role']} [{student_eval.get('model', 'student')}]",
                            f"pseudo-labels of {teacher} (score >= {pseudo_labels['score_thresh']}; pages: {pages})",
                            None, student_eval, synthetic_val_map=student_metrics.get("mAP")))
    if baseline_eval is not None:
        role = (baseline_metrics or {}).get("role", "student")
        rows.append(summary_row("baseline", f"{role} [{baseline_eval.get('model', 'baseline')}]",
                                "synthetic ground truth", None, baseline_eval,
                                synthetic_val_map=(baseline_metrics or {}).get("mAP")))
    return rows


def real_teacher_summary(rows: Sequence[Mapping[str, Any]], pseudo_labels: Mapping[str, Any],
                         student_metrics: Mapping[str, Any], eval_folder: str) -> dict[str, Any]:
    """The ``real_teacher.json`` object: the rows, the pseudo-labels' summary and the student's training."""
    train = student_metrics.get("train", {})
    return {"format": SUMMARY_FORMAT, "eval_folder": eval_folder, "rows": [dict(r) for r in rows],
            "pseudo_labels": dict(pseudo_labels),
            "student": {"role": student_metrics.get("role"), "detectors": student_metrics.get("detectors"),
                        "iterations": train.get("iterations"), "wall_time_s": train.get("wall_time_s"),
                        "params_M": student_metrics.get("params_M"),
                        "synthetic_val_mAP": student_metrics.get("mAP")}}


def summary_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """The rows as a DataFrame: model, role, trained on, licence, mAP, AP50 and per-class AP on PubLayNet."""
    records = []
    for r in summary["rows"]:
        records.append({"Model": r["model"], "Role": r["role"], "Trained on": r["trained_on"],
                        "Licence": r["licence"] or "–", "mAP": r["mAP_publaynet"], "AP50": r["AP50_publaynet"],
                        **{c: r["per_class"].get(c) for c in PUBLAYNET_CATEGORIES}})
    return pd.DataFrame.from_records(records).astype({c: float for c in ("mAP", "AP50", *PUBLAYNET_CATEGORIES)})


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """The Markdown table with a caption and the notes a reader needs (pseudo-label counts, the student's run)."""
    pl, st = summary["pseudo_labels"], summary["student"]
    caption = (f"Layout models on the real PubLayNet pages of `{summary['eval_folder']}` (COCO bbox AP 0-100; "
               "DocLayNet classes mapped to PubLayNet's 5, list items merged into lists: "
               "`distildoc.evaluate.publaynet`).")
    notes = [f"- pseudo-labels: {pl.get('teacher', {}).get('name')} detections >= {pl.get('score_thresh')} on "
             f"{', '.join(f'{n} {k} page(s)' for k, n in pl.get('pages', {}).items())}: "
             f"{sum(pl.get('pseudo_labels', {}).values())} boxes"]
    tos = pl.get("teacher_on_synthetic")
    if tos:
        notes.append(f"- the teacher on those {tos['pages']} synthetic pages, against their ground truth: bbox mAP "
                     f"{tos['mAP']:.2f}")
    if st.get("iterations") is not None:
        val = st.get("synthetic_val_mAP")
        notes.append(f"- student {st.get('role')} ({st.get('detectors')} detectors, {st.get('params_M'):.2f} M params): "
                     f"{st['iterations']} iterations in {st.get('wall_time_s') or 0:.0f} s; synthetic validation mAP "
                     f"{'–' if val is None else f'{val:.2f}'}")
    return render_markdown(summary_table(summary), caption=caption, decimals=1) + "\n" + "\n".join(notes) + "\n"


__all__ = ["SUMMARY_FORMAT", "ROLES", "summary_row", "build_rows", "real_teacher_summary", "summary_table", "summary_markdown"]
