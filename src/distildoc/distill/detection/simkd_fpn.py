"""DistilDoc's SimKD for detection (``simkd_fpn``): reuse the teacher's detection heads, align FPN features.

SimKD (Chen et al., CVPR 2022, "Knowledge Distillation with the Reused Teacher Classifier") trains the
student's feature extractor to reproduce the teacher's features and reuses the teacher's *frozen* head
for prediction. DistilDoc (Van Landeghem et al., ICDAR 2024, Sec. 3.3 / DLA experiments) carries this over
to Mask R-CNN: the "classifier" is everything after the FPN — the RPN and the RoI (box + mask) heads —
and the aligned features are the five FPN levels::

    L_SimKD = Σ_{l ∈ {P2, P3, P4, P5, P6}}  MSE( F_l^s(x), F_l^t(x) )

(``MSE`` = mean over all entries, :func:`distildoc.distill.losses.feature_mse`; both detectors see the same
transformed batch ``x``). With ``with_detection_loss=True`` the supervised Mask R-CNN losses of the student
(computed through the frozen, reused heads) are added: ``L = L_det + weight · L_SimKD``.

Set-up (:meth:`SimKDFPN.prepare`):

* the teacher's ``rpn`` and ``roi_heads`` are deep-copied into the student and frozen (``requires_grad``
  False, eval mode) for the whole run — only the student's backbone + FPN train, and after training the
  student *is* a complete detector (its own backbone/FPN + the teacher's heads);
* :func:`init_fpn_from_teacher` initialises the student's FPN from the teacher's FPN conv by conv where the
  shapes match (all of them when the lateral input channels match, e.g. real R101→R50: 256/512/1024/2048
  both; 10 of 16 tensors for the embedded EfficientNet-Lite2→Lite0 pair, whose P3-P5 lateral inputs differ)
  and reports what it copied (``fpn_init`` in the training result and the DLA run's metrics.json).

The reused heads have no BatchNorm or dropout (torchvision's ``RPNHead``, ``TwoMLPHead``,
``MaskRCNNHeads`` without norm layer; checked), so their train/eval mode only changes proposal sampling;
they are switched to training mode *only* for the duration of the supervised-loss computation when
``with_detection_loss`` is set (torchvision computes losses only in training mode) and back to eval
immediately after.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ...models.detection.backbones import FPN_KEYS
from ...models.detection.maskrcnn import check_same_transform, detection_losses, transform_images
from ..losses import feature_mse
from .registry import DetectionDistillMethod, freeze_module, register_method

log = logging.getLogger(__name__)

__all__ = ["SimKDFPN", "init_fpn_from_teacher", "reuse_teacher_heads", "LEVEL_NAMES"]

#: human names of the FPN keys
LEVEL_NAMES: dict[str, str] = {"0": "p2", "1": "p3", "2": "p4", "3": "p5", "pool": "p6"}

_HEADS = ("rpn", "roi_heads")


def init_fpn_from_teacher(student: nn.Module, teacher: nn.Module) -> dict[str, list[str]]:
    """Copy the teacher's FPN weights into the student's FPN, conv by conv, wherever all of a conv's tensors
    (weight and bias) have the same shapes; a conv that does not match keeps its own initialisation whole
    (a teacher bias on a random weight would reproduce nothing of the teacher).

    Works on ``model.backbone.fpn`` of two detectors from :func:`~distildoc.models.detection.build_detector`
    (torchvision's ``FeaturePyramidNetwork``: lateral 1×1 convs ``inner_blocks.i``, 3×3 output convs
    ``layer_blocks.i``, level i = P2..P5). Returns ``{"copied": [tensor names], "skipped": ["name: student shape
    vs teacher shape", ...]}``, also logged with the levels whose lateral input channels differ. With equal
    lateral input channels and FPN width every tensor is copied (the paper's R101→R50: 256/512/1024/2048 both);
    the embedded EfficientNet-Lite2→Lite0 pair (lateral inputs 24/48/120/352 vs 24/40/112/320) copies 10 of 16
    (P2's lateral conv and the four 3×3 output convs); ViT-B→ViT-T (192 vs 96 channels at every level) copies
    only the output convs.
    """
    s_state = student.backbone.fpn.state_dict()
    t_state = teacher.backbone.fpn.state_dict()
    convs: dict[str, list[str]] = {}
    for name in s_state:
        convs.setdefault(name.rsplit(".", 1)[0], []).append(name)
    copied, skipped, new_state, lateral_diff = [], [], {}, []
    for conv, names in convs.items():
        match = all(n in t_state and t_state[n].shape == s_state[n].shape for n in names)
        for n in names:
            if match:
                new_state[n] = t_state[n].detach().clone()
                copied.append(n)
            else:
                t_shape = tuple(t_state[n].shape) if n in t_state else None
                why = " (its conv does not match)" if t_shape == tuple(s_state[n].shape) else ""
                skipped.append(f"{n}: {tuple(s_state[n].shape)} vs {t_shape}{why}")
        w = f"{conv}.weight"
        if not match and conv.startswith("inner_blocks.") and w in t_state and w in s_state:
            level = int(conv.split(".")[1])
            lateral_diff.append(f"P{level + 2} {s_state[w].shape[1]} vs {t_state[w].shape[1]}")
    if new_state:
        student.backbone.fpn.load_state_dict(new_state, strict=False)
    log.info("FPN init from teacher: copied %d of %d tensors%s%s", len(copied), len(s_state),
             f"; lateral 1x1 convs keep their own init where the input channels differ (student vs teacher: "
             f"{', '.join(lateral_diff)})" if lateral_diff else "",
             f"; skipped {'; '.join(skipped)}" if skipped else "")
    return {"copied": copied, "skipped": skipped}


def _check_no_norm_or_dropout(module: nn.Module, what: str) -> None:
    bad = [n for n, m in module.named_modules()
           if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.GroupNorm))]
    if bad:
        raise ValueError(f"{what} contains normalisation/dropout layers {bad}; SimKD's reused heads must behave "
                         "identically in train and eval mode")


def reuse_teacher_heads(student: nn.Module, teacher: nn.Module) -> None:
    """Replace the student's ``rpn`` and ``roi_heads`` with frozen deep copies of the teacher's."""
    for name in _HEADS:
        head = freeze_module(copy.deepcopy(getattr(teacher, name)))
        _check_no_norm_or_dropout(head, f"teacher {name}")
        setattr(student, name, head)


@register_method("simkd_fpn")
class SimKDFPN(DetectionDistillMethod):
    """SimKD for Mask R-CNN (see the module docstring for the paper and the formula).

    Args:
        with_detection_loss: add the student's supervised detection losses (through the frozen heads).
        weight: factor of the SimKD term (1.0).
        init_fpn: initialise the student's FPN from the teacher's where shapes match (:func:`init_fpn_from_teacher`).

    Losses: ``simkd_p2`` .. ``simkd_p6`` (per level), ``simkd`` (their sum), the torchvision detection
    losses when enabled, ``loss`` = ``weight · simkd`` (+ Σ detection losses).
    """

    def __init__(self, with_detection_loss: bool = False, weight: float = 1.0, init_fpn: bool = True) -> None:
        super().__init__()
        self.with_detection_loss = bool(with_detection_loss)
        self.weight = float(weight)
        self.init_fpn = bool(init_fpn)
        self.fpn_init_report: dict[str, list[str]] | None = None

    def extra_repr(self) -> str:
        return f"with_detection_loss={self.with_detection_loss}, weight={self.weight}, init_fpn={self.init_fpn}"

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> None:
        teacher = self._require_teacher(teacher)
        freeze_module(teacher)
        check_same_transform(student, teacher)
        if student.backbone.out_channels != teacher.backbone.out_channels:
            raise ValueError(f"simkd_fpn needs equal FPN widths: student {student.backbone.out_channels} vs "
                             f"teacher {teacher.backbone.out_channels}")
        reuse_teacher_heads(student, teacher)
        if self.init_fpn:
            self.fpn_init_report = init_fpn_from_teacher(student, teacher)

    def train_mode(self, student: nn.Module) -> None:
        for name in _HEADS:
            getattr(student, name).eval()

    def forward(self, student_model: nn.Module, teacher_model: nn.Module | None, images: Sequence[Tensor],
                targets: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Tensor]:
        teacher_model = self._require_teacher(teacher_model)
        self.train_mode(student_model)
        use_targets = self.with_detection_loss and targets is not None
        if self.with_detection_loss and targets is None:
            raise ValueError("simkd_fpn with_detection_loss=True needs targets")
        image_list, t_targets = transform_images(student_model, images, targets if use_targets else None)
        s_feats = student_model.backbone(image_list.tensors)
        with torch.no_grad():
            t_feats = teacher_model.backbone(image_list.tensors)
        losses: dict[str, Tensor] = {}
        total_kd = None
        for key in FPN_KEYS:
            level = feature_mse(s_feats[key], t_feats[key])
            losses[f"simkd_{LEVEL_NAMES[key]}"] = level
            total_kd = level if total_kd is None else total_kd + level
        losses["simkd"] = total_kd
        total = self.weight * total_kd
        if use_targets:
            for name in _HEADS:
                getattr(student_model, name).train()
            try:
                det = detection_losses(student_model, image_list, s_feats, t_targets)
            finally:
                self.train_mode(student_model)
            losses.update(det)
            total = total + sum(det.values())
        losses["loss"] = total
        return losses
