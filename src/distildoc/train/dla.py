"""Document layout analysis jobs of the paper's Table 3 / 13: one detector per job (supervised teacher
or student, or a student distilled from a trained teacher), trained and evaluated; then all of them measured together.

A model folder holds ``model.pt`` (state dict), ``spec.json`` (the `DetectorSpec`), ``metrics.json``
(COCO bbox / segm AP on the evaluation split, parameters, training time) and the training checkpoints
(``ckpt/<configuration key>/``; a killed job resumes from the latest one) and the training curves (``dvclive/``,
`distildoc.train.curves`, with the final mAP in its ``metrics.json``). FLOPs and images/s come from
`measure_dla_models`, one job that times every model side by side
(`distildoc.evaluate.detection.measure_efficiency`), so that throughput is not skewed by whichever
training job happened to run alongside.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import torch

from ..data.coco import CocoDetectionDataset, load_coco
from ..distill.detection import build_method
from ..data.labels import DOCLAYNET_CATEGORIES
from ..evaluate.detection import (EVAL_PREDICTIONS_FILE, coco_evaluate, count_params, export_predictions,
                                  measure_efficiency, predict_dataset, write_eval_predictions)
from ..models.detection import DetectorSpec, build_detector, detector_spec
from ..models.detection.vit_init import init_vit_backbone
from ..settings import dic_run_input
from ..utils import distributed as dist
from ..utils.io import atomic_path, read_json, write_json
from .curves import LIVE_DIRNAME, write_summary
from .detection import train_detector

log = logging.getLogger(__name__)


def subset_coco(coco: dict, n_images: int) -> dict:
    """The first `n_images` pages of a COCO file (in file order) with their annotations."""
    images = coco["images"][:n_images]
    keep = {im["id"] for im in images}
    return {**coco, "images": images, "annotations": [a for a in coco["annotations"] if a["image_id"] in keep]}


def dla_spec(role: str, dla_cfg: dict, num_classes: int) -> DetectorSpec:
    overrides = dict(dla_cfg.get("overrides", {}).get(role, {}))
    return detector_spec(role, dla_cfg["detectors"], num_classes=num_classes, score_thresh=dla_cfg["eval_score_thresh"],
                         nms_thresh=dla_cfg["nms_thresh"], **overrides)


def job_config(dla_cfg: dict, role: str, method: str, dataset: str | None = None, dic_res: str | None = None) -> dict:
    """The part of the `dla` configuration one training job depends on: its family's recipe (with the
    dataset's `dataset_recipes` fields over it, for a further layout dataset such as PRImA), its role's
    `recipe_overrides` / `overrides` / `vit_init`, its method's hyper-parameters, and the shared settings.

    Snakemake re-runs a job when its params change, so a new ViT recipe re-trains the ViT models only, and
    a PRImA recipe only the PRImA models. Order, last wins: ``recipes[family]`` <
    ``dataset_recipes[dataset][family]`` < ``recipe_overrides[role]`` (applied by `train_dla`).

    ``vit_init[role]`` (a classification run relative to ``results/<preset>/dic``, see :func:`dic_run_input`)
    becomes the run folder under `dic_res` (``results/<preset>/dic``; required then) that `train_dla` loads the
    role's ViT backbone from."""
    # the recipe family of the role's detector, as train_dla reads it (`DetectorSpec.recipe_family`)
    family = detector_spec(role, dla_cfg["detectors"], **dla_cfg.get("overrides", {}).get(role, {})).recipe_family
    # per-job keys (re-added below for this job only) and evaluation-only ones (`real_eval`: scoring on real
    # pages, `efficiency`, `predict_folders`), which re-train nothing
    per_job = ("recipes", "recipe_overrides", "methods", "overrides", "efficiency", "distill", "teachers", "students",
               "dataset_recipes", "predict_folders", "vit_init", "real_eval")
    cfg = {k: v for k, v in dla_cfg.items() if k not in per_job}
    recipe = dict(dla_cfg["recipes"][family])
    if dataset is not None:
        recipe.update(dla_cfg.get("dataset_recipes", {}).get(dataset, {}).get(family, {}))
    cfg["recipes"] = {family: recipe}
    cfg["recipe_overrides"] = {r: o for r, o in dla_cfg.get("recipe_overrides", {}).items() if r == role}
    cfg["overrides"] = {r: o for r, o in dla_cfg.get("overrides", {}).items() if r == role}
    cfg["methods"] = {m: h for m, h in dla_cfg["methods"].items() if m == method}
    dic_run = (dla_cfg.get("vit_init") or {}).get(role)
    if dic_run:
        if family != "vit":
            raise ValueError(f"dla.vit_init.{role}: only ViT-FPN roles start from a classifier, not {role!r}")
        if dic_res is None:
            raise ValueError(f"job_config: dla.vit_init.{role} = {dic_run!r} needs dic_res (results/<preset>/dic)")
        cfg["vit_init"] = {role: f"{str(dic_res).rstrip('/')}/{dic_run_input(dic_run)[1]}"}
    return cfg


