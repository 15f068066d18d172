"""The catalogue of methods, roles and reader backends (`distildoc.catalogue`) and everything that reads it."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest
import yaml

from distildoc import catalogue
from distildoc.catalogue import CLASSIFICATION, DETECTION
from process_helpers import run_fresh_python

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_catalogue_and_config_checks_import_without_torch() -> None:
    code = ("import sys\n"
            "import distildoc.catalogue, distildoc.config, distildoc.config_checks\n"
            "distildoc.config.load_schema()\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'timm'))\n"
            "assert not heavy, heavy\n")
    run_fresh_python(code)


def test_catalogue_imports_nothing_from_distildoc() -> None:
    source = Path(catalogue.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from\s+(\.|distildoc)|import\s+distildoc)", source, re.M)


def test_registries_hold_exactly_the_catalogue() -> None:
    from distildoc.distill import available_methods
    from distildoc.distill.detection import available_methods as available_detection

    assert set(available_methods()) == set(catalogue.keys(CLASSIFICATION, registered=True))
    assert set(available_detection()) == set(catalogue.keys(DETECTION, registered=True))


def test_check_registered_names_the_key() -> None:
    with pytest.raises(RuntimeError, match=r"classification method 'crd' is registered but not in distildoc\.catalogue"):
        catalogue.check_registered("classification method", ["ce", "crd"], ["ce"])
    with pytest.raises(RuntimeError, match=r"reader backend 'vllm' is in distildoc\.catalogue but has no implementation"):
        catalogue.check_registered("reader backend", ["smollm2"], ["smollm2", "vllm"])
    catalogue.check_registered("role", ["a", "b"], ("b", "a"))


@pytest.mark.parametrize("entry", [m for m in catalogue.CLASSIFICATION_METHODS if m.registered], ids=lambda m: m.key)
def test_classification_entry_matches_its_class(entry: catalogue.Method) -> None:
    from distildoc.distill import get_method

    cls = get_method(entry.key)
    params = inspect.signature(cls.__init__).parameters
    for name, value in entry.defaults.items():
        assert params[name].default == value, (entry.key, name)
    assert bool(cls.needs) == entry.teacher, entry.key  # a teacher's outputs are read exactly by the KD methods


def test_detection_entries_need_a_teacher() -> None:
    from distildoc.distill.detection import get_method

    for key in catalogue.keys(DETECTION, registered=True):
        assert get_method(key).needs_teacher and catalogue.method(key, DETECTION).teacher


def test_labels_fill_their_defaults() -> None:
    for m in catalogue.CLASSIFICATION_METHODS:
        label = m.label.format(**{k: f"{v:g}" for k, v in m.defaults.items()})
        assert "{" not in label, m.key
        assert not m.label_extras or label.endswith("]"), m.key  # extras go before the closing bracket
    assert catalogue.method("ce_kd").label.format(tau=2.5, alpha=0.5) == "Vanilla [τ=2.5, α=0.5]"
    with pytest.raises(KeyError, match="unknown detection method 'crd'"):
        catalogue.method("crd", DETECTION)


def test_roles_match_the_model_presets() -> None:
    from distildoc.models.classification import ROLES
    from distildoc.models.detection import DETECTOR_PRESETS
    from distildoc.models.registry import ARCH_PRESETS

    assert ROLES == catalogue.role_names(catalogue.CLASSIFIER_ROLES)
    for preset, specs in ARCH_PRESETS.items():
        assert list(specs) == list(ROLES), preset
        for r in catalogue.CLASSIFIER_ROLES:
            assert specs[r.name].is_teacher == r.teacher
    for preset, specs in DETECTOR_PRESETS.items():
        for r in catalogue.DETECTOR_ROLES:
            assert (specs[r.name].arch == "vit") == (r.family == "vit"), (preset, r.name)
            assert r.backbone in ROLES


def test_reader_backends_match_the_readers() -> None:
    from distildoc.docvqa.llm import DEFAULT_READER, READERS
    from distildoc.docvqa.run import _BACKEND_ARGS, make_reader

    from distildoc.docvqa.ask import READER_DEFAULTS

    assert set(READERS) == {b.key for b in catalogue.READER_BACKENDS} == set(_BACKEND_ARGS) == set(READER_DEFAULTS)
    assert DEFAULT_READER == "smollm2"
    shared = {"max_new_tokens", "batch_size", "use_chat_template", "max_context", "num_threads", "n_threads"}
    assert all(set(b.args) <= shared for b in catalogue.READER_BACKENDS)
    with pytest.raises(KeyError, match="unknown backend 'vllm'"):
        make_reader("vllm")


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_schema_lists_come_from_the_catalogue() -> None:
    from distildoc.config import load_schema

    raw = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    enums = catalogue.schema_enums()
    used = {n["x-catalogue"] for n in _walk(raw) if "x-catalogue" in n}
    used |= {name for n in _walk(raw) if "x-catalogue-pattern" in n
             for name in re.findall(r"\{(\w+)\}", n["x-catalogue-pattern"])}
    assert used == set(enums)  # every list is used, every use is a list
    # no enum of the YAML spells out a catalogue name by hand
    names = {n for values in enums.values() for n in values}
    literal = [n["enum"] for n in _walk(raw) if isinstance(n.get("enum"), list) and names & set(n["enum"])]
    assert not literal, literal
    schema = load_schema(SCHEMA)
    for node in _walk(schema):
        if "x-catalogue" in node:
            assert node["enum"] == enums[node["x-catalogue"]]
        if "x-catalogue-pattern" in node:
            assert "{" not in node["pattern"].replace("{" + "}", "")
    dic_methods = schema["$defs"]["dic"]["properties"]["methods"]["properties"]
    dla_methods = schema["$defs"]["dla"]["properties"]["methods"]["properties"]
    assert set(dic_methods) <= set(enums["dic_methods"]) and set(dla_methods) <= set(enums["dla_methods"])


def test_student_override_pattern() -> None:
    from distildoc.config import load_schema

    pattern = load_schema(SCHEMA)["$defs"]["dic"]["properties"]["student_overrides"]["propertyNames"]["pattern"]
    assert pattern == "^(ViT-S|ViT-T|R50)(/(imagenet|random))?$"


def test_wildcard_constraints_are_built_from_the_catalogue() -> None:
    assert catalogue.pattern(["ViT-B", "DiT-B", "R101"], "none") == "ViT-B|DiT-B|R101|none"
    assert catalogue.pattern(catalogue.keys(DETECTION)) == "supervised|simkd_fpn|reviewkd|pkd"
    rules = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for r in (*catalogue.CLASSIFIER_ROLES, *catalogue.DETECTOR_ROLES):
        assert not re.search(rf'^\s*\w+="[^"]*\b{re.escape(r.name)}\b', rules, re.M), r.name
