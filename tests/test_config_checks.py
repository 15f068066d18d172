"""Semantic configuration checks at DAG construction (`distildoc.config_checks`): messages name the key."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from distildoc.config import ConfigError, validate_config
from distildoc.config_checks import LAST_CHANNELS, check_config, registered_methods

REPO = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())


def _preset(name: str = "smoke") -> dict:
    return validate_config({**copy.deepcopy(PARAMS), "preset": name})


@pytest.mark.parametrize("name", sorted(PARAMS["presets"]))
def test_shipped_presets_pass(name: str) -> None:
    check_config(_preset(name))


def test_registries_are_read_without_importing_torch() -> None:
    assert {"ce", "ce_kd", "nkd", "simkd_identity", "fitnet"} <= registered_methods()
    assert registered_methods(detection=True) == {"simkd_fpn", "reviewkd", "pkd"}


def test_simkd_identity_on_mismatched_channels() -> None:
    cfg = _preset()
    cfg["dic"]["grid"][0]["methods"].append("simkd_identity")  # ViT-B (192) -> ViT-S (128), ViT-T (96)
    with pytest.raises(ConfigError, match=r"presets\.smoke\.dic\.grid\[0\]\.methods: simkd_identity .* teacher ViT-B "
                                          r"has 192 and student ViT-S has 128"):
        check_config(cfg)


def test_unregistered_method_and_missing_hparams() -> None:
    cfg = _preset()
    cfg["dic"]["grid"][1]["methods"].append("crd")
    with pytest.raises(ConfigError, match=r"dic\.grid\[1\]\.methods: 'crd' is not a registered classification method"):
        check_config(cfg)
    cfg = _preset()
    del cfg["dic"]["methods"]["nkd"]
    with pytest.raises(ConfigError, match=r"dic\.grid\[0\]\.methods: 'nkd' has no entry in dic\.methods"):
        check_config(cfg)


def test_teachers_not_trained_for_the_dataset_classes() -> None:
    cfg = _preset("paper")
    del cfg["dic"]["teacher_weights"]["tobacco"]["DiT-B"]
    with pytest.raises(ConfigError, match=r"dic\.teacher_weights\.tobacco: .*DiT-B.* 10 classes"):
        check_config(cfg)
    cfg = _preset()
    cfg["dic"]["teacher_finetune"]["epochs"] = 0
    with pytest.raises(ConfigError, match=r"dic\.teacher_finetune\.epochs: 0 with dic\.tobacco_teacher_from_rvl"):
        check_config(cfg)
    cfg = _preset()
    cfg["dic"]["teacher"]["epochs"] = 0
    with pytest.raises(ConfigError, match=r"dic\.teacher\.epochs: 0 with dic\.archs: embedded"):
        check_config(cfg)


def test_dla_pairs_and_docvqa_models() -> None:
    cfg = _preset()
    cfg["dla"]["teachers"] = ["R101-FPN"]  # the ViT-B-FPN teacher of dla.distill[1] is no longer trained
    cfg["docvqa"]["table4_dla_model"] = "none__R101-FPN__supervised"
    cfg["docvqa"]["realfixture"]["dla_model"] = "none__R101-FPN__supervised"
    with pytest.raises(ConfigError, match=r"dla\.distill\[1\]\.teacher: 'ViT-B-FPN' is not trained"):
        check_config(cfg)
    cfg = _preset()
    cfg["docvqa"]["table4_dla_model"] = "none__R18-FPN__supervised"
    with pytest.raises(ConfigError, match=r"docvqa\.table4_dla_model: 'none__R18-FPN__supervised' is not a layout"):
        check_config(cfg)


def test_dataset_recipe_for_a_dataset_not_trained_is_named() -> None:
    cfg = _preset("paper")
    cfg["dla"]["dataset_recipes"] = {"prima": {"resnet": {"iterations": 20000}}}
    check_config(cfg)  # prima is a further layout dataset of the paper preset
    cfg["dla"]["datasets"] = ["doclaynet"]
    with pytest.raises(ConfigError, match=r"dla\.dataset_recipes\.prima: 'prima' is not a further layout dataset"):
        check_config(cfg)
    bad = {**copy.deepcopy(PARAMS), "preset": "paper"}
    bad["presets"]["paper"]["dla"]["dataset_recipes"] = {"prima": {"resnet": {"iteration": 5}}}
    with pytest.raises(ConfigError, match="iteration"):
        validate_config(bad)


def test_channel_table_matches_the_embedded_models() -> None:
    from distildoc.models.classification import build_model
    from distildoc.models.registry import get_spec

    for role, channels in LAST_CHANNELS["embedded"].items():
        assert build_model(get_spec(role, "embedded")).dims().last_channels == channels, role


def test_snakemake_dry_run_stops_with_the_message(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy2(REPO / "Snakefile", project / "Snakefile")
    shutil.copytree(REPO / "workflow", project / "workflow")
    config = copy.deepcopy(PARAMS)
    config["preset"] = "smoke"
    config["presets"]["smoke"]["dic"]["grid"][0]["methods"].append("simkd_identity")
    (project / "params.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run([str(bindir / "snakemake"), "-n", "--cores", "1", "all"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert "presets.smoke.dic.grid[0].methods: simkd_identity (no projector) needs equal last-map channels" in \
        res.stderr + res.stdout


def test_snakemake_refuses_a_params_file_with_a_repeated_key(tmp_path: Path) -> None:
    """Snakemake's own YAML loader keeps the last of two `dic:` blocks; common.smk re-reads every config file with
    `read_params`, so the dry run stops and names the lines instead of running a preset that lost settings."""
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy2(REPO / "Snakefile", project / "Snakefile")
    shutil.copytree(REPO / "workflow", project / "workflow")
    text = (REPO / "params.yaml").read_text()
    anchor = "  smoke:\n    description:"
    assert text.count(anchor) == 1
    (project / "params.yaml").write_text(text.replace(anchor, "  smoke:\n    dic: {datasets: [rvl]}\n    description:"))
    line = text[:text.index(anchor)].count("\n") + 2  # the inserted line
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run([str(bindir / "snakemake"), "-n", "--cores", "1", "all", "--config", "preset=smoke"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    # the smoke preset's own `dic:` block, further down, is the repeat
    assert re.search(rf"params\.yaml: line \d+: key 'dic' is already set at line {line} of the same mapping",
                     res.stderr + res.stdout), res.stderr[-2000:]


def test_inits_per_student_and_imagenet_weights() -> None:
    cfg = _preset()
    cfg["dic"]["inits"] = {"ViT-S": ["random"], "R50": ["imagenet"]}  # ViT-T (in the grid) missing
    with pytest.raises(ConfigError, match=r"dic\.inits: no initialisations listed for student\(s\) ViT-T"):
        check_config(cfg)
    cfg["dic"]["inits"] = {"ViT-S": ["imagenet"], "ViT-T": ["random"], "R50": ["imagenet"]}
    with pytest.raises(ConfigError, match=r"dic\.inits\.ViT-S: imagenet init, but the embedded ViT-S has no ImageNet"):
        check_config(cfg)
    cfg["dic"]["inits"] = ["imagenet", "random"]
    with pytest.raises(ConfigError, match=r"dic\.inits: imagenet for every student, but the embedded ViT-S, ViT-T"):
        check_config(cfg)


def test_grid_block_inits_win_over_dic_inits() -> None:
    from distildoc.settings import DicConfig

    dic = {"datasets": ["rvl"], "seeds": [0, 1], "inits": {"R50": ["imagenet"]},
           "grid": [{"teacher": "R101", "students": ["R50"], "methods": ["ce_kd", "mse", "nkd"]},
                    {"teacher": "R101", "students": ["R50"], "inits": ["random"], "methods": ["mse"]},
                    {"teacher": "ViT-B", "students": ["R50"], "methods": ["mse"]}]}
    jobs = DicConfig.from_dict(dic).jobs()
    # 3 teacher cells + 2 supervised cells, each at 2 seeds; the random cell runs only its block's method
    assert sorted(jobs) == sorted([(d, t, "R50", i, s) for s in (0, 1) for d, t, i in (
        ("rvl", "R101", "imagenet"), ("rvl", "R101", "random"), ("rvl", "ViT-B", "imagenet"),
        ("rvl", "none", "imagenet"), ("rvl", "none", "random"))])
    assert jobs[("rvl", "R101", "R50", "imagenet", 1)] == ["ce_kd", "mse", "nkd"]
    assert jobs[("rvl", "R101", "R50", "random", 0)] == ["mse"]
    assert jobs[("rvl", "none", "R50", "random", 0)] == ["ce"]
    cfg = _preset()
    cfg["dic"]["grid"] = [{**cfg["dic"]["grid"][0], "inits": ["imagenet"]}]  # ViT-B -> ViT-S, ViT-T
    with pytest.raises(ConfigError, match=r"dic\.grid\[0\]\.inits: imagenet, but the embedded ViT-S, ViT-T"):
        check_config(cfg)


def test_embedded_imagenet_roles_match_the_registry() -> None:
    from distildoc.config_checks import EMBEDDED_IMAGENET
    from distildoc.models.registry import EMBEDDED_ARCHS

    assert set(EMBEDDED_IMAGENET) == {r for r, s in EMBEDDED_ARCHS.items() if s.weights or s.pretrained}


def test_seeds_and_inits_as_lists_or_per_key() -> None:
    from distildoc.settings import DicConfig, GridBlock

    assert DicConfig.from_dict({"seeds": [0, 1]}).seeds("tobacco") == [0, 1]
    assert DicConfig.from_dict({"seeds": {"rvl": [0, 1, 2], "tobacco": [0]}}).seeds("tobacco") == [0]
    assert DicConfig.from_dict({"inits": ["random"]}).inits("R50") == ["random"]
    per_role = DicConfig.from_dict({"inits": {"R50": ["imagenet", "random"], "ViT-S": ["random"]}})
    assert per_role.inits("R50") == ["imagenet", "random"]
    assert per_role.inits("R50", GridBlock("R101", ("R50",), ("mse",), ("random",))) == ["random"]
    config = {**copy.deepcopy(PARAMS), "preset": "smoke"}
    smoke = config["presets"]["smoke"]
    smoke["unset"] = ["dic.seeds"]  # a per-dataset mapping merges over the defaults' one: drop it first
    smoke["dic"]["seeds"] = {"rvl": [0, 1]}  # tobacco missing
    with pytest.raises(ConfigError, match=r"dic\.seeds"):
        validate_config(config)


def test_a_block_seeds_win_for_its_cells_and_the_baseline_runs_them_all() -> None:
    """A grid block's own `seeds` (a list, or per dataset with dic.seeds for the rest): its cells run those seeds,
    a job shared with another block at a common seed trains both blocks' methods, and the supervised student gets
    the union of the seeds (so every method has its baseline at each of its seeds); the schema takes both forms."""
    from distildoc.settings import DicConfig

    dic = {"datasets": ["rvl", "tobacco"], "seeds": {"rvl": [0, 1, 2], "tobacco": [0]}, "inits": ["imagenet"],
           "grid": [{"teacher": "R101", "students": ["R50"], "methods": ["mse"]},
                    {"teacher": "ViT-B", "students": ["R50"], "methods": ["ce_kd"]},
                    {"teacher": "ViT-B", "students": ["R50"], "methods": ["ce_kd_ls"], "seeds": {"rvl": [0, 1, 2, 3, 4]}}]}
    jobs = DicConfig.from_dict(dic).jobs()
    by = lambda ds, t: {seed: m for (d, teacher, _, _, seed), m in jobs.items() if (d, teacher) == (ds, t)}  # noqa: E731
    assert by("rvl", "R101") == {0: ["mse"], 1: ["mse"], 2: ["mse"]}
    assert by("rvl", "ViT-B") == {0: ["ce_kd", "ce_kd_ls"], 1: ["ce_kd", "ce_kd_ls"], 2: ["ce_kd", "ce_kd_ls"],
                                  3: ["ce_kd_ls"], 4: ["ce_kd_ls"]}
    assert by("rvl", "none") == {s: ["ce"] for s in range(5)}
    assert by("tobacco", "ViT-B") == {0: ["ce_kd", "ce_kd_ls"]}  # tobacco not in the block's mapping: dic.seeds
    assert by("tobacco", "none") == {0: ["ce"]}
    listed = copy.deepcopy(dic)
    listed["grid"][2]["seeds"] = [3]
    assert DicConfig.from_dict(listed).seeds("tobacco", DicConfig.from_dict(listed).grid[2]) == [3]
    config = {**copy.deepcopy(PARAMS), "preset": "smoke"}
    config["presets"]["smoke"]["dic"]["grid"][0]["seeds"] = {"rvl": [0, 1, 2]}
    validate_config(config)
    config["presets"]["smoke"]["dic"]["grid"][0]["seeds"] = {"rvl": [], "docvqa": [0]}
    with pytest.raises(ConfigError, match=r"seeds"):
        validate_config(config)


def test_teacher_view_holds_only_what_a_teacher_reads() -> None:
    """The teacher rule's params: a student recipe or grid edit leaves every teacher's view (so its job) alone; a
    teacher override changes that teacher's view only; the teacher trains exactly as from the whole section."""
    from distildoc.settings import DicConfig
    from distildoc.train.dic import recipe_for, role_spec, train_config

    dic = _preset("default")["dic"]
    typed = DicConfig.from_dict(dic)
    views = {(ds, t): typed.teacher_view(ds, t) for ds in ("rvl", "tobacco") for t in ("ViT-B", "DiT-B", "R101")}
    assert views[("rvl", "R101")]["teacher_overrides"] == {"R101": dic["teacher_overrides"]["R101"]}
    assert "teacher_overrides" not in views[("rvl", "ViT-B")]
    assert views[("tobacco", "R101")]["seeds"] == {"tobacco": [0]}
    assert not {"student", "student_overrides", "grid", "methods", "inits"} & set(views[("rvl", "ViT-B")])
    for (ds, t), view in views.items():  # the job reads the same recipe, model and config either way
        for kind in ("teacher", "teacher_finetune"):
            assert recipe_for(kind, t, view) == recipe_for(kind, t, dic)
        assert role_spec(t, ds, view) == role_spec(t, ds, dic)
        assert train_config(recipe_for("teacher", t, view), 0, view) == train_config(recipe_for("teacher", t, dic), 0, dic)
    edited = copy.deepcopy(dic)
    edited["student"]["epochs"] += 1
    edited["grid"] = edited["grid"][:1]
    edited["teacher_overrides"]["DiT-B"] = {"epochs": 7}
    changed = {k for k, v in views.items() if DicConfig.from_dict(edited).teacher_view(*k) != v}
    assert changed == {("rvl", "DiT-B"), ("tobacco", "DiT-B")}


