"""ONNX export of a trained document classifier (a run folder of ``distildoc.train.classification.save_classifier``).

``export_classifier(run_dir, out_dir)`` writes

* ``model.onnx``: the classifier as deployed, float32: ``pixel_values`` (float32 ``N×3×S×S``, see
  :mod:`distildoc.export.pages` for the preprocessing) -> ``logits`` (float32 ``N×K``), batch axis dynamic.
  A SimKD student goes through its projector and the frozen teacher head it was trained with (the run's
  ``method.safetensors``), exactly as ``predict_logits`` scores it.
* ``model.int8.onnx``: onnxruntime post-training quantisation of it (see :func:`quantize_classifier`).
* ``parity.json``: max / mean |Δlogit| and top-1 agreement of ONNX fp32 vs PyTorch and of int8 vs fp32,
  and, given the test split, accuracy / ECE / NLL of each of the three.
* ``config.json`` and ``README.md`` (model card): :mod:`distildoc.export.card`.

The exporter is torch's TorchScript-based one (``torch.onnx.export(dynamo=False)``): the torch.export-based
default of torch 2.14 fails on two of the project's model families (SimKD-CNN's ``teacher_hw`` buffer read
with ``.tolist()`` is data-dependent; timm BEiT's attention reshape fails a view check under a dynamic
batch), while the TorchScript exporter handles every family the presets train.

Quantisation ("auto"): static QDQ quantisation (per-channel int8 weights, symmetric int8 activations calibrated
on validation pages) for CNNs, which dynamic quantisation (``ConvInteger``) collapses; dynamic quantisation
(MatMul / Gemm weights int8, no calibration pages) for transformers, which keep their accuracy under it. Static
int8 of the EfficientNet-Lites is still not always reliable, so with a test split parity.json says
``int8_recommended`` (accuracy drop <= 1 point) and the model card repeats it. The measurements behind this are
in ``docs/tuning.md`` ("Export") and ``docs/deploy.md``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.labels import RVL_CDIP_CLASSES, TOBACCO3482_CLASSES
from ..data.tensors import TensorSplit, load_split
from ..evaluate.classification import classification_metrics
from ..utils.io import read_json, write_json
from .common import OPSET, PARITY_FORMAT, file_record, ort_session, quiet_export, versions

log = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "pixel_values", "logits"
QUANTIZATION_MODES = ("auto", "static", "dynamic", "none")
#: parity.json ``int8_recommended`` when the int8 model loses at most this much test accuracy (1 point)
INT8_MAX_DROP = 0.01
#: model families quantised statically by "auto" (conv-dominated); the others (ViT, BEiT) dynamically
CONV_FAMILIES = frozenset({"resnet", "efficientnet"})
#: label names by the dataset key of the run's metrics.json
DATASET_LABELS: dict[str, tuple[str, ...]] = {"rvl": RVL_CDIP_CLASSES, "tobacco": TOBACCO3482_CLASSES}
DATASET_NAMES = {"rvl": "RVL-CDIP", "tobacco": "Tobacco-3482"}


class DeployedClassifier(nn.Module):
    """Image -> logits of a saved run as it is scored (``method.predict`` over ``model(x, predict_needs)``)."""

    def __init__(self, model: nn.Module, method: nn.Module) -> None:
        super().__init__()
        self.model, self.method = model, method
        self.needs = tuple(sorted(method.predict_needs))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.method.predict(self.model(pixel_values, self.needs))


def load_deployed(run_dir: str | os.PathLike) -> tuple[DeployedClassifier, dict]:
    """The run's classifier as deployed (eval mode, float32) and its ``artefact.json``."""
    from ..train.classification import load_classifier

    run_dir = Path(run_dir)
    model, method = load_classifier(run_dir)
    return DeployedClassifier(model.float(), method.float()).eval(), read_json(run_dir / "artefact.json")


def run_labels(run_dir: str | os.PathLike, num_classes: int) -> list[str]:
    """Class names of a run: its dataset's (metrics.json ``dataset``), else ``class_0`` ..."""
    metrics = Path(run_dir) / "metrics.json"
    dataset = read_json(metrics).get("dataset") if metrics.is_file() else None
    names = DATASET_LABELS.get(str(dataset))
    if names is not None and len(names) == num_classes:
        return list(names)
    return [f"class_{i}" for i in range(num_classes)]


def find_dic_splits(run_dir: str | os.PathLike) -> dict[str, Path]:
    """The decoded test / val splits of a pipeline run folder (``results/<preset>/dic/tensors/
    <dataset>_{test,val}_<img_size>.pt``), those that exist."""
    run_dir = Path(run_dir).resolve()
    metrics = run_dir / "metrics.json"
    art = run_dir / "artefact.json"
    if not (metrics.is_file() and art.is_file()):
        return {}
    dataset = read_json(metrics).get("dataset")
    size = read_json(art)["model_spec"].get("img_size")
    for parent in run_dir.parents:
        if parent.name == "dic" and (parent / "tensors").is_dir():
            found = {s: parent / "tensors" / f"{dataset}_{s}_{size}.pt" for s in ("test", "val")}
            return {s: _relative(p) for s, p in found.items() if p.is_file()}
    return {}


