"""Training document image classifiers: teachers (supervised) and students (any distillation method).

The paper's recipe (AdamW, linear schedule with 10 % warm-up, model selection on the validation loss,
teacher frozen in eval mode seeing the same input tensors as the student) over pre-decoded splits
(`distildoc.data.tensors`). There is no augmentation, so a teacher's outputs on a split never change:
`TeacherCache` computes them once per (teacher weights, split, preprocessing, dtype) and every student
run reuses them; `OnlineTeacher` is the fallback that runs the teacher on each batch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from ..data.tensors import TensorSplit
from ..distill import build_method
from ..distill.base import DistillMethod, ModelDims, ModelOutputs
from ..evaluate.classification import classification_metrics
from ..models.classification import ALL_FEATURES, CNN_FAMILIES, DocClassifier, ModelSpec, build_model, count_parameters
from ..utils import distributed as dist
from ..utils.rng import rng_state, set_rng_state
from ..utils.io import atomic_path, read_json, write_json
from .step import optimiser_step

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Optimisation recipe (defaults: the paper's student recipe)."""

    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 5e-4
    warmup_frac: float = 0.1
    seed: int = 0
    eval_batch_size: int = 128
    select_on: str = "val_loss"  # or "val_accuracy"
    max_grad_norm: float | None = 1.0  # gradient clipping, the HF Trainer default the paper trained with
    progress: bool = True
    checkpoint_every: int = 0  # optimiser steps between checkpoints (0: only at epoch ends); needs a ckpt_dir
    schedule: str = "linear"  # "linear" (HF's, the paper's) or "cosine" decay after the warm-up
    autocast: str | None = None  # "bfloat16": forward passes under bf16 autocast (losses in float32)
    shift: int = 0  # augmentation: random translation by up to `shift` px (white fill); teacher training only
    freeze_at: int = 0  # ImageNet CNNs: stem + first freeze_at - 1 stages frozen (DocClassifier.freeze_stages)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule {self.schedule!r} unknown; allowed values: {', '.join(SCHEDULES)}")
        if self.autocast not in (None, "bfloat16"):
            raise ValueError(f"TrainConfig.autocast {self.autocast!r} unknown; allowed values: bfloat16 or null")
        if self.freeze_at < 0:
            raise ValueError(f"TrainConfig.freeze_at must be >= 0, got {self.freeze_at}")
        if self.shift < 0:
            raise ValueError(f"TrainConfig.shift must be >= 0 pixels, got {self.shift}")


def linear_warmup_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_frac: float):
    """Linear warm-up to the base lr over `warmup_frac` of the steps, then linear decay to 0
    (the schedule of HF `get_linear_schedule_with_warmup`)."""
    warmup = int(total_steps * warmup_frac)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cosine_warmup_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_frac: float):
    """Linear warm-up to the base lr over `warmup_frac` of the steps, then cosine decay to 0
    (HF `get_cosine_schedule_with_warmup`, one half-cycle)."""
    warmup = int(total_steps * warmup_frac)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


SCHEDULES = {"linear": linear_warmup_schedule, "cosine": cosine_warmup_schedule}


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image of a normalised batch by a random (dx, dy) in [-max_shift, max_shift] px,
    filling with white (1.0 after the (x/255 - 0.5)/0.5 normalisation): a page moved on the scanner bed."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (max_shift,) * 4, value=1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator)
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


