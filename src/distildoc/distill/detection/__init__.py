"""Knowledge distillation for the Mask R-CNN layout detectors (DLA half of DistilDoc).

Importing this package registers ``simkd_fpn``, ``reviewkd`` and ``pkd`` in the *detection* registry
(:mod:`distildoc.distill.detection.registry`, separate from the classification registry)::

    from distildoc.distill.detection import build_method
    method = build_method("simkd_fpn", student, teacher)          # distill-only by default
    method.prepare(student, teacher)                               # reuse + freeze teacher heads
    losses = method(student, teacher, images, targets)             # {"simkd_p2", ..., "loss"}
"""

from ... import catalogue as _catalogue
from . import pkd, reviewkd, simkd_fpn  # noqa: F401  (registration)
from .registry import (
    DetectionDistillMethod,
    available_methods,
    build_method,
    freeze_module,
    get_method,
    register_method,
)
from .pkd import PKDDet
from .reviewkd import ABF, ReviewFusion, ReviewKDDet
from .simkd_fpn import SimKDFPN, init_fpn_from_teacher, reuse_teacher_heads

# every detection method registered above is in the catalogue, and every registered catalogue entry here
_catalogue.check_registered("detection method", available_methods(),
                            _catalogue.keys(_catalogue.DETECTION, registered=True))

__all__ = [
    "DetectionDistillMethod", "available_methods", "build_method", "freeze_module", "get_method",
    "register_method", "PKDDet", "ABF", "ReviewFusion", "ReviewKDDet", "SimKDFPN", "init_fpn_from_teacher",
    "reuse_teacher_heads",
]
