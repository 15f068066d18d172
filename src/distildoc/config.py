"""Load and validate the pipeline configuration (`params.yaml`) against its JSON Schema.

The configuration holds a `preset` name and a `presets` mapping; every stage reads the selected
preset's section. Validation happens before any job runs and fails with messages that name the
offending key and the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration that does not match the schema or names an unknown preset."""


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<root>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _path(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(f"{where}.{k}" if where != "<root>" else k for k in extra)
        return f"unknown key(s) {keys}; allowed keys here: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{where}: value {error.instance!r} is not allowed; allowed values: {', '.join(map(str, error.validator_value))}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def load_schema(schema_path: str | Path = DEFAULT_SCHEMA) -> dict:
    """The schema, with its ``x-catalogue`` name lists filled from :mod:`distildoc.catalogue` (:func:`fill_catalogue`)."""
    with open(schema_path, encoding="utf-8") as fh:
        return fill_catalogue(yaml.safe_load(fh))


def fill_catalogue(node: Any, enums: dict[str, list[str]] | None = None) -> Any:
    """Fill a schema's catalogue lists in place: a ``x-catalogue: <list>`` node gets ``enum`` (the list of
    :func:`distildoc.catalogue.schema_enums`), a ``x-catalogue-pattern`` template becomes the node's ``pattern`` with
    every ``{<list>}`` replaced by the list's alternation. The method keys, roles and reader backends are thus
    written once, in the catalogue. Returns `node`."""
    enums = catalogue.schema_enums() if enums is None else enums
    if isinstance(node, dict):
        if "x-catalogue" in node:
            node["enum"] = list(enums[node["x-catalogue"]])
        if "x-catalogue-pattern" in node:
            template = node["x-catalogue-pattern"]
            for name, values in enums.items():
                template = template.replace("{" + name + "}", catalogue.pattern(values))
            node["pattern"] = template
        for value in node.values():
            fill_catalogue(value, enums)
    elif isinstance(node, list):
        for value in node:
            fill_catalogue(value, enums)
    return node


def validate_config(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Validate the whole config; return the selected preset's section (with `name` added).

    Raises ConfigError listing every problem, each naming its key path."""
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  - ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n  - {lines}")
    preset = config["preset"]
    presets = config["presets"]
    if preset not in presets:
        raise ConfigError(f"unknown preset {preset!r}; allowed values: {', '.join(presets)}")
    return {"name": preset, **presets[preset]}


def load_config(params_path: str | Path, preset: str | None = None,
                schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Read `params.yaml`, optionally override the preset, validate, and return the preset section."""
    with open(params_path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    if preset is not None:
        config["preset"] = preset
    return validate_config(config, schema_path)


def dic_seeds(dic_cfg: dict[str, Any], dataset: str) -> list[int]:
    """`dic.seeds`: one list for every dataset, or a list per dataset (e.g. ``{rvl: [0, 1, 2], tobacco: [0]}``).
    The first seed also seeds the dataset's teacher."""
    seeds = dic_cfg["seeds"]
    return list(seeds if isinstance(seeds, list) else seeds[dataset])


def dic_inits(dic_cfg: dict[str, Any], student: str, block: dict[str, Any] | None = None) -> list[str]:
    """`dic.inits`: one list for every student role, or a list per student role. A grid block's own
    ``inits`` (e.g. ``{teacher: R101, students: [R50], inits: [random], methods: [ce_kd, mse]}``) wins for
    that block's students, so a cell can run fewer methods at one init than at another."""
    inits = (block or {}).get("inits", dic_cfg["inits"])
    return list(inits if isinstance(inits, list) else inits[student])


#: the `dic` keys every teacher job reads (besides its own recipe, overrides, hub weights and first seed)
TEACHER_KEYS = ("archs", "img_size", "cache_dtype", "eval_batch_size", "tobacco_teacher_from_rvl")


def dic_teacher_view(dic_cfg: dict[str, Any], dataset: str, role: str) -> dict[str, Any]:
    """The part of `dic` that one teacher job (`dataset`, `role`) reads: :data:`TEACHER_KEYS`, the ``teacher`` and
    ``teacher_finetune`` recipes, this role's ``teacher_overrides`` and published ``teacher_weights``, and the
    dataset's first seed. The teacher rule takes this as its params, so Snakemake re-trains a teacher only when
    its own settings change, not when a student recipe, another teacher or the grid does."""
    view: dict[str, Any] = {k: dic_cfg[k] for k in TEACHER_KEYS if k in dic_cfg}
    view["teacher"] = dic_cfg["teacher"]
    view["teacher_finetune"] = dic_cfg["teacher_finetune"]
    override = dic_cfg.get("teacher_overrides", {}).get(role)
    if override:
        view["teacher_overrides"] = {role: override}
    hub = dic_cfg.get("teacher_weights", {}).get(dataset, {})
    if role in hub:
        view["teacher_weights"] = {dataset: {role: hub[role]}}
    view["seeds"] = {dataset: dic_seeds(dic_cfg, dataset)[:1]}
    return view


#: the `dic` keys every student job reads (besides its recipe, overrides and its methods' hyper-parameters)
STUDENT_KEYS = ("archs", "img_size", "cache_dtype", "eval_batch_size")


def dic_student_view(dic_cfg: dict[str, Any], student: str, init: str, methods: list[str]) -> dict[str, Any]:
    """The part of `dic` that one student job reads (:data:`STUDENT_KEYS`, the ``student`` recipe, this role's and
    role/init's ``student_overrides``, the ``batch_size_overrides`` of this role and its methods, and the
    hyper-parameters of the job's `methods`), as :func:`dic_teacher_view` for teachers: a teacher recipe, another
    student's recipe or method, or a new grid cell re-runs no finished student job."""
    view: dict[str, Any] = {k: dic_cfg[k] for k in STUDENT_KEYS if k in dic_cfg}
    view["student"] = dic_cfg["student"]
    over = dic_cfg.get("student_overrides", {})
    view["student_overrides"] = {k: over[k] for k in (student, f"{student}/{init}") if k in over}
    bs = dic_cfg.get("batch_size_overrides", {})
    view["batch_size_overrides"] = {k: bs[k] for k in (student, *(f"{student}/{m}" for m in methods)) if k in bs}
    view["methods"] = {m: dic_cfg["methods"].get(m, {}) for m in methods}
    return view


def dic_jobs(dic_cfg: dict[str, Any]) -> dict[tuple[str, str, str, str, int], list[str]]:
    """The classification student jobs of a preset: (dataset, teacher or ``'none'``, student, init, seed) ->
    the methods that job trains, in grid order. ``'none'`` is the supervised ``ce`` student, one per
    (dataset, student, init, seed) that any grid block distils into."""
    jobs: dict[tuple[str, str, str, str, int], list[str]] = {}
    for ds in dic_cfg["datasets"]:
        for block in dic_cfg["grid"]:
            for st in block["students"]:
                for init in dic_inits(dic_cfg, st, block):
                    for seed in dic_seeds(dic_cfg, ds):
                        methods = jobs.setdefault((ds, block["teacher"], st, init, seed), [])
                        methods.extend(m for m in block["methods"] if m not in methods)
                        jobs[(ds, "none", st, init, seed)] = ["ce"]
    return jobs