def autocast_context(kind: str | None, device_type: str):
    """bf16 autocast for `kind` == "bfloat16", else a no-op context."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=kind == "bfloat16")


def _prepare(model: DocClassifier) -> tuple[DocClassifier, torch.memory_format]:
    """CNNs run in channels_last (about halves their CPU time, ResNets and EfficientNets alike; same
    outputs up to rounding)."""
    if model.family in CNN_FAMILIES:
        return model.to(memory_format=torch.channels_last), torch.channels_last
    return model, torch.contiguous_format


# -- teacher outputs ------------------------------------------------------------------------------


class TeacherSource(Protocol):
    def outputs(self, index: torch.Tensor, x: torch.Tensor) -> ModelOutputs: ...


@dataclass
class OnlineTeacher:
    """Runs the frozen teacher on every batch (needed when inputs change between epochs)."""

    model: DocClassifier
    features: frozenset[str]

    def __post_init__(self) -> None:
        self.model.eval().requires_grad_(False)
        self.model, self.fmt = _prepare(self.model)

    @torch.no_grad()
    def outputs(self, index: torch.Tensor, x: torch.Tensor) -> ModelOutputs:
        return self.model(x.contiguous(memory_format=self.fmt), self.features)


@dataclass
class TeacherCache:
    """Teacher outputs on one split, precomputed; `outputs` indexes them by example."""

    tensors: dict[str, torch.Tensor]
    key: str

    def outputs(self, index: torch.Tensor, x: torch.Tensor | None = None) -> ModelOutputs:
        return ModelOutputs(**{k: v[index] for k, v in self.tensors.items()})

    def take(self, rows: torch.Tensor) -> TeacherCache:
        """The cached outputs of `rows` only (as :meth:`distildoc.data.tensors.TensorSplit.take`), same key."""
        return TeacherCache({k: v[rows] for k, v in self.tensors.items()}, self.key)


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def cache_key(teacher_digest: str, split: TensorSplit, img_size: int, dtype: str, features: frozenset[str]) -> str:
    """Content hash of what determines the cached outputs."""
    payload = json.dumps({"teacher": teacher_digest, "split": split.fingerprint, "img_size": img_size,
                          "normalisation": "gray(x/255-0.5)/0.5 x3", "dtype": dtype,
                          "features": sorted(features)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@torch.no_grad()
def compute_teacher_outputs(teacher: DocClassifier, split: TensorSplit, features: frozenset[str] = ALL_FEATURES,
                            batch_size: int = 128, dtype: str = "float32", progress: bool = True) -> dict[str, torch.Tensor]:
    """All requested teacher outputs on `split`, stored as float32 (computed under bf16 autocast when
    `dtype` is ``bfloat16``, faster on CPUs for the big teachers: docs/tuning.md)."""
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"cache dtype {dtype!r} not supported; allowed values: float32, bfloat16")
    teacher.eval()
    teacher, fmt = _prepare(teacher)
    chunks: dict[str, list[torch.Tensor]] = {}
    device_type = next(teacher.parameters()).device.type
    for start in tqdm(range(0, len(split), batch_size), desc="teacher outputs", disable=not progress):
        x, _ = split.batch(slice(start, start + batch_size))
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            out = teacher(x.contiguous(memory_format=fmt), features)
        for name in features:
            chunks.setdefault(name, []).append(getattr(out, name).float().contiguous())
    return {k: torch.cat(v) for k, v in chunks.items()}


def save_teacher_cache(path: str | Path, tensors: dict[str, torch.Tensor], key: str, info: dict) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"key": key, "info": json.dumps(info)})


def load_teacher_cache(path: str | Path, expected_key: str | None = None) -> TeacherCache:
    """Load a cache file; a key mismatch (stale cache) is an error naming the file."""
    from safetensors import safe_open

    if not Path(path).is_file():
        raise FileNotFoundError(f"missing teacher cache: {path}")
    with safe_open(str(path), "pt") as fh:
        key = fh.metadata()["key"]
    if expected_key is not None and key != expected_key:
        raise ValueError(f"teacher cache {path} has key {key}, expected {expected_key}: it is stale; delete it")
    return TeacherCache(load_file(str(path)), key)


# -- the training loop ----------------------------------------------------------------------------


@dataclass
class FitResult:
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    examples_per_second: float = 0.0


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def _student_features(method: DistillMethod, training: bool) -> frozenset[str]:
    return frozenset(method.student_needs | method.predict_needs) if training else frozenset(method.predict_needs)


@torch.no_grad()
def evaluate_loss(model: DocClassifier, method: DistillMethod, split: TensorSplit, teacher: TeacherSource | None,
                  batch_size: int, fmt: torch.memory_format) -> tuple[float, float]:
    """Mean method loss and accuracy on a split (teacher outputs from `teacher` when the method needs them)."""
    model.eval()
    method.eval()
    total, correct, n = 0.0, 0, 0
    feats = _student_features(method, training=True)
    for idx in _batches(len(split), batch_size, None):
        x, y = split.batch(idx)
        s = model(x.contiguous(memory_format=fmt), feats)
        t = teacher.outputs(idx, x) if (teacher is not None and method.needs_teacher) else None
        losses, logits = method.forward_and_predict(s, t, y)
        total += float(losses["loss"]) * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        n += len(idx)
    return total / n, correct / n


def _rng_state(gen: torch.Generator) -> dict:
    """The global RNG states plus the batch-order generator's."""
    return {**rng_state(), "batch_order": gen.get_state()}


