"""The typed, frozen settings (`distildoc.settings`) and the one module of semantic checks (`distildoc.config_checks`).

Expected values are read from params.yaml's validated presets (an independent path: jsonschema + the preset merge)
or counted by hand from its grids."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import pytest

from distildoc.config import ConfigError, load_config
from distildoc.config_checks import check_config
from distildoc.settings import (DicConfig, DlaConfig, DocvqaConfig, GridBlock, Settings, freeze, load_settings, thaw)
from distildoc.workflow.plan import build_plan

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("smoke", "default", "paper", "paper_mini", "real_teacher")


@pytest.mark.parametrize("name", PRESETS)
def test_typed_fields_and_plain_sections_match_the_validated_preset(name: str) -> None:
    cfg = load_config(REPO / "params.yaml", preset=name)
    s = load_settings(REPO / "params.yaml", name)
    assert s.name == name and s.seed == cfg["seed"] and s.gpus == cfg["device"]["gpus"]
    assert s.as_dict() == cfg  # nothing lost on the way to the typed form
    assert s.data.synthetic == (cfg["data"]["source"] == "synthetic")
    assert s.dic.datasets == tuple(cfg["dic"]["datasets"]) and s.dic.img_size == cfg["dic"]["img_size"]
    assert [dataclasses.asdict(b) for b in s.dic.grid] == [
        {"teacher": b["teacher"], "students": tuple(b["students"]), "methods": tuple(b["methods"]),
         "inits": tuple(b["inits"]) if "inits" in b else None, "seeds": freeze(b.get("seeds"))}
        for b in cfg["dic"]["grid"]]
    assert s.dla.teachers == tuple(cfg["dla"]["teachers"]) and s.dla.students == tuple(cfg["dla"]["students"])
    assert [d.name for d in s.docvqa.datasets] == [d["name"] for d in cfg["docvqa"]["datasets"]]
    assert s.docvqa.run_view()["reader"] == cfg["docvqa"]["reader"]
    assert (s.real_teacher is None) == ("real_teacher" not in cfg)


def test_settings_are_frozen_all_the_way_down() -> None:
    s = load_settings(REPO / "params.yaml", "default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.dic.img_size = 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.dic.methods["ce_kd"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        s.dic.raw["teacher"]["epochs"] = 1  # nested mappings are read-only views too
    assert isinstance(s.dic.grid, tuple) and isinstance(s.dic.raw["datasets"], tuple)
    # what a rule's params get is a plain copy: editing it leaves the settings alone
    efficiency = s.dla.param("efficiency")
    efficiency["pages"] = 0
    assert s.dla.param("efficiency")["pages"] == 20


def test_params_are_plain_so_snakemake_can_track_them() -> None:
    """Snakemake stores a rule's params by `repr` and skips values it cannot represent (a mapping view): every
    value a rule gets must be a plain dict / list with the repr params.yaml's own values have."""
    cfg = load_config(REPO / "params.yaml", preset="default")
    s = Settings.from_dict(cfg)
    for key in ("efficiency", "train_pages", "eval_score_thresh"):
        assert repr(s.dla.param(key)) == repr(cfg["dla"][key])
    assert repr(s.docvqa.param("datasets")) == repr(cfg["docvqa"]["datasets"])
    assert repr(s.docvqa.run_view()) == repr({k: cfg["docvqa"][k] for k in s.docvqa.run_view()})
    view = s.dic.teacher_view("rvl", "R101")
    assert "mappingproxy" not in repr(view) and "(" not in repr(view["teacher"])
    assert thaw(freeze(cfg)) == cfg and type(thaw(freeze([1, {"a": (2,)}]))[1]["a"]) is list


