"""Presets as deltas over one `defaults` block (`distildoc.config.merge` / `resolve_presets`): the merge rule, the
`extends` / `unset` keys and their errors, and the shipped params.yaml (every preset resolves and validates; smoke
and default stay short)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from distildoc.config import ConfigError, load_preset, merge, resolve_presets, validate_config

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def _leaves(node) -> int:
    """Leaf values of a mapping tree (a list, a scalar or an empty mapping counts as one)."""
    if isinstance(node, dict) and node:
        return sum(_leaves(v) for v in node.values())
    return 1


# ------------------------------------------------------------------------------------------------ merge rule


def test_mappings_merge_recursively_and_inputs_stay_untouched() -> None:
    base = {"a": 1, "b": {"x": 1, "y": {"p": 1, "q": 2}}, "c": 3}
    delta = {"b": {"y": {"q": 20, "r": 30}}, "d": 4}
    before = copy.deepcopy((base, delta))
    assert merge(base, delta) == {"a": 1, "b": {"x": 1, "y": {"p": 1, "q": 20, "r": 30}}, "c": 3, "d": 4}
    assert (base, delta) == before
    out = merge(base, delta)
    out["b"]["x"] = 99
    assert base["b"]["x"] == 1  # no shared sub-mappings


def test_lists_scalars_and_null_replace() -> None:
    base = {"l": [1, 2, 3], "s": "a", "n": 5, "m": {"k": 1}, "keep": [0]}
    out = merge(base, {"l": [9], "s": None, "n": {"now": "a mapping"}, "m": [1, 2]})
    assert out == {"l": [9], "s": None, "n": {"now": "a mapping"}, "m": [1, 2], "keep": [0]}
    assert "s" in out  # null sets null, it does not remove the key
    assert merge({"m": {"k": 1}}, {"m": {}}) == {"m": {"k": 1}}  # an empty mapping changes nothing


def test_new_keys_land_after_the_key_written_before_them() -> None:
    base = {"a": 1, "b": 2, "c": 3}
    assert list(merge(base, {"a": 0, "new": 1})) == ["a", "new", "b", "c"]
    assert list(merge(base, {"new": 1, "b": 0})) == ["a", "new", "b", "c"]  # first written: before the next base key
    assert list(merge(base, {"new": 1, "other": 2})) == ["a", "b", "c", "new", "other"]
    assert list(merge(base, {"c": 0, "b": 0})) == ["a", "b", "c"]  # the base's keys keep its order


def _config(presets: dict, defaults: dict | None = None) -> dict:
    return {"preset": next(iter(presets)), "defaults": defaults or {}, "presets": presets}


def test_extends_chain_and_unset() -> None:
    cfg = _config({
        "a": {"x": {"p": 1}},
        "b": {"extends": "a", "x": {"q": 2}},
        "c": {"extends": "b", "unset": ["x.p", "y"], "z": 3},
    }, defaults={"x": {"p": 0, "r": 0}, "y": [1]})
    res = resolve_presets(cfg)
    assert res == {"a": {"x": {"p": 1, "r": 0}, "y": [1]},
                   "b": {"x": {"p": 1, "r": 0, "q": 2}, "y": [1]},
                   "c": {"x": {"r": 0, "q": 2}, "z": 3}}
    assert "extends" not in res["b"] and "unset" not in res["c"]
    assert list(res) == ["a", "b", "c"]


def test_unknown_extends_cycle_and_bad_unset_are_errors() -> None:
    with pytest.raises(ConfigError, match=r"presets\.b\.extends: unknown preset 'nope'"):
        resolve_presets(_config({"a": {}, "b": {"extends": "nope"}}))
    with pytest.raises(ConfigError, match=r"a cycle of extends \((a -> b -> a|b -> a -> b)\)"):
        resolve_presets(_config({"a": {"extends": "b"}, "b": {"extends": "a"}}))
    with pytest.raises(ConfigError, match=r"cycle of extends \(a -> a\)"):
        resolve_presets(_config({"a": {"extends": "a"}}))
    with pytest.raises(ConfigError, match=r"presets\.a\.unset: 'x\.nope' is not a key of the preset's base"):
        resolve_presets(_config({"a": {"unset": ["x.nope"]}}, defaults={"x": {"p": 1}}))


def test_validation_names_the_resolved_key_path() -> None:
    bad = copy.deepcopy(PARAMS)
    bad["presets"]["smoke"]["dic"]["teacher"] = {"epochs": -1}
    with pytest.raises(ConfigError, match=r"presets\.smoke\.dic\.teacher\.epochs: -1 is less than the minimum"):
        validate_config({**bad, "preset": "smoke"})
    bad = copy.deepcopy(PARAMS)
    bad["defaults"]["dla"]["nms_thresh"] = "high"  # every preset based on defaults inherits the problem
    with pytest.raises(ConfigError) as err:
        validate_config(bad)
    assert "presets.smoke.dla.nms_thresh" in str(err.value) and "presets.paper" not in str(err.value)
    bad = copy.deepcopy(PARAMS)
    bad["presets"]["paper_mini"]["extends"] = "papr"
    with pytest.raises(ConfigError, match=r"presets\.paper_mini\.extends: unknown preset 'papr'"):
        validate_config(bad)
    bad = copy.deepcopy(PARAMS)
    bad["presets"]["smoke"]["extnds"] = "default"
    with pytest.raises(ConfigError, match=r"unknown key\(s\) presets\.smoke\.extnds"):
        validate_config(bad)


# ------------------------------------------------------------------------------------------ shipped presets


@pytest.mark.parametrize("name", list(PARAMS["presets"]))
def test_every_shipped_preset_resolves_and_validates(name: str) -> None:
    section = validate_config({**copy.deepcopy(PARAMS), "preset": name})
    assert section["name"] == name and section == {"name": name, **load_preset(REPO / "params.yaml", name)}
    assert not {"extends", "unset"} & set(section)


def test_smoke_and_default_are_short_deltas() -> None:
    """One set of defaults, each preset only what differs: the smoke and default entries hold far fewer values
    than `defaults`, and no setting they write equals its base's as a whole (none restated) but the one `default`
    writes to place a key (`dla.real_eval`, the key before `predict_folders`)."""
    defaults = PARAMS["defaults"]
    restated = []
    for name in ("smoke", "default"):
        delta = PARAMS["presets"][name]
        assert "extends" not in delta
        assert _leaves(delta) < _leaves(defaults) / 2, (name, _leaves(delta), _leaves(defaults))
        for section, body in delta.items():
            if isinstance(body, dict):
                restated += [f"{name}.{section}.{k}" for k, v in body.items() if defaults.get(section, {}).get(k) == v]
    assert restated == ["default.dla.real_eval"]


def test_resolved_presets_keep_the_file_order() -> None:
    """Snakemake compares rule params by repr, so key order is part of a preset: the description comes first and
    every top-level section in its usual place."""
    order = ["description", "seed", "device", "data", "dic", "dla"]
    for name, section in resolve_presets(PARAMS).items():
        assert list(section)[:6] == order, name
    assert list(resolve_presets(PARAMS)["real_teacher"])[6:] == ["real_teacher", "docvqa"]


def test_a_key_written_twice_in_one_mapping_is_an_error_naming_both_lines(tmp_path: Path) -> None:
    """YAML loaders keep the last of two equal keys; `read_params` refuses them (a preset with two `dic:` blocks
    would otherwise lose the first one's settings silently). Keys beside a `<<: *anchor` merge still override it."""
    from distildoc.config import read_params

    path = tmp_path / "params.yaml"
    path.write_text("preset: smoke\n"              # line 1
                    "presets:\n"                   # 2
                    "  smoke:\n"                   # 3
                    "    dic: {datasets: [rvl]}\n"  # 4
                    "    data: {}\n"               # 5
                    "    dic:\n"                   # 6
                    "      seeds: [0]\n")          # 7
    with pytest.raises(ConfigError, match=r"params\.yaml: line 6: key 'dic' is already set at line 4 of the same "
                                          r"mapping"):
        read_params(path)
    path.write_text("base: &b {epochs: 2, lr: 0.1}\nrecipe:\n  <<: *b\n  epochs: 5\n")
    assert read_params(path) == {"base": {"epochs": 2, "lr": 0.1}, "recipe": {"epochs": 5, "lr": 0.1}}
    path.write_text("a: 1\nb: {a: 1}\n")  # the same key in two different mappings is fine
    assert read_params(path) == {"a": 1, "b": {"a": 1}}