def _set_rng_state(state: dict, gen: torch.Generator) -> None:
    set_rng_state(state)
    gen.set_state(state["batch_order"])


#: TrainConfig fields that may differ between a run and its resumption without changing its trajectory
_RESUME_FREE = {"progress", "checkpoint_every", "eval_batch_size"}

CKPT_NAME = "fit_checkpoint.pt"


def save_fit_checkpoint(ckpt_dir: str | Path, state: dict) -> Path:
    """Write the training state atomically to ``ckpt_dir/fit_checkpoint.pt`` (one file, replaced each time)."""
    path = Path(ckpt_dir) / CKPT_NAME
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    log.info("checkpoint %s (epoch %d, step %d of the epoch)", path, state["epoch"], state["step_in_epoch"])
    return path


def load_fit_checkpoint(ckpt_dir: str | Path | None, cfg: TrainConfig) -> dict | None:
    """The saved training state in `ckpt_dir` (None if there is none); a checkpoint of another recipe
    is an error naming the file and the changed keys."""
    if ckpt_dir is None or not (Path(ckpt_dir) / CKPT_NAME).is_file():
        return None
    path = Path(ckpt_dir) / CKPT_NAME
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable checkpoint: say which file
        raise RuntimeError(f"unreadable training checkpoint {path}: {err}; delete it to start afresh") from err
    now = asdict(cfg)
    diffs = [f"{k}: checkpoint {v!r} vs now {now.get(k)!r}" for k, v in state["config"].items()
             if k not in _RESUME_FREE and now.get(k) != v]
    if diffs:
        raise ValueError(f"cannot resume from {path}: the recipe changed ({'; '.join(diffs)}); delete {ckpt_dir}")
    return state


class _TrainStep(nn.Module):
    """Student + method as one module, so that DistributedDataParallel syncs the gradients of both."""

    def __init__(self, model: DocClassifier, method: DistillMethod, feats: frozenset[str], fmt,
                 autocast: str | None = None) -> None:
        super().__init__()
        self.model, self.method, self.feats, self.fmt, self.autocast = model, method, feats, fmt, autocast

    def forward(self, x: torch.Tensor, t: ModelOutputs | None, y: torch.Tensor) -> torch.Tensor:
        with autocast_context(self.autocast, x.device.type):
            s = self.model(x.contiguous(memory_format=self.fmt), self.feats)
        if self.autocast is not None:
            s = s.to(torch.float32)  # the method's loss math runs in float32
        losses = self.method(s, t, y)
        self.parts = {k: v.detach() if isinstance(v, torch.Tensor) else v  # the named losses, for the curves
                      for k, v in losses.items() if k != "loss"}
        return losses["loss"]


