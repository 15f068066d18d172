"""Load and validate the pipeline configuration (`params.yaml`) against its JSON Schema.

The configuration holds a `preset` name, a `defaults` block and a `presets` mapping whose entries hold only
what differs from their base (:func:`resolve_presets`); every stage reads the selected preset's resolved section.
Validation happens before any job runs and fails with messages that name the offending key and the allowed values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

#: the keys of a preset entry that steer its resolution and are not part of the resolved preset
PRESET_META_KEYS = ("extends", "unset")


class ConfigError(ValueError):
    """A configuration that does not match the schema or names an unknown preset."""


def merge(base: Any, delta: Any) -> Any:
    """`delta` laid over `base`, the merge rule of the presets (neither argument is modified).

    Two mappings merge key by key, recursively; anything else -- a list, a scalar, ``null``, or a mapping over a
    non-mapping or the reverse -- replaces the base value as a whole (so a preset restates a whole list, and
    ``key: null`` sets ``null``, it does not remove `key`; :func:`resolve_presets`' ``unset`` removes keys).

    Key order (Snakemake compares rule params by their ``repr``, so the order is part of a preset): the base's keys
    keep their order; a key the base lacks goes right after the key written before it in `delta`, or, when it is
    the first key written, right before the next key written that the base has (at the end when there is none).
    """
    if not (isinstance(base, dict) and isinstance(delta, dict)):
        return copy.deepcopy(delta)
    order = list(base)
    written = list(delta)
    for i, key in enumerate(written):
        if key in base:
            continue
        if i > 0:
            order.insert(order.index(written[i - 1]) + 1, key)
        else:
            following = next((k for k in written[1:] if k in base), None)
            order.insert(order.index(following) if following is not None else len(order), key)
    return {k: merge(base[k], delta[k]) if k in base and k in delta
            else copy.deepcopy(delta[k] if k in delta else base[k]) for k in order}


def _unset(tree: dict[str, Any], dotted: str, where: str) -> None:
    node: Any = tree
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        raise ConfigError(f"{where}: {dotted!r} is not a key of the preset's base (nothing to unset)")
    del node[last]


def resolve_presets(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every preset of a `params.yaml` mapping, resolved: ``{name: preset section}`` in the file's order.

    A preset ``presets.<name>`` holds only what differs from its base: the resolved preset
    ``extends: <other>`` names, else the top-level ``defaults`` block (empty when absent). Its optional
    ``unset: [dotted.key.path, ...]`` first removes those keys from the base (e.g. ``dla.recipes.resnet.clip_grad_norm``;
    each must exist there); then the rest of the entry is laid over the base with :func:`merge`. ``extends`` and
    ``unset`` are not part of the result. An unknown ``extends`` or a cycle of them raises ConfigError."""
    defaults = config.get("defaults") or {}
    presets = config.get("presets") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"defaults: must be a mapping, not {type(defaults).__name__}")
    if not isinstance(presets, dict):
        raise ConfigError(f"presets: must be a mapping, not {type(presets).__name__}")
    resolved: dict[str, dict[str, Any]] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in resolved:
            return resolved[name]
        entry = presets[name]
        if not isinstance(entry, dict):
            raise ConfigError(f"presets.{name}: must be a mapping, not {type(entry).__name__}")
        parent = entry.get("extends")
        if parent is None:
            base = copy.deepcopy(defaults)
        elif not isinstance(parent, str) or parent not in presets:
            raise ConfigError(f"presets.{name}.extends: unknown preset {parent!r}; allowed values: {', '.join(presets)}")
        elif parent in chain + (name,):
            cycle = " -> ".join(chain[chain.index(parent):] + (name, parent)) if parent in chain else f"{name} -> {name}"
            raise ConfigError(f"presets.{name}.extends: a cycle of extends ({cycle})")
        else:
            base = copy.deepcopy(resolve(parent, chain + (name,)))
        unset = entry.get("unset", [])
        if not isinstance(unset, list) or not all(isinstance(u, str) for u in unset):
            raise ConfigError(f"presets.{name}.unset: must be a list of dotted key paths")
        for dotted in unset:
            _unset(base, dotted, f"presets.{name}.unset")
        resolved[name] = merge(base, {k: v for k, v in entry.items() if k not in PRESET_META_KEYS})
        return resolved[name]

    for name in presets:
        resolve(name, ())
    return {name: resolved[name] for name in presets}


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key written twice in one mapping is an error: YAML loaders keep the last
    value silently, so a preset with two ``dic:`` blocks would lose the first block's settings without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: the keys written beside it override it
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{self.name}: line {line}: key {key!r} is already set at line {seen[key]} of the "
                                  "same mapping (YAML would keep only the last one; merge the two)")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_params(params_path: str | Path) -> dict[str, Any]:
    """The raw mapping of a `params.yaml` (``preset``, ``defaults``, ``presets`` as written: presets unresolved); a
    key repeated within one mapping is a ConfigError naming the file, both lines and the key."""
    with open(params_path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def load_preset(params_path: str | Path, name: str | None = None) -> dict[str, Any]:
    """One preset of a `params.yaml`, resolved (:func:`resolve_presets`) but not validated; `name` defaults to
    the file's ``preset``. For readers that only need a value (tests, tools); the pipeline uses :func:`load_config`."""
    config = read_params(params_path)
    name = config["preset"] if name is None else name
    presets = resolve_presets(config)
    if name not in presets:
        raise ConfigError(f"unknown preset {name!r}; allowed values: {', '.join(presets)}")
    return presets[name]


def _path(error: jsonschema.ValidationError, prefix: str = "") -> str:
    parts = [prefix.rstrip(".")] if prefix else []
    return ".".join([*parts, *map(str, error.absolute_path)]) or "<root>"


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    where = _path(error, prefix)
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


def _errors(validator: jsonschema.Draft202012Validator, instance: Any, prefix: str = "") -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(e, prefix) for e in errors]


