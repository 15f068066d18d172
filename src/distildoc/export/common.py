"""Shared pieces of the exports: the onnxruntime session, file records, the export folder's config."""

from __future__ import annotations

import hashlib
import os
import warnings
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from ..utils.io import read_json

#: ``config.json`` ``format`` of an export folder
EXPORT_FORMAT = "distildoc-export/v1"
PARITY_FORMAT = "distildoc-export-parity/v1"
#: ONNX opset the exports are written in (torch's TorchScript-based exporter; onnxruntime 1.32 runs it)
OPSET = 17


def ort_session(path: str | os.PathLike, threads: int | None = None):
    """A CPU onnxruntime session; its intra-op threads are `threads` when given, else ``OMP_NUM_THREADS`` when
    set (else onnxruntime's default), and its warnings are silenced (severity >= error only)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else None
    elif int(threads) < 1:
        raise ValueError(f"ort_session: threads must be >= 1, got {threads}")
    if threads is not None:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def file_record(path: str | os.PathLike) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": Path(path).stat().st_size, "sha256": h.hexdigest()}


def versions(*names: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def is_export_dir(path: str | os.PathLike) -> bool:
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return read_json(cfg).get("format") == EXPORT_FORMAT
    except ValueError:
        return False


@contextmanager
def quiet_export():
    """Silence the warnings torch's TorchScript-based exporter prints on every export (its deprecation
    notice and tracer warnings about shapes that are constant for a fixed input size)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            from torch.jit import TracerWarning

            warnings.filterwarnings("ignore", category=TracerWarning)
        except ImportError:  # pragma: no cover
            pass
        yield


def results_root_of(run_dir: Path) -> tuple[Path | None, str | None]:
    """``(results/<preset>, preset)`` above a run folder laid out by the pipeline, else ``(None, None)``."""
    for parent in run_dir.resolve().parents:
        if parent.parent.name == "results":
            return parent, parent.name
    return None, None


def preset_data_source(preset: str | None, params: str | os.PathLike = "params.yaml") -> str | None:
    """``data.source`` of the preset `preset` of params.yaml, resolved (``synthetic`` / ``real`` ...), when readable."""
    if preset is None or not Path(params).is_file():
        return None
    try:
        from ..config import load_preset

        return str(load_preset(params, preset)["data"]["source"])
    except Exception:
        return None