@dataclass
class _FitProgress:
    """Where a `fit` stands, as its checkpoint saves it (besides the modules', optimiser's and RNG states): the epoch
    and step within it, the epoch's batch order and running loss sums, the best validation state, the history."""

    epoch: int = 0
    step_in_epoch: int = 0
    order: torch.Tensor | None = None
    running: float = 0.0
    running_parts: dict[str, float] = field(default_factory=dict)  # the epoch's sums of the named losses
    best_score: float = math.inf
    best_state: tuple[dict, dict] | None = None
    best_epoch: int = -1
    history: list[dict] = field(default_factory=list)
    seen: int = 0
    prior_seconds: float = 0.0  # training time of the runs before a resumption
    curves: list[dict] = field(default_factory=list)  # one record per finished epoch (the DVCLive rows)

    #: checkpoint keys stored as they are (``train_seconds`` is added with the time so far)
    SAVED = ("epoch", "step_in_epoch", "order", "running", "best_score", "best_state", "best_epoch", "history",
             "seen", "curves", "running_parts")

    @classmethod
    def from_checkpoint(cls, state: dict) -> _FitProgress:
        return cls(state["epoch"], state["step_in_epoch"], state["order"], state["running"],
                   dict(state.get("running_parts") or {}), state["best_score"], state["best_state"],
                   state["best_epoch"], state["history"], state["seen"], state["train_seconds"],
                   state.get("curves") or [_curve_from_history(h) for h in state["history"]])  # older checkpoints

    def saved(self, seconds: float) -> dict:
        return {**{k: getattr(self, k) for k in self.SAVED}, "train_seconds": self.prior_seconds + seconds}

    def start_epoch(self, n: int, gen: torch.Generator) -> None:
        """A fresh epoch's batch order (an epoch resumed mid-way keeps its own)."""
        if self.order is None:
            self.order, self.step_in_epoch, self.running, self.running_parts = torch.randperm(n, generator=gen), 0, 0.0, {}

    def end_epoch(self, epoch: int, n: int, lr: float, val_loss: float, val_acc: float, seconds: float) -> None:
        """Record the finished epoch (0-based `epoch`, `n` training examples) in the history and the curves."""
        self.history.append({"epoch": epoch + 1, "train_loss": self.running / n, "val_loss": val_loss,
                             "val_accuracy": val_acc})
        log.info("epoch %d: train loss %.4f, val loss %.4f, val acc %.4f", epoch + 1, self.running / n, val_loss,
                 val_acc)
        self.curves.append({"epoch": epoch + 1, "train/loss": self.running / n,
                            **{f"train/{k}": v / n for k, v in self.running_parts.items()}, "lr": lr,
                            "val/loss": val_loss, "val/accuracy": val_acc, "time_s": self.prior_seconds + seconds})
        self.epoch, self.order, self.step_in_epoch, self.running = epoch + 1, None, 0, 0.0

    def keep_if_best(self, score: float, epoch: int, model: nn.Module, method: DistillMethod) -> None:
        if score < self.best_score:
            self.best_score, self.best_epoch = score, epoch + 1
            self.best_state = (copy.deepcopy(model.state_dict()), copy.deepcopy(method.state_dict()))


