"""Knowledge-distillation methods for the classification half of DistilDoc.

Importing this package registers every method::

    from distildoc.distill import available_methods, get_method, build_method, ModelOutputs
    method = get_method("ce_kd")()                     # τ = 2.5, α = 0.5
    losses = method(student_outputs, teacher_outputs, labels)   # {"ce", "kd", "loss"}
    logits = method.predict(student_outputs)
"""

from .. import catalogue as _catalogue
from . import ce, ce_distildoc, ce_kd, dist, dkd, fitnet, mse, nkd, simkd  # noqa: F401  (registration)
from .base import OUTPUT_FIELDS, DistillMethod, ModelDims, ModelOutputs, require_output, tokens_to_map
from .ce import CrossEntropy
from .ce_distildoc import CEDistilDoc
from .ce_kd import CEKD, CEKDLogitStd
from .dist import DIST
from .dkd import DKD
from .fitnet import ConvReg, FitNet
from .losses import dist_loss, dkd_loss, feature_mse, hcl_loss, kd_kl, logit_mse, logit_standardize, nkd_loss
from .mse import LogitMSE
from .nkd import NKD, NKDLogitStd
from .registry import available_methods, build_method, get_method, register_method
from .simkd import SimKDClsMLP, SimKDCNN, SimKDIdentity

# every method registered above is in the catalogue (key, label, defaults) and every registered catalogue entry here
_catalogue.check_registered("classification method", available_methods(),
                            _catalogue.keys(_catalogue.CLASSIFICATION, registered=True))

__all__ = [
    "OUTPUT_FIELDS", "DistillMethod", "ModelDims", "ModelOutputs", "require_output", "tokens_to_map",
    "available_methods", "build_method", "get_method", "register_method",
    "kd_kl", "logit_mse", "feature_mse", "nkd_loss", "hcl_loss", "logit_standardize", "dist_loss", "dkd_loss",
    "CrossEntropy", "CEDistilDoc", "CEKD", "CEKDLogitStd", "DIST", "DKD", "LogitMSE", "NKD", "NKDLogitStd",
    "ConvReg", "FitNet",
    "SimKDClsMLP", "SimKDCNN", "SimKDIdentity",
]