def test_student_view_holds_only_what_a_student_job_reads() -> None:
    """The student rule's params: the job trains exactly as from the whole section, and a teacher recipe, another
    role's recipe or a method the job does not run leaves its view (so the finished job) alone."""
    from distildoc.settings import DicConfig
    from distildoc.train.dic import batch_size_for, recipe_for, role_spec

    dic = _preset("default")["dic"]
    typed = DicConfig.from_dict(dic)
    for (ds, _t, st, init, _seed), methods in typed.jobs().items():
        view = typed.student_view(st, init, methods)
        assert recipe_for("student", st, view, init) == recipe_for("student", st, dic, init)
        assert role_spec(st, ds, view, init) == role_spec(st, ds, dic, init)
        for m in methods:
            assert batch_size_for(st, m, view, recipe_for("student", st, view, init)) == \
                batch_size_for(st, m, dic, recipe_for("student", st, dic, init))
            assert view["methods"][m] == dic["methods"].get(m, {})
    edited = copy.deepcopy(dic)
    edited["teacher_overrides"]["DiT-B"] = {"epochs": 7}
    edited["student_overrides"]["ViT-T"] = {"epochs": 1}
    edited["methods"]["dkd"] = {**edited["methods"]["dkd"], "beta": 2.0}
    r50 = ["ce_kd", "mse"]
    new = DicConfig.from_dict(edited)
    assert new.student_view("R50", "imagenet", r50) == typed.student_view("R50", "imagenet", r50)
    assert new.student_view("R50", "imagenet", [*r50, "dkd"]) != typed.student_view("R50", "imagenet", [*r50, "dkd"])
    assert new.student_view("ViT-T", "random", ["ce"]) != typed.student_view("ViT-T", "random", ["ce"])