def _restore(ckpt_dir: str | Path | None, cfg: TrainConfig, model: nn.Module, method: DistillMethod,
             opt: torch.optim.Optimizer, sched: Any, gen: torch.Generator) -> _FitProgress:
    """The progress of the checkpoint in `ckpt_dir`, its states loaded into the modules (a fresh start if none)."""
    state = load_fit_checkpoint(ckpt_dir, cfg)
    if state is None:
        return _FitProgress()
    model.load_state_dict(state["model"])
    method.load_state_dict(state["method"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"], gen)
    progress = _FitProgress.from_checkpoint(state)
    log.info("resumed from %s at epoch %d, step %d of the epoch", Path(ckpt_dir) / CKPT_NAME, progress.epoch + 1,
             progress.step_in_epoch)
    return progress


def _optimise(step_module: nn.Module, x: torch.Tensor, t: ModelOutputs | None, y: torch.Tensor, weight: float,
              opt: torch.optim.Optimizer, sched: Any, params: list[torch.Tensor],
              max_grad_norm: float | None) -> tuple[torch.Tensor, float]:
    """One optimisation step on this rank's shard (loss weighted by its share); returns the loss and the lr used."""
    loss = step_module(x, t, y)
    return loss, optimiser_step(loss, weight, opt, sched, params, max_grad_norm)


def fit(model: DocClassifier, method: DistillMethod, train: TensorSplit, val: TensorSplit, cfg: TrainConfig,
        teacher_train: TeacherSource | None = None, teacher_val: TeacherSource | None = None,
        ckpt_dir: str | Path | None = None, live_dir: str | Path | None = None) -> FitResult:
    """Train `model` (+ the method's own modules) and keep the weights of the best validation epoch.

    With `ckpt_dir`, the whole training state (model, method, optimiser, scheduler, RNG states, position in
    the epoch, best-validation state, history) is written there atomically every `cfg.checkpoint_every`
    optimiser steps and at the end of every epoch; a call that finds a checkpoint resumes from it, and on CPU
    ends with exactly the weights of an uninterrupted run. The caller removes `ckpt_dir` once its outputs
    are written. Under torchrun (`distildoc.utils.distributed`) the model runs in DistributedDataParallel,
    each rank takes its share of every global batch of `cfg.batch_size`, and only rank 0 writes checkpoints.

    With `live_dir`, the training curves are logged there with DVCLive (`distildoc.train.curves`), one step per
    epoch: ``train/loss`` and ``train/<name>`` for each of the method's named losses (means over the epoch's
    examples), ``lr`` (of the epoch's last step), ``val/loss``, ``val/accuracy`` and ``time_s``; a resumed run
    replays the checkpoint's epochs first. None: nothing is logged.
    """
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    gen = torch.Generator().manual_seed(cfg.seed)
    model, fmt = _prepare(model)
    frozen = model.freeze_stages(cfg.freeze_at)
    if frozen:
        log.info("freeze_at=%d: %d parameter tensors frozen (%s ... %s)", cfg.freeze_at, len(frozen), frozen[0],
                 frozen[-1])
    params = [p for p in model.parameters() if p.requires_grad] + list(method.trainable_parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.shift and teacher_train is not None and method.needs_teacher:
        raise ValueError(f"TrainConfig.shift={cfg.shift} with method {type(method).__name__}: the teacher's outputs "
                         "are fixed per page (cache), so its inputs cannot be augmented; set shift: 0 for students")
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    sched = SCHEDULES[cfg.schedule](opt, steps_per_epoch * cfg.epochs, cfg.warmup_frac)
    lr = opt.param_groups[0]["lr"]
    run = _restore(ckpt_dir, cfg, model, method, opt, sched, gen)

    train_step = _TrainStep(model, method, _student_features(method, training=True), fmt, cfg.autocast)
    step_module: nn.Module = train_step
    if dist.is_distributed():
        step_module = torch.nn.parallel.DistributedDataParallel(step_module, find_unused_parameters=True)
    live = None
    if live_dir is not None and dist.is_main_process():
        from .curves import TrainingCurves

        live = TrainingCurves(live_dir, replay=run.curves, step_key="epoch")
    t0 = time.perf_counter()

    def checkpoint() -> None:
        if ckpt_dir is not None and dist.is_main_process():
            save_fit_checkpoint(ckpt_dir, {
                "config": asdict(cfg), **run.saved(time.perf_counter() - t0), "model": model.state_dict(),
                "method": method.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": _rng_state(gen)})

    step = run.epoch * steps_per_epoch + run.step_in_epoch
    for epoch in range(run.epoch, cfg.epochs):
        model.train()
        method.train()
        method.on_epoch_start(epoch, cfg.epochs)  # per-epoch schedules (DKD's warm-up), the resumed epoch too
        run.start_epoch(len(train), gen)
        batches = list(run.order.split(cfg.batch_size))
        skip = run.step_in_epoch
        bar = tqdm(batches[skip:], desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress, leave=False)
        for i, global_idx in enumerate(bar, start=skip):
            idx, weight = dist.shard(global_idx)
            x, y = train.batch(idx)
            t = teacher_train.outputs(idx, x) if (teacher_train is not None and method.needs_teacher) else None
            x = random_shift(x, cfg.shift)  # the global RNG: saved and restored with the checkpoint
            loss, lr = _optimise(step_module, x, t, y, weight, opt, sched, params, cfg.max_grad_norm)
            run.running += dist.all_sum(float(loss.detach()) * len(idx) * (weight > 0))  # the global batch's sum
            if live_dir is not None:  # every rank (all_sum); the values were computed with the loss
                for k, v in train_step.parts.items():
                    run.running_parts[k] = run.running_parts.get(k, 0.0) + dist.all_sum(float(v) * len(idx) * (weight > 0))
            run.seen += len(global_idx)
            step += 1
            run.step_in_epoch = i + 1
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and i + 1 < len(batches):
                checkpoint()
        val_loss, val_acc = evaluate_loss(model, method, val, teacher_val, cfg.eval_batch_size, fmt)
        run.end_epoch(epoch, len(train), lr, val_loss, val_acc, time.perf_counter() - t0)
        if live is not None:
            live.log(epoch + 1, {k: v for k, v in run.curves[-1].items() if k != "epoch"})
            live.flush()
        run.keep_if_best(val_loss if cfg.select_on == "val_loss" else -val_acc, epoch, model, method)
        checkpoint()
    result = FitResult(best_epoch=run.best_epoch, history=run.history,
                       train_seconds=run.prior_seconds + time.perf_counter() - t0)
    result.examples_per_second = run.seen / max(result.train_seconds, 1e-9)
    if run.best_state is not None:
        model.load_state_dict(run.best_state[0])
        method.load_state_dict(run.best_state[1])
    model.eval()
    method.eval()
    return result


def _curve_from_history(h: dict) -> dict:
    """The curve record of a `FitResult.history` entry (checkpoints written before the curves were kept)."""
    return {"epoch": h["epoch"], "train/loss": h["train_loss"], "val/loss": h["val_loss"],
            "val/accuracy": h["val_accuracy"]}


@torch.no_grad()
def predict_logits(model: DocClassifier, method: DistillMethod, split: TensorSplit, batch_size: int = 128) -> np.ndarray:
    """Logits of the student as deployed (SimKD: through its projector and the frozen teacher head)."""
    model.eval()
    method.eval()
    model, fmt = _prepare(model)
    out = []
    for start in range(0, len(split), batch_size):
        x, _ = split.batch(slice(start, start + batch_size))
        s = model(x.contiguous(memory_format=fmt), method.predict_needs)
        out.append(method.predict(s).float())
    return torch.cat(out).numpy()


# -- artefacts ------------------------------------------------------------------------------------


def write_logits(path: str | Path, logits: np.ndarray, split: TensorSplit) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, logits=logits, labels=split.labels.numpy(), ids=np.array(split.ids))


def split_metrics(logits: np.ndarray, split: TensorSplit, num_classes: int | None = None) -> dict:
    m = classification_metrics(logits, split.labels.numpy())
    m["skipped_inputs"] = list(split.skipped)
    m["n_skipped"] = len(split.skipped)
    return m


def save_classifier(run_dir: str | Path, model: DocClassifier, method: DistillMethod, method_key: str,
                    hparams: dict, teacher_spec: ModelSpec | None, student_dims: ModelDims,
                    teacher_dims: ModelDims | None) -> Path:
    """A self-contained artefact: model weights, the method's modules (SimKD projector + frozen
    teacher head) and the specs needed to rebuild both without the teacher checkpoint."""
    run_dir = Path(run_dir)
    spec = model.export_weights(run_dir / "model.safetensors")
    with atomic_path(run_dir / "method.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in method.state_dict().items()}, str(tmp))
    spec_dict = spec.to_dict()
    if spec.source == "hf":  # the run folder is a save_pretrained folder (config.json + model.safetensors)
        spec_dict["name"] = "."  # relative: the run folder can move
    else:
        spec_dict["checkpoint"] = "model.safetensors"  # relative: the run folder can move
    write_json(run_dir / "artefact.json", {
        "model_spec": spec_dict, "method": method_key, "hparams": hparams,
        "teacher_spec": teacher_spec.to_dict() if teacher_spec else None,
        "student_dims": asdict(student_dims), "teacher_dims": asdict(teacher_dims) if teacher_dims else None,
        "parameters": count_parameters(model),
    })
    return run_dir


def load_classifier(run_dir: str | Path) -> tuple[DocClassifier, DistillMethod]:
    """Rebuild a saved student (or teacher) for inference from its run folder alone."""
    run_dir = Path(run_dir)
    meta = read_json(run_dir / "artefact.json")
    spec_d = dict(meta["model_spec"])
    hf = spec_d.get("source") == "hf"
    weights = ("model.safetensors", "config.json") if hf else (spec_d["checkpoint"],)
    for name in (*weights, "method.safetensors"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"missing checkpoint: {run_dir / name}")
    if hf:  # a save_pretrained folder: the run folder itself
        spec_d["name"] = str(run_dir)
    else:
        spec_d["checkpoint"] = str(run_dir / spec_d["checkpoint"])
    model = build_model(ModelSpec.from_dict(spec_d))
    head = None
    if meta["teacher_spec"] is not None:
        tspec = ModelSpec.from_dict({**meta["teacher_spec"], "pretrained": False, "checkpoint": None})
        head = build_model(tspec).classifier_head()  # shape only: the weights come from method.safetensors
    sdims = ModelDims(**_tuples(meta["student_dims"]))
    tdims = ModelDims(**_tuples(meta["teacher_dims"])) if meta["teacher_dims"] else None
    method = build_method(meta["method"], sdims, tdims, head, **meta["hparams"])
    method.load_state_dict(load_file(str(run_dir / "method.safetensors")))
    return model.eval(), method.eval()


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def write_teacher_cache(teacher_dir: str | Path, split: TensorSplit, path: str | Path, dtype: str = "float32",
                        batch_size: int = 128) -> str:
    """Compute and store a saved teacher's outputs on `split`; returns the cache key."""
    teacher_dir = Path(teacher_dir)
    teacher, _ = load_classifier(teacher_dir)
    key = cache_key(file_digest(teacher_dir / "model.safetensors"), split, teacher.spec.img_size, dtype, ALL_FEATURES)
    tensors = compute_teacher_outputs(teacher, split, ALL_FEATURES, batch_size, dtype)
    save_teacher_cache(path, tensors, key, {"teacher": str(teacher_dir), "dtype": dtype, "n": len(split),
                                            "split": split.fingerprint})
    log.info("cached teacher %s outputs %s on %d examples -> %s (key %s)", teacher_dir, sorted(tensors), len(split),
             path, key)
    return key


def read_teacher_cache(teacher_dir: str | Path, split: TensorSplit, path: str | Path, dtype: str = "float32") -> TeacherCache:
    """Load the cache of a saved teacher on `split`, checking its content key."""
    teacher_dir = Path(teacher_dir)
    spec = read_json(teacher_dir / "artefact.json")["model_spec"]
    key = cache_key(file_digest(teacher_dir / "model.safetensors"), split, spec["img_size"], dtype, ALL_FEATURES)
    cache = load_teacher_cache(path, key)
    if len(next(iter(cache.tensors.values()))) != len(split):
        raise ValueError(f"teacher cache {path} holds {len(next(iter(cache.tensors.values())))} rows, split has {len(split)}")
    return cache
