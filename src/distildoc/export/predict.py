"""Predictors over a MODEL path, as the ``distildoc`` CLI takes it: a pipeline run folder (PyTorch) or an export
folder (onnxruntime), for classification or layout.

Kinds of folder:

* classification run: ``artefact.json`` + ``model.safetensors`` + ``method.safetensors`` (``save_classifier``)
* layout model: ``spec.json`` + ``model.pt`` (``train_dla``)
* export: ``config.json`` with ``"format": "distildoc-export/v1"`` and ``task`` ``image-classification`` or
  ``object-detection`` (:mod:`distildoc.export.classifier` / :mod:`distildoc.export.detector`)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..utils.io import read_json
from .common import EXPORT_FORMAT, ort_session
from .pages import classifier_input, detector_input, detector_page_tensor

CLASSIFIER, DETECTOR = "classifier", "detector"


class ModelNotFound(FileNotFoundError):
    """The MODEL path does not exist (the message says how to produce it)."""


class WrongModelKind(ValueError):
    """The MODEL path is no model folder, or one of the other task."""


def _preset_of(path: Path) -> str | None:
    m = re.search(r"(?:^|/)results/([^/]+)/", str(path).replace(os.sep, "/") + "/")
    return m.group(1) if m else None


def how_to_produce(path: str | os.PathLike, kind: str | None = None) -> str:
    path = Path(path)
    preset = _preset_of(path) or "<preset>"
    s = str(path).replace(os.sep, "/")
    target = "dla" if "/dla/" in s or kind == DETECTOR else "dic" if "/dic/" in s or kind == CLASSIFIER else "all"
    return (f"train it with the pipeline: `snakemake --cores 2 {target} --config preset={preset}` (run folders under "
            f"results/{preset}/dic/{{teachers,runs}}/... and results/{preset}/dla/models/...), or export a trained run "
            "with `distildoc export RUN_DIR OUT_DIR`; `distildoc models --preset "
            f"{preset}` lists what is there")


def model_kind(path: str | os.PathLike) -> tuple[str, str]:
    """``(classifier|detector, run|export)`` of a MODEL folder; ModelNotFound / WrongModelKind otherwise."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFound(f"model path not found: {path}; {how_to_produce(path)}")
    if not path.is_dir():
        raise WrongModelKind(f"{path} is a file; MODEL is a run folder or an export folder")
    cfg = path / "config.json"
    if cfg.is_file():
        try:
            c = read_json(cfg)
        except ValueError:
            c = {}
        if c.get("format") == EXPORT_FORMAT:
            task = c.get("task")
            if task == "image-classification":
                return CLASSIFIER, "export"
            if task == "object-detection":
                return DETECTOR, "export"
            raise WrongModelKind(f"{cfg}: unknown task {task!r}")
    if (path / "artefact.json").is_file():
        return CLASSIFIER, "run"
    if (path / "spec.json").is_file():
        return DETECTOR, "run"
    raise WrongModelKind(f"{path} holds no distildoc model (no artefact.json, spec.json + model.pt, or export "
                         f"config.json); {how_to_produce(path)}")


@dataclass
class ClassifierPredictor:
    path: Path
    backend: str  # "torch" or "onnx"
    labels: list[str]
    img_size: int
    model: Any
    file: str | None = None

    def logits(self, images: list[Image.Image]) -> np.ndarray:
        x = classifier_input(images, self.img_size)
        if self.backend == "onnx":
            return self.model.run(None, {self.model.get_inputs()[0].name: x})[0]
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(x)).float().numpy()


@dataclass
class DetectorPredictor:
    path: Path
    backend: str
    labels: dict[int, str]
    model: Any
    input_size: tuple[int, int] | None = None  # (H, W) an ONNX export resizes pages to
    file: str | None = None

    def detect(self, image: Image.Image) -> dict[str, np.ndarray]:
        """``boxes`` (xyxy in page pixels), ``labels`` (ids), ``scores``, descending."""
        if self.backend == "onnx":
            boxes, labels, scores = self.model.run(None, {"image": detector_input(image)})[:3]
        else:
            import torch

            with torch.no_grad():
                out = self.model([detector_page_tensor(image)])[0]
            boxes, labels, scores = (out[k].numpy() for k in ("boxes", "labels", "scores"))
        order = np.argsort(-scores, kind="stable")
        return {"boxes": boxes[order], "labels": labels[order], "scores": scores[order]}


def load_predictor(path: str | os.PathLike, expect: str | None = None, int8: bool = False):
    """The predictor of a MODEL folder; `expect` (classifier / detector) raises WrongModelKind on the other."""
    path = Path(path)
    kind, form = model_kind(path)
    if expect is not None and kind != expect:
        raise WrongModelKind(f"{path} is a {kind}, this command needs a {expect}")
    if kind == CLASSIFIER:
        if form == "export":
            cfg = read_json(path / "config.json")
            name = (cfg["files"].get("int8") if int8 else cfg["files"]["fp32"])
            if not name or not (path / name).is_file():
                raise ModelNotFound(f"{path / (name or 'model.int8.onnx')} not found"
                                    + ("; re-export with quantisation" if int8 else ""))
            return ClassifierPredictor(path, "onnx", list(cfg["labels"]), int(cfg["img_size"]), ort_session(path / name), name)
        if int8:
            raise WrongModelKind(f"{path} is a run folder: --int8 needs an export folder (`distildoc export`)")
        from .classifier import load_deployed, run_labels

        model, artefact = load_deployed(path)
        spec = artefact["model_spec"]
        return ClassifierPredictor(path, "torch", run_labels(path, int(spec["num_classes"])), int(spec["img_size"]),
                                   model, "model.safetensors")
    if form == "export":
        cfg = read_json(path / "config.json")
        if not (path / cfg["files"]["fp32"]).is_file():
            raise ModelNotFound(f"{path / cfg['files']['fp32']} not found")
        return DetectorPredictor(path, "onnx", {int(k): v for k, v in cfg["labels"].items()},
                                 ort_session(path / cfg["files"]["fp32"]), tuple(cfg["input_size"]), cfg["files"]["fp32"])
    from ..train.dla import load_detector, model_label_names

    return DetectorPredictor(path, "torch", model_label_names(path), load_detector(path).float(), None, "model.pt")