def _relative(path: Path) -> Path:
    """`path` relative to the working directory when it lies under it (records stay portable)."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _as_split(split: TensorSplit | str | os.PathLike | None) -> tuple[TensorSplit | None, str | None]:
    if split is None or isinstance(split, TensorSplit):
        return split, None if split is None else "TensorSplit"
    return load_split(split), str(split)


def onnx_logits(session, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: np.ascontiguousarray(x[i:i + batch_size])})[0]
                           for i in range(0, len(x), batch_size)])


@torch.no_grad()
def torch_logits(model: nn.Module, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return np.concatenate([model(torch.from_numpy(x[i:i + batch_size])).float().numpy()
                           for i in range(0, len(x), batch_size)])


def export_onnx(model: DeployedClassifier, img_size: int, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """``model`` to ONNX (TorchScript exporter), dynamic batch axis, traced at batch 2."""
    path = Path(path)
    dummy = torch.zeros(2, 3, img_size, img_size)
    with quiet_export():
        torch.onnx.export(model, (dummy,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          opset_version=opset, do_constant_folding=True, dynamo=False)
    return path


def quantize_classifier(fp32: str | os.PathLike, out: str | os.PathLike, mode: str,
                        calib: np.ndarray | None = None) -> dict[str, Any]:
    """int8 copy of an exported classifier; returns what was done.

    ``static``: QDQ format, per-channel symmetric int8 weights, symmetric int8 activations, MinMax ranges from
    `calib` (float32 ``N×3×S×S`` pages, preprocessed). ``dynamic``: int8 weights of MatMul / Gemm / Conv,
    activations quantised at run time. The model is first pre-processed (shape inference, graph
    optimisation: onnxruntime's ``quant_pre_process``), as onnxruntime recommends."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32), str(pre))
            src, preprocessed = pre, True
        except Exception as err:  # symbolic shape inference fails on some graphs: quantise the raw one
            log.warning("quant_pre_process failed (%s); quantising the unprocessed graph", err)
            src, preprocessed = Path(fp32), False
        if mode == "dynamic":
            quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8)
            return {"mode": "dynamic", "weight_type": "int8", "preprocessed": preprocessed}
        if mode != "static":
            raise ValueError(f"quantisation mode {mode!r}: expected static or dynamic")
        if calib is None or len(calib) == 0:
            raise ValueError("static quantisation needs calibration pages")

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter([{INPUT_NAME: np.ascontiguousarray(calib[i:i + 16])} for i in range(0, len(calib), 16)])

            def get_next(self):
                return next(self._it, None)

        quantize_static(str(src), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        return {"mode": "static", "format": "QDQ", "weights": "int8 per-channel symmetric",
                "activations": "int8 symmetric, MinMax calibration", "preprocessed": preprocessed}


def _compare(ref: np.ndarray, other: np.ndarray) -> dict[str, float]:
    d = np.abs(other.astype(np.float64) - ref.astype(np.float64))
    return {"max_abs_logit_diff": float(d.max()), "mean_abs_logit_diff": float(d.mean()),
            "top1_agreement": float(np.mean(ref.argmax(1) == other.argmax(1)))}


def _metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    m = classification_metrics(logits, labels)
    return {k: m[k] for k in ("accuracy", "ece", "nll", "n")}


def _parity_inputs(test: TensorSplit | None, test_src: str | None, max_parity_pages: int | None, n_random: int,
                   img_size: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """The pages parity is checked on (and their labels): the test split's first pages, or seeded random inputs."""
    if test is not None:
        n = len(test) if max_parity_pages is None else min(len(test), max_parity_pages)
        x, y = test.batch(slice(0, n))
        inputs = {"source": test_src, "kind": "test split", "n": n, "of": len(test), "img_size": img_size}
        return x.contiguous().numpy(), y.numpy(), inputs
    g = np.random.default_rng(0)
    x = g.uniform(-1, 1, size=(n_random, 3, img_size, img_size)).astype(np.float32)
    return x, None, {"source": f"{n_random} uniform [-1, 1] random inputs (seed 0)", "kind": "random", "n": n_random,
                     "img_size": img_size}


def _calibration(calib_set: TensorSplit | None, calib_src: str | None, test_src: str | None, x: np.ndarray | None,
                 n_calib: int, run_dir: Path, family: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The pages static quantisation calibrates on: the calibration split's first `n_calib`, else the first test
    pages `x` (noted); neither is an error naming what to pass."""
    if calib_set is not None:
        m = min(n_calib, len(calib_set))
        return calib_set.batch(slice(0, m))[0].contiguous().numpy(), {"source": calib_src, "n": m}
    if x is not None:
        calib = x[:n_calib]
        return calib, {"source": test_src, "n": len(calib),
                       "note": "no calibration split given: calibrated on the first test pages"}
    raise ValueError(f"{run_dir}: static int8 quantisation of a {family} needs calibration pages: pass "
                     "calib_split (a decoded validation split, e.g. results/<preset>/dic/tensors/"
                     "<dataset>_val_<img_size>.pt) or test_split, or quantization='dynamic'/'none'")


def export_classifier(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                      test_split: TensorSplit | str | os.PathLike | None = None,
                      calib_split: TensorSplit | str | os.PathLike | None = None,
                      quantization: str = "auto", n_calib: int = 64, max_parity_pages: int | None = 2000,
                      n_random: int = 16, opset: int = OPSET, card: bool = True) -> dict[str, Any]:
    """Export a classification run folder to `out_dir` (model.onnx, model.int8.onnx, parity.json, config.json,
    README.md); returns the parity record.

    Args:
        test_split: decoded test split (a ``TensorSplit`` or its ``.pt`` path): parity on its first
            `max_parity_pages` pages (None: all) and accuracy / ECE per variant. Without it, parity on
            `n_random` seeded uniform [-1, 1] inputs (no accuracy).
        calib_split: pages the static quantisation calibrates on (the first `n_calib`); a validation split.
            Without it a CNN's static quantisation calibrates on the first test pages (recorded), or fails
            when no test split is given either.
        quantization: ``auto`` (static for CNNs, dynamic for ViT / BEiT: see the module docstring),
            ``static``, ``dynamic`` or ``none`` (no int8 file).
    """
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(f"quantization={quantization!r}; allowed: {', '.join(QUANTIZATION_MODES)}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    deployed, artefact = load_deployed(run_dir)
    spec = artefact["model_spec"]
    img_size, family = int(spec["img_size"]), deployed.model.family
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32_path = export_onnx(deployed, img_size, out_dir / "model.onnx", opset)
    log.info("exported %s -> %s", run_dir, fp32_path)

    test, test_src = _as_split(test_split)
    calib_set, calib_src = _as_split(calib_split)
    x, y, inputs = _parity_inputs(test, test_src, max_parity_pages, n_random, img_size)

    ref = torch_logits(deployed, x)
    fp32 = onnx_logits(ort_session(fp32_path), x)
    # a one-page batch too: the dynamic batch axis must not be specialised to the traced size
    single = onnx_logits(ort_session(fp32_path), x[:1], batch_size=1)
    record: dict[str, Any] = {
        "format": PARITY_FORMAT, "run_dir": str(run_dir), "inputs": inputs,
        "exporter": f"torch.onnx.export (TorchScript), opset {opset}",
        "max_abs_logit_torch": float(np.abs(ref).max()),
        "onnx_fp32_vs_torch": _compare(ref, fp32),
        "batch1_vs_batched_max_abs_logit_diff": float(np.abs(single - fp32[:1]).max()),
    }
    metrics: dict[str, Any] = {}
    if y is not None:
        metrics = {"torch": _metrics(ref, y), "onnx_fp32": _metrics(fp32, y)}

    files = {"model.onnx": file_record(fp32_path)}
    int8_path = out_dir / "model.int8.onnx"
    mode = quantization if quantization != "auto" else ("static" if family in CONV_FAMILIES else "dynamic")
    if mode == "none":
        int8_path.unlink(missing_ok=True)
        record["quantization"] = {"mode": "none"}
    else:
        calib, calib_note = None, None
        if mode == "static":
            calib, calib_note = _calibration(calib_set, calib_src, test_src, x if test is not None else None, n_calib,
                                             run_dir, family)
        q = quantize_classifier(fp32_path, int8_path, mode, calib)
        if calib_note is not None:
            q["calibration"] = calib_note
        q["chosen_by"] = "auto: static for CNNs, dynamic for transformers" if quantization == "auto" else "caller"
        record["quantization"] = q
        int8 = onnx_logits(ort_session(int8_path), x)
        record["onnx_int8_vs_fp32"] = _compare(fp32, int8)
        record["onnx_int8_vs_torch"] = _compare(ref, int8)
        files["model.int8.onnx"] = file_record(int8_path)
        if y is not None:
            metrics["onnx_int8"] = _metrics(int8, y)
            record["int8_accuracy_drop"] = metrics["onnx_fp32"]["accuracy"] - metrics["onnx_int8"]["accuracy"]
            record["int8_recommended"] = bool(record["int8_accuracy_drop"] <= INT8_MAX_DROP)
    record["metrics"] = metrics or None
    record["files"] = files
    record["versions"] = versions("torch", "onnx", "onnxruntime", "timm")
    write_json(out_dir / "parity.json", record)
    if card:
        from .card import write_classifier_card

        write_classifier_card(run_dir, out_dir, artefact, record, run_labels(run_dir, int(spec["num_classes"])))
    log.info("parity %s: fp32 max|dlogit| %.2e, int8 %s", out_dir, record["onnx_fp32_vs_torch"]["max_abs_logit_diff"],
             record.get("onnx_int8_vs_fp32"))
    return record
