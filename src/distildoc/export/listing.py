"""What a preset's results folder holds: trained classification runs, layout models and exports (``distildoc models``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..utils.io import read_json
from .common import EXPORT_FORMAT


def _json(path: Path) -> dict:
    try:
        return read_json(path) if path.is_file() else {}
    except ValueError:
        return {}


def _classifier(run: Path, root: Path) -> dict[str, Any]:
    art, met = _json(run / "artefact.json"), _json(run / "metrics.json")
    spec, tspec = art.get("model_spec") or {}, art.get("teacher_spec") or {}
    test = (met.get("splits") or {}).get("test") or {}
    params = art.get("parameters") or met.get("params")
    return {"kind": "dic teacher" if met.get("role") == "teacher" or "/teachers/" in run.as_posix() else "dic student",
            "path": str(run), "dataset": met.get("dataset"),
            "arch": spec.get("label") or (f"{spec.get('role')} ({spec.get('name')})" if spec else None),
            "role": spec.get("role"), "method": art.get("method") or met.get("method"),
            "teacher": tspec.get("label") or tspec.get("role"), "init": met.get("init"), "seed": met.get("seed"),
            "test_accuracy": test.get("accuracy"), "test_ece": test.get("ece"), "bbox_mAP": None,
            "params_M": params / 1e6 if params else None, "complete": bool(met)}


def _detector(model: Path) -> dict[str, Any]:
    spec, met = _json(model / "spec.json"), _json(model / "metrics.json")
    return {"kind": "dla model", "path": str(model), "dataset": None, "arch": spec.get("label") or spec.get("backbone"),
            "role": spec.get("role"), "method": met.get("method"),
            "teacher": Path(met["teacher_dir"]).name if met.get("teacher_dir") else None, "init": None,
            "seed": met.get("seed"), "test_accuracy": None, "test_ece": None, "bbox_mAP": met.get("mAP"),
            "params_M": met.get("params_M"), "complete": bool(met)}


def _export(folder: Path) -> dict[str, Any]:
    cfg = _json(folder / "config.json")
    parity = _json(folder / "parity.json")
    src = cfg.get("source") or {}
    acc = ((parity.get("metrics") or {}).get("onnx_fp32") or {})
    return {"kind": f"export ({'classifier' if cfg.get('task') == 'image-classification' else 'layout'})",
            "path": str(folder), "dataset": src.get("dataset"), "arch": src.get("arch"), "role": src.get("role"),
            "method": src.get("method"), "teacher": src.get("teacher"), "init": src.get("init"), "seed": src.get("seed"),
            "test_accuracy": acc.get("accuracy"), "test_ece": acc.get("ece"), "bbox_mAP": None,
            "params_M": (src.get("parameters") or 0) / 1e6 or src.get("params_M"),
            "int8_accuracy_drop": parity.get("int8_accuracy_drop"), "complete": True}


def list_models(root: str | os.PathLike) -> list[dict[str, Any]]:
    """Every model folder under ``results/<preset>`` (`root`), sorted by kind then path: classification run
    folders (``artefact.json``), layout model folders (``spec.json`` + ``model.pt``) and export folders
    (``config.json`` of format distildoc-export/v1). Training-checkpoint folders are skipped."""
    root = Path(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if n not in ("ckpt", "cache", "tensors") and not n.endswith(".ckpt"))
        names = set(filenames)
        if "config.json" in names and _json(d / "config.json").get("format") == EXPORT_FORMAT:
            out.append(_export(d))
            dirnames[:] = []
        elif "artefact.json" in names:
            out.append(_classifier(d, root))
        elif "spec.json" in names and "model.pt" in names:
            out.append(_detector(d))
    order = {"dic teacher": 0, "dic student": 1, "dla model": 2}
    return sorted(out, key=lambda e: (order.get(e["kind"], 3), e["path"]))
