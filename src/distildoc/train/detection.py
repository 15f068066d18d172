"""Iteration-based training of the Mask R-CNN layout detectors, supervised or with a distillation method.

:func:`train_detector` trains a torchvision detector (``distildoc.models.detection.build_detector``) on a
detection dataset (items ``(image 3×H×W float in [0, 1] or uint8, target)`` as
:class:`~distildoc.data.coco.CocoDetectionDataset` gives them):

* images are **pre-decoded once** into uint8 tensors at the detector's final input size (the largest
  training scale; boxes and masks follow), so an iteration does no file I/O and no DataLoader workers are
  used; each iteration converts its batch to float;
* batches are drawn from per-epoch permutations seeded by ``(seed, epoch)`` — batch ``i`` is a pure function
  of ``i``, which makes resuming exact;
* optimiser: SGD (momentum 0.9, weight decay 1e-4; detectron2's Mask R-CNN recipe) or AdamW; schedule:
  linear warm-up then ``step`` (×gamma at fractions ``steps`` of the run), ``cosine`` (to
  ``min_lr_ratio``·lr) or ``constant``; no weight decay on biases, normalisation parameters and ViT
  position embeddings / class token; optional gradient-norm clipping; optional multi-scale training
  (``multi_scale`` = shorter-side sizes, one drawn per image by torchvision's transform);
* checkpoints (model, method extras, optimiser, scheduler, RNG states, iteration, history) are written
  atomically to ``ckpt_dir/ckpt_<iteration>.pt`` every ``checkpoint_every`` iterations and at the end; a
  call that finds checkpoints there resumes from the latest and continues to ``iterations`` — a run killed
  and resumed ends with the same weights as an uninterrupted one (on CPU, bit for bit);
* with a detection distillation ``method`` (``distildoc.distill.detection``) the loss is
  ``method(model, teacher, images, targets)["loss"]``; the method is prepared (teacher frozen, SimKD heads
  reused) before the optimiser is built, and its trainable extras (ReviewKD's ABFs) are optimised too;
* under torchrun (``distildoc.utils.distributed``) the student (+ method) runs in DistributedDataParallel:
  every rank draws the same global batch of ``batch_size`` images and trains on its share, and only rank 0
  writes checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..models.detection.maskrcnn import final_image_size
from ..utils import distributed as dist
from ..utils.rng import rng_state, set_rng_state
from ..utils.io import atomic_path
from ..utils.records import strict_from_dict
from .step import optimiser_step

log = logging.getLogger(__name__)

__all__ = [
    "DetectionTrainConfig",
    "PredecodedDetectionSet",
    "predecode",
    "resize_sample",
    "batch_indices",
    "build_optimizer",
    "build_scheduler",
    "latest_checkpoint",
    "train_detector",
]

_CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")


@dataclass
class DetectionTrainConfig:
    """Training hyper-parameters (``from_dict`` accepts a params.yaml section; unknown keys raise).

    iterations, batch_size     run length in optimiser steps and images per step
    optimizer                  ``"sgd"`` (momentum, weight_decay) or ``"adamw"`` (betas, weight_decay)
    lr                         base learning rate
    schedule                   ``"step"`` | ``"cosine"`` | ``"constant"`` after ``warmup_iters`` linear warm-up
                               from ``warmup_factor``·lr; ``steps`` are fractions of ``iterations`` (values > 1:
                               absolute iterations) where the step schedule multiplies by ``gamma`` (default
                               2/3 and 8/9 of the run, detectron2's 1x/3x milestones); cosine decays to
                               ``min_lr_ratio``·lr
    clip_grad_norm             max global gradient norm (None: no clipping)
    multi_scale                shorter-side sizes for multi-scale training (None: the detector's own)
    checkpoint_every           iterations between checkpoints (0: only at the end); ``keep_checkpoints`` kept
    log_every                  history records averaged over this many iterations
    seed                       seeds torch / numpy / python RNGs and the batch order
    predecode                  pre-decode the dataset once (True) or read items per iteration (False)
    device                     ``"cpu"``, ``"cuda"`` or ``"auto"``
    progress                   tqdm progress bar
    """

    iterations: int = 1000
    batch_size: int = 2
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["step", "cosine", "constant"] = "step"
    warmup_iters: int = 0
    warmup_factor: float = 0.001
    steps: tuple[float, ...] = (2 / 3, 8 / 9)
    gamma: float = 0.1
    min_lr_ratio: float = 0.0
    clip_grad_norm: float | None = None
    multi_scale: tuple[int, ...] | None = None
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    predecode: bool = True
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch_size must be >= 1, got {self.iterations}, {self.batch_size}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("step", "cosine", "constant"):
            raise ValueError(f"schedule must be 'step', 'cosine' or 'constant', got {self.schedule!r}")
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        self.steps = tuple(float(s) for s in self.steps)
        if self.multi_scale is not None:
            self.multi_scale = tuple(int(s) for s in self.multi_scale)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectionTrainConfig:
        return strict_from_dict(cls, data, "detection training")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# keys that may change between a run and its resumption without changing the trajectory
_RESUME_FREE = {"checkpoint_every", "keep_checkpoints", "log_every", "progress", "device"}


# ------------------------------------------------------------------------------------------------ data
def resize_sample(image: Tensor, target: Mapping[str, Any], size: tuple[int, int]) -> tuple[Tensor, dict[str, Any]]:
    """Resize a float ``3×H×W`` image to ``size = (width, height)`` (bilinear, as torchvision's detection
    transform) with its target (boxes scaled per axis, masks nearest). Returns copies."""
    out_w, out_h = size
    h, w = image.shape[-2:]
    target = dict(target)
    if (w, h) == (out_w, out_h):
        return image, target
    image = F.interpolate(image[None].float(), size=(out_h, out_w), mode="bilinear", align_corners=False)[0]
    sx, sy = out_w / w, out_h / h
    if "boxes" in target:
        target["boxes"] = target["boxes"] * torch.tensor([sx, sy, sx, sy], dtype=target["boxes"].dtype)
    if "masks" in target and target["masks"].numel():
        target["masks"] = F.interpolate(target["masks"][:, None].float(), size=(out_h, out_w))[:, 0].to(torch.uint8)
    elif "masks" in target:
        target["masks"] = torch.zeros((0, out_h, out_w), dtype=torch.uint8)
    if "area" in target and "masks" in target:
        target["area"] = target["masks"].flatten(1).sum(1).to(torch.float32)
    return image, target


def _to_uint8(image: Tensor) -> Tensor:
    if image.dtype == torch.uint8:
        return image.contiguous()
    return image.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).contiguous()


class PredecodedDetectionSet:
    """In-memory detection samples: uint8 ``3×H×W`` images at their final size + torchvision targets."""

    def __init__(self, images: list[Tensor], targets: list[dict[str, Any]]) -> None:
        if len(images) != len(targets):
            raise ValueError("images and targets differ in length")
        self.images, self.targets = images, targets
        self.skipped: list[str] = []  # items of the source dataset that could not be read

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Any]]:
        return self.images[index].float().div_(255.0), dict(self.targets[index])


def predecode(dataset: Sequence, model: nn.Module | None = None, min_size: int | None = None,
              progress: bool = False) -> PredecodedDetectionSet:
    """Decode every item of ``dataset`` once; with ``model`` each image is resized to the size that model's
    transform would produce (largest training scale, or ``min_size``), rounded to whole pixels so that the
    transform's own resize is then an identity."""
    images, targets, skipped = [], [], []
    for i in tqdm(range(len(dataset)), desc="pre-decode", disable=not progress, leave=False):
        try:
            image, target = dataset[i]
        except OSError as err:  # a missing or undecodable page: skip it, name it, go on
            log.warning("skipping training item %d: %s", i, err)
            skipped.append(str(dataset.image_path(i)) if hasattr(dataset, "image_path") else str(i))
            continue
        if model is not None:
            h, w = image.shape[-2:]
            size = _rounded_final_size(model, int(w), int(h), min_size)
            image, target = resize_sample(image.float() / 255.0 if image.dtype == torch.uint8 else image, target, size)
        images.append(_to_uint8(image))
        targets.append(dict(target))
    out = PredecodedDetectionSet(images, targets)
    out.skipped = skipped
    return out


def _rounded_final_size(model: nn.Module, w: int, h: int, min_size: int | None) -> tuple[int, int]:
    t = model.transform
    if t.fixed_size is not None:
        return final_image_size(model, w, h)
    if min_size is None:
        min_size = max(t.min_size) if isinstance(t.min_size, (list, tuple)) else int(t.min_size)
    scale = min(float(min_size) / min(w, h), float(t.max_size) / max(w, h))
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def batch_indices(n: int, batch_size: int, iteration: int, seed: int) -> list[int]:
    """Dataset indices of batch ``iteration``: consecutive slices of per-epoch permutations
    (``torch.randperm`` seeded with ``seed`` and the epoch), crossing epoch boundaries seamlessly."""
    out, cache = [], {}
    for pos in range(iteration * batch_size, (iteration + 1) * batch_size):
        epoch, r = divmod(pos, n)
        if epoch not in cache:
            g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
            cache[epoch] = torch.randperm(n, generator=g).tolist()
        out.append(cache[epoch][r])
    return out


# ------------------------------------------------------------------------------------------------ optimiser
def _no_decay_names(module: nn.Module) -> set[str]:
    names = set()
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    for mod_name, mod in module.named_modules():
        for p_name, _ in mod.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if isinstance(mod, norm_types) or type(mod).__name__.startswith("FrozenBatchNorm") or p_name == "bias" \
                    or p_name in ("pos_embed", "cls_token", "reg_token"):
                names.add(full)
    return names


def _param_groups(modules: Sequence[nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay, seen = [], [], set()
    for module in modules:
        skip = _no_decay_names(module)
        for name, p in module.named_parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (no_decay if name in skip or p.dim() <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(modules: Sequence[nn.Module], cfg: DetectionTrainConfig) -> torch.optim.Optimizer:
    """SGD / AdamW over the trainable parameters of ``modules`` (frozen ones are left out)."""
    groups = _param_groups(modules, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: DetectionTrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-iteration LambdaLR: linear warm-up then step / cosine / constant (see :class:`DetectionTrainConfig`)."""
    total, warm = cfg.iterations, max(0, cfg.warmup_iters)
    milestones = sorted(int(round(f * total)) if f <= 1 else int(f) for f in cfg.steps)

    def factor(it: int) -> float:
        if it < warm:
            alpha = it / warm
            base = cfg.warmup_factor * (1 - alpha) + alpha
        else:
            base = 1.0
        if cfg.schedule == "step":
            return base * cfg.gamma ** sum(it >= m for m in milestones)
        if cfg.schedule == "cosine":
            if it < warm:
                return base
            progress = min(1.0, (it - warm) / max(1, total - warm))
            return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        return base

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ------------------------------------------------------------------------------------------------ checkpoints
def latest_checkpoint(ckpt_dir: str | Path | None) -> Path | None:
    """The ``ckpt_<iteration>.pt`` with the highest iteration in ``ckpt_dir`` (None if there is none)."""
    if ckpt_dir is None or not Path(ckpt_dir).is_dir():
        return None
    found = [(int(m.group(1)), p) for p in Path(ckpt_dir).iterdir() if (m := _CKPT_RE.match(p.name))]
    return max(found)[1] if found else None


def _save_checkpoint(ckpt_dir: Path, iteration: int, payload: dict[str, Any], keep: int) -> Path:
    path = ckpt_dir / f"ckpt_{iteration:08d}.pt"
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    log.info("checkpoint %s", path)
    found = sorted((int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _CKPT_RE.match(p.name)))
    for _, old in found[: max(0, len(found) - max(1, keep))]:
        old.unlink(missing_ok=True)
    return path


def _check_resume_config(saved: Mapping[str, Any], cfg: DetectionTrainConfig, path: Path) -> None:
    now = cfg.to_dict()
    diffs = []
    for k, v in saved.items():
        if k in _RESUME_FREE or k not in now:
            continue
        a, b = (list(v) if isinstance(v, (list, tuple)) else v), (list(now[k]) if isinstance(now[k], (list, tuple)) else now[k])
        if a != b:
            diffs.append(f"{k}: checkpoint {v!r} vs now {now[k]!r}")
    if diffs:
        raise ValueError(f"cannot resume from {path}: the training configuration changed ({'; '.join(diffs)}); "
                         "use a fresh checkpoint directory")


# ------------------------------------------------------------------------------------------------ training
class _DetStep(nn.Module):
    """Student (+ method, + frozen teacher) as one module whose forward returns the loss dict, so that
    DistributedDataParallel syncs the gradients of the student and the method's trainable extras."""

    def __init__(self, model: nn.Module, method: nn.Module | None, teacher: nn.Module | None) -> None:
        super().__init__()
        self.model, self.method, self.teacher = model, method, teacher

    def forward(self, images: list[Tensor], targets: list[dict[str, Any]]) -> dict[str, Tensor]:
        if self.method is None:
            det = self.model(images, targets)
            return {**det, "loss": sum(det.values())}
        return self.method(self.model, self.teacher, images, targets)


def _curve_record(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A history record as training-curve metrics: ``iter``, ``lr``, ``time_s`` as they are, each loss as
    ``train/<name>``."""
    return {(k if k in ("iter", "lr", "time_s") else f"train/{k}"): v for k, v in rec.items()}


def _move_target(t: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in t.items()}


def _device(cfg: DetectionTrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


@contextlib.contextmanager
def _multi_scale(transform: nn.Module, scales: Sequence[int] | None) -> Iterator[None]:
    """The detector's transform draws its short side from `scales` while training (restored afterwards)."""
    saved = transform.min_size
    if scales:
        if transform.fixed_size is not None:
            log.warning("multi_scale %s ignored: the detector resizes to a fixed size %s", scales, transform.fixed_size)
        transform.min_size = tuple(scales)
    try:
        yield
    finally:
        transform.min_size = saved


@dataclass
class _Progress:
    """Where a run starts: iteration, the history so far and the wall time of earlier runs (a resumed checkpoint)."""

    start: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    prior_wall: float = 0.0
    resumed_from: int | None = None


def _resume(path: Path | None, cfg: DetectionTrainConfig, model: nn.Module, method: nn.Module | None,
            optimizer: torch.optim.Optimizer, scheduler: Any, device: torch.device) -> _Progress:
    """Load the checkpoint at `path` into the training state (nothing when None)."""
    if path is None:
        return _Progress()
    ckpt = torch.load(path, map_location=device, weights_only=False)
    _check_resume_config(ckpt["config"], cfg, path)
    model.load_state_dict(ckpt["model"])
    if method is not None and ckpt.get("method") is not None:
        method.load_state_dict(ckpt["method"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    start = int(ckpt["iteration"])
    log.info("resumed from %s (iteration %d)", path, start)
    return _Progress(start, list(ckpt["history"]), float(ckpt["wall_time_s"]), start)


def _batch(data: Sequence, n: int, cfg: DetectionTrainConfig, it: int,
           device: torch.device) -> tuple[list[Tensor], list[dict[str, Any]], float]:
    """Iteration `it`'s images (float, [0, 1]) and targets on `device` (this rank's shard) and the shard's weight."""
    idx, weight = dist.shard(batch_indices(n, cfg.batch_size, it, cfg.seed))
    samples = [data[i] for i in idx]
    images = [(img.float().div(255.0) if img.dtype == torch.uint8 else img.float()).to(device) for img, _ in samples]
    return images, [_move_target(t, device) for _, t in samples], weight


def _step(step_module: nn.Module, images: list[Tensor], targets: list[dict[str, Any]], weight: float,
          optimizer: torch.optim.Optimizer, scheduler: Any, params: list[Tensor], clip: float | None,
          it: int) -> tuple[dict[str, Tensor], float]:
    """One optimisation step on a batch; returns its losses and the learning rate it used."""
    losses = step_module(images, targets)
    loss = losses["loss"]
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite loss at iteration {it + 1}: {({k: float(v) for k, v in losses.items()})}")
    return losses, optimiser_step(loss, weight, optimizer, scheduler, params, clip)


class _LossWindow:
    """Losses summed over the iterations since the last history record (global batch: shard losses weighted as in
    the gradient)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.n = 0

    def add(self, losses: Mapping[str, Tensor], weight: float) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + dist.all_sum(float(v.detach()) * weight) / dist.world_size()
        self.n += 1

    def record(self, iteration: int, lr: float, time_s: float) -> dict[str, Any]:
        rec = {"iter": iteration, "lr": lr, "time_s": time_s, **{k: v / self.n for k, v in self.sums.items()}}
        self.sums, self.n = {}, 0
        return rec


def train_detector(
    model: nn.Module,
    train_dataset: Sequence,
    cfg: DetectionTrainConfig | Mapping[str, Any],
    method: nn.Module | None = None,
    teacher: nn.Module | None = None,
    ckpt_dir: str | Path | None = None,
    stop_after: int | None = None,
    live_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place (see the module docstring).

    Args:
        model: a torchvision detector (``build_detector``).
        train_dataset: items ``(image, target)``; images float in [0, 1] or uint8, ``3×H×W``.
        cfg: :class:`DetectionTrainConfig` or a dict of its fields.
        method: a :class:`~distildoc.distill.detection.DetectionDistillMethod` (None: supervised training
            with torchvision's summed Mask R-CNN losses).
        teacher: the teacher detector for ``method``.
        ckpt_dir: checkpoint folder; resumes from its latest ``ckpt_*.pt`` when present.
        stop_after: stop (with a checkpoint) once this iteration count is reached, even if
            ``cfg.iterations`` is larger — a clean "kill" for time-boxed jobs and tests.
        live_dir: log the training curves there with DVCLive (`distildoc.train.curves`), one step per history
            record (every ``log_every`` iterations, step = iteration): ``train/<name>`` for every loss of the
            record (``loss``, the Mask R-CNN components ``loss_*``, the method's KD terms), ``lr``, ``time_s``;
            a resumed run replays the checkpoint's history first. None: nothing is logged.

    Returns:
        ``history`` (records ``{"iter", "lr", "time_s", <loss names>...}`` averaged over ``log_every``
        iterations), ``iterations`` (reached), ``completed``, ``resumed_from`` (iteration or None),
        ``wall_time_s`` (over all runs), ``run_wall_time_s`` / ``seconds_per_iteration`` (this call),
        ``checkpoint`` (last path or None), ``fpn_init`` (SimKD's FPN-init report when applicable),
        ``skipped_inputs`` (unreadable training pages, named; pre-decoding skips them).
    """
    cfg = cfg if isinstance(cfg, DetectionTrainConfig) else DetectionTrainConfig.from_dict(cfg)
    if method is not None and getattr(method, "needs_teacher", False) and teacher is None:
        raise ValueError(f"method {getattr(method, 'key', type(method).__name__)!r} needs a teacher detector")
    device = _device(cfg)
    ckpt_dir = Path(ckpt_dir) if ckpt_dir is not None else None
    resume_path = latest_checkpoint(ckpt_dir)
    if resume_path is None:
        _seed_everything(cfg.seed)
    model.to(device)
    if teacher is not None:
        teacher.to(device)
    if method is not None:
        method.to(device)
        method.prepare(model, teacher)

    with _multi_scale(model.transform, cfg.multi_scale):
        data = predecode(train_dataset, model, progress=cfg.progress) if cfg.predecode else train_dataset
        n = len(data)
        if n == 0:
            raise ValueError("empty training dataset")
        optimizer = build_optimizer([model] + ([method] if method is not None else []), cfg)
        scheduler = build_scheduler(optimizer, cfg)
        run = _resume(resume_path, cfg, model, method, optimizer, scheduler, device)
        start, history = run.start, run.history
        end = cfg.iterations if stop_after is None else min(cfg.iterations, int(stop_after))
        params = [p for g in optimizer.param_groups for p in g["params"]]
        last_ckpt: Path | None = None
        window = _LossWindow()
        t_run = time.perf_counter()

        step_module: nn.Module = _DetStep(model, method, teacher)
        if dist.is_distributed():
            step_module = torch.nn.parallel.DistributedDataParallel(step_module, find_unused_parameters=True)
        live = None
        if live_dir is not None and dist.is_main_process():
            from .curves import TrainingCurves

            live = TrainingCurves(live_dir, replay=[_curve_record(r) for r in history], step_key="iter")

        def checkpoint(it: int) -> Path | None:
            if ckpt_dir is None or not dist.is_main_process():
                return None
            spec = getattr(model, "spec", None)
            payload = {
                "iteration": it, "model": model.state_dict(),
                "method": method.state_dict() if method is not None else None,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state(),
                "history": history, "config": cfg.to_dict(),
                "wall_time_s": run.prior_wall + time.perf_counter() - t_run,
                "spec": dataclasses.asdict(spec) if dataclasses.is_dataclass(spec) else None,
            }
            if live is not None:
                live.flush()
            return _save_checkpoint(ckpt_dir, it, payload, cfg.keep_checkpoints)

        bar = tqdm(total=cfg.iterations, initial=start, desc="train", disable=not cfg.progress, leave=False)
        for it in range(start, end):
            model.train()
            if method is not None:
                method.train()
                method.train_mode(model)
            images, targets, weight = _batch(data, n, cfg, it, device)
            losses, lr = _step(step_module, images, targets, weight, optimizer, scheduler, params, cfg.clip_grad_norm, it)
            window.add(losses, weight)
            done = it + 1
            if done % max(1, cfg.log_every) == 0 or done == end:
                rec = window.record(done, lr, run.prior_wall + time.perf_counter() - t_run)
                history.append(rec)
                if live is not None:
                    cur = _curve_record(rec)
                    live.log(cur.pop("iter"), cur)
                bar.set_postfix(loss=f"{rec['loss']:.3f}")
            bar.update(1)
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done != end:
                last_ckpt = checkpoint(done)
        bar.close()
        if live is not None:
            live.flush()
        run_wall = time.perf_counter() - t_run
        reached = max(start, end)
        if reached > start or last_ckpt is None:
            path = checkpoint(reached) if reached > start else None
            last_ckpt = path or last_ckpt or resume_path

    ran = max(0, end - start)
    return {
        "history": history,
        "iterations": reached,
        "completed": reached >= cfg.iterations,
        "resumed_from": run.resumed_from,
        "wall_time_s": run.prior_wall + run_wall,
        "run_wall_time_s": run_wall,
        "seconds_per_iteration": run_wall / ran if ran else None,
        "checkpoint": None if last_ckpt is None else str(last_ckpt),
        "fpn_init": getattr(method, "fpn_init_report", None),
        "skipped_inputs": list(getattr(data, "skipped", [])),
    }