def validate_config(config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Validate the whole config; return the selected preset's resolved section (with `name` added).

    First the file's shape (``preset``, ``defaults``, ``presets`` with their ``extends`` / ``unset``), then every
    preset is resolved (:func:`resolve_presets`) and each resolved preset is validated against the schema's
    ``$defs/preset``; a problem is named by its path in the resolved preset, ``presets.<name>.<key path>`` (the key
    comes from ``presets.<name>``, from its ``extends`` chain or from ``defaults``).
    Raises ConfigError listing every problem."""
    schema = load_schema(schema_path)
    problems = _errors(jsonschema.Draft202012Validator(schema), config)
    if problems:
        lines = "\n  - ".join(problems)
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s)):\n  - {lines}")
    presets = resolve_presets(config)
    preset_validator = jsonschema.Draft202012Validator(
        {"$schema": schema.get("$schema"), "$defs": schema["$defs"], "$ref": "#/$defs/preset"})
    for name, section in presets.items():
        problems += _errors(preset_validator, section, f"presets.{name}.")
    if problems:
        lines = "\n  - ".join(problems)
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s); paths in the resolved presets, "
                          f"defaults + presets.<name>):\n  - {lines}")
    preset = config["preset"]
    if preset not in presets:
        raise ConfigError(f"unknown preset {preset!r}; allowed values: {', '.join(presets)}")
    return {"name": preset, **presets[preset]}


def load_config(params_path: str | Path, preset: str | None = None,
                schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Read `params.yaml`, optionally override the preset, validate, and return the resolved preset section."""
    config = read_params(params_path)
    if preset is not None:
        config["preset"] = preset
    return validate_config(config, schema_path)


def main(argv: list[str] | None = None) -> int:
    """``python -m distildoc.config [PRESET] [--params params.yaml]``: print a preset resolved and validated (YAML)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m distildoc.config", description=main.__doc__)
    parser.add_argument("preset", nargs="?", help="preset name (default: the file's `preset`)")
    parser.add_argument("--params", default="params.yaml", help="the params file (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        section = load_config(args.params, args.preset)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    name = section.pop("name")
    yaml.safe_dump({"presets": {name: section}}, sys.stdout, sort_keys=False, width=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