def load_detector(model_dir: str | Path) -> torch.nn.Module:
    model_dir = Path(model_dir)
    if not (model_dir / "model.pt").is_file():
        raise FileNotFoundError(f"missing detector checkpoint: {model_dir / 'model.pt'}")
    spec = DetectorSpec.from_dict(read_json(model_dir / "spec.json"))
    model = build_detector(spec)
    model.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    return model.eval()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def model_label_names(model_dir: str | Path) -> dict[int, str]:
    """``{label: category name}`` of a trained detector, from its ``metrics.json`` (``categories``, the training
    COCO file's); models trained before that was recorded are DocLayNet-labelled (synthetic and DocLayNet)."""
    metrics = Path(model_dir) / "metrics.json"
    cats = read_json(metrics).get("categories") if metrics.is_file() else None
    if not cats:
        log.info("%s has no categories: DocLayNet's label names", metrics)
        return {i + 1: n for i, n in enumerate(DOCLAYNET_CATEGORIES)}
    return {int(c["id"]): str(c["name"]) for c in cats}


def folder_images(folder: str | Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """The page images directly in `folder` (by suffix, case-insensitive), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"page image folder not found: {folder}")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not images:
        raise ValueError(f"{folder}: no page image ({', '.join(suffixes)})")
    return images


def predict_folder(model_dir: str | Path, folder: str | Path, out_json: str | Path, score_thresh: float = 0.5) -> dict:
    """Run a trained detector (a model folder of `train_dla`) over every page image in `folder` and write the
    predictions in the ``distildoc-dla-predictions/v1`` format (`distildoc.evaluate.detection.export_predictions`:
    boxes xyxy in image pixels, label names, scores, image size; unreadable images skipped and named)."""
    images = folder_images(folder)
    log.info("predicting layout on %d page image(s) of %s with %s", len(images), folder, model_dir)
    return export_predictions(load_detector(model_dir), images, out_json, score_thresh=score_thresh,
                              label_names=model_label_names(model_dir))


def train_dla(out_dir: str | Path, role: str, dla_cfg: dict, train_ann: str | Path, eval_ann: str | Path,
              images_root: str | Path, method_key: str | None = None, teacher_dir: str | Path | None = None,
              seed: int = 0) -> dict:
    """Train one detector (distilled from `teacher_dir` with `method_key` when given), evaluate, measure.

    ``dla_cfg["vit_init"][role]`` (a classification run folder, as `job_config` resolves it) initialises a
    ViT-FPN backbone from that trained ViT classifier (`distildoc.models.detection.vit_init`); its record
    goes into metrics.json (``backbone_init``), as the ImageNet weights' record of the CNNs does
    (``weights_provenance``)."""
    out_dir = Path(out_dir)
    train_coco = load_coco(train_ann)
    num_classes = max(c["id"] for c in train_coco["categories"]) + 1
    spec = dla_spec(role, dla_cfg, num_classes)
    torch.manual_seed(seed)
    model = build_detector(spec)
    init_dir = (dla_cfg.get("vit_init") or {}).get(role)
    backbone_init = init_vit_backbone(model, init_dir) if init_dir else None
    teacher = method = None
    if method_key is not None:
        teacher = load_detector(teacher_dir)
        hparams = dict(dla_cfg["methods"].get(method_key, {}))
        method = build_method(method_key, model, teacher, **hparams)
    family = spec.recipe_family
    recipe = {**dla_cfg["recipes"][family], **dla_cfg.get("recipe_overrides", {}).get(role, {})}
    recipe.update(seed=seed, progress=True)
    train_set = CocoDetectionDataset(images_root, train_ann)
    log.info("training %s%s on %d pages (%s)", role, f" <- {method_key} from {teacher_dir}" if method_key else "",
             len(train_set), recipe)
    # checkpoints of a configuration live under its own key, so a changed preset starts afresh (a run of the
    # old configuration keeps its checkpoints) while a killed run of the same one resumes
    run_key = hashlib.sha1(json.dumps({"spec": spec.to_dict(), "recipe": recipe, "method": method_key,
                                       "hparams": dla_cfg["methods"].get(method_key or "", {}),
                                       "teacher": str(teacher_dir) if teacher_dir else None,
                                       **({"backbone_init": backbone_init["sha256"]} if backbone_init else {})},
                                      sort_keys=True, default=str).encode()).hexdigest()[:12]
    result = train_detector(model, train_set, recipe, method=method, teacher=teacher,
                            ckpt_dir=out_dir / "ckpt" / run_key, live_dir=out_dir / LIVE_DIRNAME)
    model.eval()
    if not dist.is_main_process():  # under torchrun every rank trains; rank 0 evaluates and writes
        return {}
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(out_dir / "spec.json", spec.to_dict())

    eval_set = CocoDetectionDataset(images_root, eval_ann)
    eval_skipped = eval_set.drop_unreadable()  # unreadable pages are left out of the evaluation, and named
    t0 = time.perf_counter()
    preds = predict_dataset(model, eval_set, batch_size=2)
    predict_s = time.perf_counter() - t0
    coco_metrics = coco_evaluate(eval_set.coco if eval_skipped else eval_ann, preds)
    # per-page detections + ground truth for the page-bootstrap intervals of the report (claims)
    write_eval_predictions(out_dir / EVAL_PREDICTIONS_FILE, preds, [im["id"] for im in eval_set.images],
                           eval_ann)
    metrics = {
        "role": role, "method": method_key or "supervised", "teacher_dir": str(teacher_dir) if teacher_dir else None,
        # the model's label k is the COCO category id k: its names travel with the model (predict_folder)
        "categories": [{"id": c["id"], "name": c["name"]} for c in train_coco["categories"]],
        "detectors": dla_cfg["detectors"], "seed": seed,
        "bbox": coco_metrics["bbox"], "segm": coco_metrics.get("segm"),
        "mAP": coco_metrics["bbox"]["AP"],
        "params_M": count_params(model),
        # the record of the backbone's initial weights: offline ImageNet weights (CNNs) / a dic classifier (ViTs)
        "weights_provenance": getattr(model, "weights_provenance", None),
        "backbone_init": backbone_init,
        "train": {"iterations": result["iterations"], "wall_time_s": result["wall_time_s"],
                  "seconds_per_iteration": result["seconds_per_iteration"], "resumed_from": result["resumed_from"],
                  "history": result["history"][-5:],
                  # SimKD-FPN: which FPN tensors were copied from the teacher (None for the other methods)
                  "fpn_init": result.get("fpn_init")},
        "eval_pages": len(eval_set), "predict_seconds": predict_s,
        "eval_score_thresh": dla_cfg["eval_score_thresh"], "nms_thresh": dla_cfg["nms_thresh"],
        "skipped_inputs": {"train": result["skipped_inputs"], "eval": eval_skipped,
                           "count": len(result["skipped_inputs"]) + len(eval_skipped)},
    }
    write_json(out_dir / "metrics.json", metrics)
    write_summary(out_dir / LIVE_DIRNAME, {"eval/mAP": metrics["mAP"],
                                           "eval/segm_mAP": (metrics["segm"] or {}).get("AP")})
    log.info("%s (%s): bbox mAP %.2f, %.2f M params, %d iterations in %.0f s", role, metrics["method"],
             metrics["mAP"] or 0.0, metrics["params_M"], result["iterations"], result["wall_time_s"])
    return metrics


def efficiency_pages(eval_ann: str | Path, images_root: str | Path, n_pages: int) -> tuple[list[torch.Tensor], list[str]]:
    """The first `n_pages` readable evaluation pages (3×H×W in [0, 1]) the detectors are timed on, and their
    file names; unreadable pages are skipped (logged) as in the evaluation."""
    dataset = CocoDetectionDataset(images_root, eval_ann)
    dataset.drop_unreadable()
    n = min(n_pages, len(dataset))
    if n == 0:
        raise ValueError(f"{eval_ann}: no readable evaluation page to time the detectors on")
    return [dataset[i][0] for i in range(n)], [dataset.images[i]["file_name"] for i in range(n)]


def measure_dla_models(model_dirs: list[str | Path], eff_cfg: dict, eval_ann: str | Path | None = None,
                       images_root: str | Path | None = None) -> dict:
    """Parameters, GFLOPs and images/s of trained detectors (`dla.efficiency`: input_size (H, W) for the
    FLOPs, pages, warmup, iters, rounds), keyed by model folder name, with a note on how they were measured.

    Images/s are timed on the first ``pages`` evaluation pages of `eval_ann` (cycled), FLOPs counted on the
    first of them resized to ``input_size``; without `eval_ann` (or with ``pages: 0``) on a random image."""
    size = tuple(eff_cfg["input_size"])
    rounds = eff_cfg.get("rounds", 3)
    n_pages = eff_cfg.get("pages", 20)
    pages, names = ([], [])
    if eval_ann is not None and n_pages > 0:
        if images_root is None:
            raise ValueError("measure_dla_models: eval_ann given without images_root")
        pages, names = efficiency_pages(eval_ann, images_root, n_pages)
        log.info("timing on %d evaluation page(s) of %s: %s%s", len(pages), eval_ann, ", ".join(names[:5]),
                 " ..." if len(names) > 5 else "")
    models = {Path(d).name: load_detector(d) for d in model_dirs}
    res = measure_efficiency(models, size, warmup=eff_cfg["warmup"], iters=eff_cfg["iters"], rounds=rounds,
                             pages=pages or None)
    where = (f"the first {len(pages)} evaluation page(s) (cycled, each at its own size)" if pages
             else f"a random {size[1]}x{size[0]} image")
    flops_on = f"the first evaluation page resized to {size[1]}x{size[0]}" if pages else f"a random {size[1]}x{size[0]} image"
    note = (f"torch FlopCounterMode (2 FLOPs per multiply-add) on {flops_on}, eval forward; images/s at batch 1 "
            f"with {torch.get_num_threads()} thread(s) on {where}, whole detector incl. post-processing "
            f"(backbone_images_per_second: backbone + FPN only): median of {rounds} rounds of "
            f"{eff_cfg['iters']} pages per model, the models interleaved page by page, after {eff_cfg['warmup']} warm-up pages")
    for name, rec in res.items():
        log.info("%s: %.2f M params, %.2f GFLOPs, %.2f im/s (rounds %s), backbone %.2f im/s", name, rec["params_M"],
                 rec["gflops"], rec["images_per_second"],
                 ", ".join(f"{v:.2f}" for v in rec["images_per_second_rounds"]), rec["backbone_images_per_second"])
    return {"note": note, "input_size": list(size), "timing_pages": names, "models": res}