def test_jobs_counted_by_hand() -> None:
    """A grid of 2 blocks at seeds [0, 1]: the R101 block trains R50 at imagenet and random (dic.inits), the ViT-B
    block only at its own random init; every distilled cell has its supervised `none` cell."""
    dic = DicConfig.from_dict({
        "datasets": ["rvl"], "seeds": [0, 1], "inits": {"R50": ["imagenet", "random"]},
        "grid": [{"teacher": "R101", "students": ["R50"], "methods": ["ce_kd", "mse"]},
                 {"teacher": "ViT-B", "students": ["R50"], "inits": ["random"], "methods": ["mse", "dkd"]}]})
    jobs = dic.jobs()
    assert len(jobs) == 2 * (2 + 1 + 2)  # seeds x (R101 at 2 inits + ViT-B at 1 + supervised at 2)
    assert jobs[("rvl", "ViT-B", "R50", "random", 1)] == ["mse", "dkd"]
    assert jobs[("rvl", "none", "R50", "imagenet", 0)] == ["ce"]
    assert dic.teachers() == [("rvl", "R101"), ("rvl", "ViT-B")]
    assert "runs/rvl/ViT-B__R50__random__s1/dkd" in dic.classifier_runs()
    assert dic.grid[1] == GridBlock("ViT-B", ("R50",), ("mse", "dkd"), ("random",))


def test_layout_and_docvqa_typed() -> None:
    dla = DlaConfig.from_dict({"teachers": ["T"], "students": ["S"], "vit_init": {"ViT-B-FPN": None},
                               "distill": [{"teacher": "T", "student": "S", "methods": ["pkd", "reviewkd"]}],
                               "real_eval": {"publaynet": "pages"}})
    assert dla.model_names() == ["none__T__supervised", "none__S__supervised", "T__S__pkd", "T__S__reviewkd"]
    assert dict(dla.vit_init) == {} and dla.publaynet == "pages" and not dla.datasets_given
    dv = DocvqaConfig.from_dict({"dla_models": "all", "realfixture": {"path": "f", "dla_model": None},
                                 "datasets": [{"name": "x", "ocr": {"source": "due", "path": "o.jsonl"}}]})
    assert dv.dla_models == "all" and dv.realfixture_path == "f" and dv.datasets[0].ocr_path == "o.jsonl"


def test_one_error_lists_every_problem_with_its_key() -> None:
    cfg = copy.deepcopy(load_config(REPO / "params.yaml", preset="default"))
    cfg["dic"]["grid"][0]["methods"].append("no_such_method")
    cfg["dla"]["distill"][0]["teacher"] = "R50-FPN"
    cfg["docvqa"]["realfixture"]["dla_model"] = "none__ViT-T-FPN__supervised"
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    assert message.startswith("inconsistent configuration (3 problem(s))")
    for key in ("presets.default.dic.grid[0].methods: 'no_such_method'", "presets.default.dla.distill[0].teacher",
                "presets.default.docvqa.realfixture.dla_model"):
        assert key in message


def test_real_teacher_checks_and_the_missing_folder(tmp_path: Path) -> None:
    cfg = copy.deepcopy(load_config(REPO / "params.yaml", preset="real_teacher"))
    check_config(cfg)
    no_baseline = copy.deepcopy(cfg)
    no_baseline["real_teacher"]["student"] = "R101-FPN"  # the preset's layout stage trains R50-FPN only
    with pytest.raises(ConfigError, match=r"real_teacher\.baseline: none__R101-FPN__supervised is not a layout model"):
        check_config(no_baseline)
    no_baseline["real_teacher"]["baseline"] = False
    check_config(no_baseline)
    off = copy.deepcopy(cfg)
    off["dla"]["real_eval"]["publaynet"] = None
    with pytest.raises(ConfigError, match=r"real_teacher: dla\.real_eval\.publaynet is not set"):
        check_config(off)
    # set but absent under this root: the plan (file system) says so, naming the key
    with pytest.raises(ConfigError, match=r"real_teacher: dla\.real_eval\.publaynet \('\.\./shared/realdata/publaynet'\) "
                                          r"has no samples\.json"):
        build_plan(check_config(cfg), tmp_path)


def test_rule_files_raise_nothing_themselves() -> None:
    """Every semantic check lives in distildoc.config_checks (and the file-system ones in the plan): the rule files
    only turn the one ConfigError into Snakemake's WorkflowError, in common.smk."""
    raises = {p.name: len(re.findall(r"^\s*raise\b", p.read_text(), re.M)) for p in (REPO / "workflow/rules").glob("*.smk")}
    assert {n: c for n, c in raises.items() if c} == {"common.smk": 1}
