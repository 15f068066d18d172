"""The package's layers: the models never import the distillation methods (distill depends on models)."""

from __future__ import annotations

import pkgutil
import sys

import distildoc.models
from process_helpers import run_fresh_python


def test_models_import_without_distill() -> None:
    names = sorted(m.name for m in pkgutil.walk_packages(distildoc.models.__path__, "distildoc.models."))
    assert "distildoc.models.outputs" in names and "distildoc.models.classification" in names
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "leaked = sorted(m for m in sys.modules if m == 'distildoc.distill' or m.startswith('distildoc.distill.'))\n"
            "assert not leaked, leaked\n")
    run_fresh_python(code)


def test_distill_reexports_the_model_interface() -> None:
    from distildoc.distill import base
    from distildoc.models import outputs

    assert base.ModelOutputs is outputs.ModelOutputs and base.ModelDims is outputs.ModelDims
    assert base.tokens_to_map is outputs.tokens_to_map
