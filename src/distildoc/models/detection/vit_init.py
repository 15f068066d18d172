"""Initialise a ViT-FPN detector's backbone from a trained ViT *classifier* of the classification (dic) stage.

DistilDoc's layout ViTs start from document-pretrained weights (DiT / BEiT); in the embedded benchmark the
closest thing is the classification stage's own trained ViT of the same architecture: the ``ViT-B`` teacher
for ``ViT-B-FPN`` (timm ``vit_base_patch16_224``, embed 192, depth 6, 3 heads) and the supervised ``ViT-T``
student for ``ViT-T-FPN`` (``vit_tiny_patch16_224``, 96 / 4 / 2), both trained at 96 px (a 6×6 token grid).

The classifier's run folder (``distildoc.train.classification.save_classifier``: ``artefact.json`` +
``model.safetensors``, a plain timm state dict) is mapped onto the detector's timm ViT
(``ViTFPNBackbone.vit``):

* the classification-only keys are dropped: the final ``norm``, ``fc_norm`` and ``head`` (the detector taps
  raw block outputs, its final norm and head are pruned);
* ``pos_embed`` is resampled from the classifier's token grid to the detector's (timm
  ``resample_abs_pos_embed``, bicubic, the class-token position kept as is);
* every other key must exist in both with the same shape: a missing, unexpected or mis-shaped key raises
  ``ValueError`` naming the keys (so an architecture mismatch never loads silently).

:func:`init_vit_backbone` loads into a built detector and returns a provenance record (run folder, file,
sha256, dropped keys, grids) that the DLA job writes into its ``metrics.json``.

What it buys (bbox mAP of ViT-FPN detectors from random vs from the classifier) is measured in
``docs/tuning.md`` ("Layout").
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

__all__ = ["CLASSIFIER_ONLY_PREFIXES", "classifier_state_for_vit", "init_vit_backbone", "read_classifier_state"]

#: keys of a timm ViT classifier that a detector backbone does not have (dropped, listed in the record)
CLASSIFIER_ONLY_PREFIXES: tuple[str, ...] = ("head.", "fc_norm.", "norm.")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_classifier_state(run_dir: str | Path) -> tuple[dict[str, Tensor], dict[str, Any], Path]:
    """The timm state dict, the ``artefact.json`` model spec and the weights file of a classifier run folder.

    Raises FileNotFoundError naming the missing file, ValueError when the run is not a timm ViT."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "artefact.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"ViT init: no classifier run at {run_dir} (missing {meta_path})")
    spec = json.loads(meta_path.read_text())["model_spec"]
    if spec.get("source") != "timm" or not str(spec.get("name", "")).startswith("vit_"):
        raise ValueError(f"ViT init: {meta_path} model_spec is {spec.get('source')!r} {spec.get('name')!r}, "
                         "not a timm ViT (vit_*)")
    weights = run_dir / (spec.get("checkpoint") or "model.safetensors")
    if not weights.is_file():
        raise FileNotFoundError(f"ViT init: missing classifier weights {weights} (named by {meta_path})")
    from safetensors.torch import load_file

    return load_file(str(weights)), spec, weights


def _grid(n_tokens: int, what: str) -> tuple[int, int]:
    side = int(round(math.sqrt(n_tokens)))
    if side * side != n_tokens:
        raise ValueError(f"ViT init: {what} has {n_tokens} patch positions, not a square grid")
    return side, side


def classifier_state_for_vit(state: Mapping[str, Tensor], vit: nn.Module) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``state`` (a timm ViT classifier's) made loadable into the detector's timm ViT ``vit``, strictly.

    Returns the new state dict and a record ``{"dropped_keys", "pos_embed_grid": [old, new]}``. Raises
    ValueError naming every missing / unexpected key (after dropping :data:`CLASSIFIER_ONLY_PREFIXES`) and
    every shape mismatch (position embedding aside)."""
    from timm.layers import resample_abs_pos_embed

    target = vit.state_dict()
    dropped = sorted(k for k in state if k.startswith(CLASSIFIER_ONLY_PREFIXES) and k not in target)
    out = {k: v for k, v in state.items() if k not in dropped}
    missing, unexpected = sorted(set(target) - set(out)), sorted(set(out) - set(target))
    if missing or unexpected:
        raise ValueError("ViT init: the classifier's weights do not match the detector's ViT: "
                         f"missing {missing or 'none'}; unexpected {unexpected or 'none'}")
    record: dict[str, Any] = {"dropped_keys": dropped, "pos_embed_grid": None}
    if "pos_embed" in out and out["pos_embed"].shape != target["pos_embed"].shape:
        prefix = 0 if getattr(vit, "no_embed_class", False) else int(getattr(vit, "num_prefix_tokens", 1))
        old = _grid(out["pos_embed"].shape[1] - prefix, "the classifier's pos_embed")
        new = tuple(int(s) for s in vit.patch_embed.grid_size)
        if out["pos_embed"].shape[-1] != target["pos_embed"].shape[-1]:
            raise ValueError(f"ViT init: pos_embed width {out['pos_embed'].shape[-1]} vs the detector's "
                             f"{target['pos_embed'].shape[-1]}")
        out["pos_embed"] = resample_abs_pos_embed(out["pos_embed"], new_size=list(new), old_size=list(old),
                                                  num_prefix_tokens=prefix)
        record["pos_embed_grid"] = [list(old), list(new)]
    wrong = [f"{k}: classifier {tuple(out[k].shape)} vs detector {tuple(target[k].shape)}"
             for k in sorted(out) if out[k].shape != target[k].shape]
    if wrong:
        raise ValueError("ViT init: shape mismatch (another ViT width / depth / patch size?): " + "; ".join(wrong))
    return out, record


def init_vit_backbone(model: nn.Module, run_dir: str | Path) -> dict[str, Any]:
    """Load the ViT classifier of ``run_dir`` into the ViT-FPN backbone of the built detector ``model``
    (``model.backbone.vit``); the pyramid, FPN and heads keep their random initialisation.

    Returns the provenance record: ``run_dir``, ``file``, ``sha256``, ``classifier`` (timm name, kwargs,
    img_size), ``dropped_keys``, ``pos_embed_grid`` ([classifier grid, detector grid] or None)."""
    vit = getattr(getattr(model, "backbone", None), "vit", None)
    if vit is None:
        raise ValueError("ViT init: the detector has no ViT backbone (model.backbone.vit); only ViT-FPN roles can "
                         "start from a classifier")
    state, spec, weights = read_classifier_state(run_dir)
    try:
        new_state, record = classifier_state_for_vit(state, vit)
    except ValueError as err:
        raise ValueError(f"{err} (classifier {weights})") from None
    with torch.no_grad():
        vit.load_state_dict(new_state, strict=True)
    record = {"run_dir": str(run_dir), "file": str(weights), "sha256": _sha256(weights),
              "classifier": {"name": spec.get("name"), "kwargs": spec.get("kwargs"), "img_size": spec.get("img_size")},
              **record}
    log.info("ViT backbone initialised from %s (sha256 %s; dropped %s; pos_embed %s)", weights,
             record["sha256"][:12], ", ".join(record["dropped_keys"]) or "nothing", record["pos_embed_grid"])
    return record
