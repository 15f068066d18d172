"""Trained models outside the pipeline: ONNX exports with model cards, and the predictors the ``distildoc``
CLI runs (a pipeline run folder through PyTorch, an export folder through onnxruntime).

    from distildoc.export import export_classifier, export_detector
    export_classifier("results/default/dic/runs/rvl/R101__R50__imagenet__s0/simkd_cnn", "exports/r50-simkd",
                      test_split="results/default/dic/tensors/rvl_test_96.pt",
                      calib_split="results/default/dic/tensors/rvl_val_96.pt")
    export_detector("results/default/dla/models/none__R50-FPN__supervised", "exports/r50-fpn",
                    pages=["page1.png", "page2.png"])

docs/deploy.md describes the folders, the model cards and the CLI.
"""

from .classifier import DeployedClassifier, export_classifier, find_dic_splits
from .common import EXPORT_FORMAT, is_export_dir
from .detector import BoxDetector, export_detector
from .pages import classifier_input, detector_input, expand_pages, iter_pages
from .predict import ModelNotFound, WrongModelKind, load_predictor

__all__ = ["DeployedClassifier", "export_classifier", "find_dic_splits", "EXPORT_FORMAT", "is_export_dir",
           "BoxDetector", "export_detector", "classifier_input", "detector_input", "expand_pages", "iter_pages",
           "ModelNotFound", "WrongModelKind", "load_predictor"]
