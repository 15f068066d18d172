"""The DAG plan (`distildoc.workflow.plan`): job grids, paths and cells of a preset, computed without Snakemake.

The numbers asserted here are counted by hand from the presets' grids in params.yaml (and re-derived in the test
where a preset's grid is edited), so the plan is checked against the configuration, not against itself."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from distildoc.config import ConfigError, load_config, read_params, validate_config
from distildoc.config_checks import check_config
from distildoc.settings import DOCVQA_RUN_KEYS, load_settings
from distildoc.workflow.plan import DECODE_GROUPS, build_plan

REPO = Path(__file__).resolve().parents[1]
PRESETS = ("smoke", "default", "paper", "paper_mini", "real_teacher")


def _cfg(name: str) -> dict:
    """A shipped preset, validated (a plain dict that a test may edit before :func:`_plan`)."""
    return load_config(REPO / "params.yaml", preset=name)


def _plan(cfg: dict | str, root: Path = REPO):
    """The plan of a preset (by name, or an edited validated dict), through the semantic checks as the Snakefile."""
    return build_plan(load_settings(REPO / "params.yaml", cfg) if isinstance(cfg, str) else check_config(cfg), root)


@pytest.mark.parametrize("name", PRESETS)
def test_every_shipped_preset_has_a_plan(name: str) -> None:
    plan = _plan(name)
    assert plan.res == f"results/{name}" and plan.dic.res == f"results/{name}/dic"
    # every student job's methods are non-empty, and a distilled pair has its supervised `none` job beside it
    for (ds, teacher, student, init, seed), methods in plan.dic.jobs.items():
        assert methods
        assert (ds, "none", student, init, seed) in plan.dic.jobs
    assert len(plan.dla.models) == len(set(plan.dla.models))
    assert set(plan.docvqa.dla_models) <= set(plan.dla.models)


def test_default_classification_grid_counted_by_hand() -> None:
    """params.yaml `default`: RVL-CDIP only (`dic.datasets: [rvl]`), seeds [0, 1, 2]; the grid's pairs are R101 -> R50,
    ViT-B -> R50, DiT-B -> R50 (imagenet), ViT-B -> ViT-T (random, on the teacher's full train split); so per seed:
    4 distilled pair jobs + 2 supervised ones (R50 imagenet, ViT-T random) = 6 jobs, times 3 seeds; and CE+KD (LS) of
    the two cross-architecture pairs at seeds 3 and 4 (their blocks' own seeds), with the supervised R50 there:
    3 jobs, times 2 seeds."""
    plan = _plan("default")
    assert len(plan.dic.jobs) == 6 * 3 + 3 * 2
    assert plan.dic.student_methods("rvl", "R101", "R50", "imagenet", "1") == [
        "ce_distildoc", "ce_kd", "nkd", "mse", "simkd_identity", "simkd_cnn", "fitnet", "ce_kd_ls"]
    # the cross-architecture pairs: CE+KD on standardised logits, at every seed
    for teacher in ("ViT-B", "DiT-B"):
        assert plan.dic.student_methods("rvl", teacher, "R50", "imagenet", 2) == ["ce_kd_ls"]
        assert plan.dic.student_methods("rvl", teacher, "R50", "imagenet", 4) == ["ce_kd_ls"]
    assert plan.dic.student_methods("rvl", "none", "R50", "imagenet", 4) == ["ce"]
    assert not any(t == "R101" and seed > 2 for _ds, t, _st, _i, seed in plan.dic.jobs)
    assert not any(st == "ViT-T" and seed > 2 for _ds, _t, st, _i, seed in plan.dic.jobs)
    assert plan.dic.student_methods("rvl", "ViT-B", "ViT-T", "random", 2) == ["mse"]
    assert not any(init == "random" and st == "R50" for _ds, _t, st, init, _s in plan.dic.jobs)
    assert plan.dic.student_methods("rvl", "none", "ViT-T", "random", 0) == ["ce"]
    assert plan.dic.student_inputs("rvl", "ViT-B", "ViT-T", "random")["train"].endswith("/rvl_train_96.pt")
    assert plan.dic.student_view("rvl", "ViT-B", "ViT-T", "random", 0)["student_pages"] == "full"
    assert plan.dic.student_inputs("rvl", "ViT-B", "R50", "imagenet")["train"].endswith("/rvl_subtrain_96.pt")
    assert not any(ds == "tobacco" for ds, *_ in plan.dic.jobs)
    # one teacher job per (dataset, teacher) although R101 heads two grid blocks and ViT-B two
    assert plan.dic.teachers() == [("rvl", t) for t in ("R101", "ViT-B", "DiT-B")]
    assert plan.dic.pair_dir("rvl", "R101", "R50", "imagenet", 0) == "results/default/dic/runs/rvl/R101__R50__imagenet__s0"


def test_synthetic_pages_are_generated_only_for_the_datasets_a_preset_classifies() -> None:
    """smoke classifies RVL-CDIP and Tobacco-3482: every split of params.yaml's `data.synthetic` sizes; default only
    RVL-CDIP, so no Tobacco-like pages; a preset classifying Tobacco alone still gets the RVL-CDIP-like pages (the
    layout and DocVQA stages read them) but not the RVL-CDIP-N-like test pages."""
    assert _plan("smoke").synthetic_splits() == [("rvl", "train"), ("rvl", "val"), ("rvl", "test"), ("rvl_n", "test"),
                                                 ("tobacco", "train"), ("tobacco", "val"), ("tobacco", "test")]
    assert _plan("default").synthetic_splits() == [("rvl", "train"), ("rvl", "val"), ("rvl", "test"),
                                                   ("rvl_n", "test")]
    cfg = _cfg("smoke")
    cfg["dic"]["datasets"] = ["tobacco"]
    assert _plan(cfg).synthetic_splits() == [("rvl", "train"), ("rvl", "val"), ("rvl", "test"), ("tobacco", "train"),
                                             ("tobacco", "val"), ("tobacco", "test")]


def test_classification_inputs() -> None:
    dic = _plan("default").dic
    t = "results/default/dic/tensors"
    assert dic.teacher_inputs("rvl", "ViT-B") == {"train": f"{t}/rvl_train_96.pt", "val": f"{t}/rvl_val_96.pt",
                                                   "eval_test": f"{t}/rvl_test_96.pt",
                                                   "eval_rvl_n": f"{t}/rvl_n_test_96.pt"}
    # the Tobacco teacher fine-tunes the RVL-CDIP one (dic.tobacco_teacher_from_rvl: true)
    assert dic.teacher_inputs("tobacco", "R101")["init_from"] == "results/default/dic/teachers/rvl/R101/metrics.json"
    supervised = dic.student_inputs("rvl", "none", "R50", "imagenet")
    distilled = dic.student_inputs("rvl", "DiT-B", "R50", "imagenet")
    assert supervised["train"] == f"{t}/rvl_subtrain_96.pt" and "teacher" not in supervised
    assert set(distilled) - set(supervised) == {"teacher", "cache_train", "cache_val"}
    assert distilled["cache_val"] == "results/default/dic/cache/rvl/DiT-B_val.safetensors"
    # every decoded split belongs to exactly one decoding group, and each group decodes what it names
    names = [n for group in DECODE_GROUPS.values() for n in group]
    assert sorted(names) == sorted(dic.splits) and len(names) == len(set(names))
    assert dic.decode_outputs("rvl_n") == [f"{t}/rvl_n_test_96.pt"]
    assert dic.decode_inputs("rvl_n") == {"labels": ["data/default/synthetic/rvl_n/labels/test.txt"],
                                          "images": ["data/default/synthetic/rvl_n/images/test"]}


def test_students_on_full_pages_read_the_teacher_splits_and_its_caches_on_them() -> None:
    """`dic.student_pages`: a role (or role/init) set to ``full`` trains and validates on the teacher's splits, and a
    distilled one reads the teacher's outputs cached on those splits (rule dic_teacher_cache_full); the other roles keep
    the student subset, and Tobacco-3482 (whose students already train on its full splits) is unaffected."""
    cfg = _cfg("smoke")
    cfg["dic"]["student_pages"] = {"ViT-T": "full", "R50/random": "full"}
    dic = _plan(cfg).dic
    t, c, px = "results/smoke/dic/tensors", "results/smoke/dic/cache", cfg["dic"]["img_size"]
    full = dic.student_inputs("rvl", "ViT-B", "ViT-T", "random")
    assert (full["train"], full["val"]) == (f"{t}/rvl_train_{px}.pt", f"{t}/rvl_val_{px}.pt")
    assert (full["cache_train"], full["cache_val"]) == (f"{c}/rvl/ViT-B_full_train.safetensors",
                                                        f"{c}/rvl/ViT-B_full_val.safetensors")
    assert full["eval_test"] == f"{t}/rvl_test_{px}.pt"
    assert dic.student_inputs("rvl", "none", "ViT-T", "random")["train"] == f"{t}/rvl_train_{px}.pt"
    assert dic.student_inputs("rvl", "R101", "R50", "random")["train"] == f"{t}/rvl_train_{px}.pt"
    # the more specific key wins; roles not named keep the subset
    assert dic.student_inputs("rvl", "R101", "R50", "imagenet")["cache_train"] == f"{c}/rvl/R101_train.safetensors"
    assert dic.student_inputs("rvl", "ViT-B", "ViT-S", "random")["train"] == f"{t}/rvl_subtrain_{px}.pt"
    assert dic.student_inputs("tobacco", "ViT-B", "ViT-T", "random")["cache_train"] == \
        f"{c}/tobacco/ViT-B_train.safetensors"
    assert dic.full_cache_inputs("rvl", "ViT-B") == {"teacher": "results/smoke/dic/teachers/rvl/ViT-B/metrics.json",
                                                     "train": f"{t}/rvl_train_{px}.pt", "val": f"{t}/rvl_val_{px}.pt"}
    # the job's params say so (and only then: a subset job's params, so its finished runs, are unchanged)
    assert dic.student_view("rvl", "none", "ViT-T", "random", 0)["student_pages"] == "full"
    assert "student_pages" not in dic.student_view("rvl", "none", "ViT-S", "random", 0)
    assert "student_pages" not in dic.student_view("tobacco", "none", "ViT-T", "random", 0)
    # N pages per class of the teacher's split: the teacher's splits and caches, N and the subset's seed in the params
    cfg["dic"]["student_pages"] = {"ViT-T": 3}
    dic = _plan(cfg).dic
    part = dic.student_inputs("rvl", "ViT-B", "ViT-T", "random")
    assert (part["train"], part["cache_train"]) == (f"{t}/rvl_train_{px}.pt", f"{c}/rvl/ViT-B_full_train.safetensors")
    seed = cfg["data"]["student_subset"]["seed"]
    assert dic.student_view("rvl", "ViT-B", "ViT-T", "random", 0)["student_pages"] == {"per_class": 3, "seed": seed}
    assert "student_pages" not in dic.student_view("rvl", "none", "ViT-S", "random", 0)
    raw = read_params(REPO / "params.yaml")
    for bad in ({"ViT-X": "full"}, {"ViT-T": "half"}, {"ViT-T": 0}):  # the schema names the key
        raw["presets"]["smoke"]["dic"]["student_pages"] = bad
        with pytest.raises(ConfigError, match=r"presets\.smoke\.dic\.student_pages"):
            validate_config(raw)


def test_real_data_paths() -> None:
    plan = _plan("paper")
    assert plan.dic.splits["rvl_train"] == ("data/raw/rvl_cdip/labels/train.txt", "data/raw/rvl_cdip/images",
                                            "data/raw/rvl_cdip/.complete")
    assert plan.dla.data_root == "data/raw/doclaynet" and plan.dla.extra == ("prima",)
    assert plan.dla.table_params["extra"]["prima"]["table"] == "table13"
    assert plan.dla.tables_extra("outputs") == {"runs_csv_prima": "results/paper/metrics/dla_prima_runs.csv",
                                                "summary_prima": "results/paper/metrics/dla_prima.json"}
    assert plan.docvqa.primary == "docvqa" and plan.docvqa.extra == ["infographicvqa"]  # SP-DocVQA, then InfoVQA
    assert plan.docvqa.questions("docvqa") == "results/paper/docvqa/questions.json"
    assert plan.docvqa.questions("infographicvqa") == "results/paper/docvqa/infographicvqa/questions.json"
    assert plan.docvqa.dla_predictions("infographicvqa", "m") == "results/paper/docvqa/infographicvqa/dla/m.json"


def test_layout_models_and_inputs() -> None:
    """`default` trains the CNN pair (teacher, student, the paper's two distilled students); `smoke` both pairs."""
    dla = _plan("default").dla
    assert dla.models == ("none__R101-FPN__supervised", "none__R50-FPN__supervised", "R101-FPN__R50-FPN__simkd_fpn",
                          "R101-FPN__R50-FPN__reviewkd")
    inp = dla.train_inputs("R101-FPN", "R50-FPN")
    assert inp["teacher"] == "results/default/dla/models/none__R101-FPN__supervised/model.pt"
    assert "vit_init" not in inp and "teacher" not in dla.train_inputs("none", "R101-FPN")
    # `dla.vit_init`: a ViT-FPN backbone starts from a dic classifier (the DAG edge dic -> dla): the teacher's weights
    # file, or the folder of the student's pair job (a directory output)
    assert dla.train_inputs("none", "ViT-B-FPN")["vit_init"] == "results/default/dic/teachers/rvl/ViT-B/model.safetensors"
    assert dla.train_inputs("ViT-B-FPN", "ViT-T-FPN")["vit_init"] == "results/default/dic/runs/rvl/none__ViT-T__random__s0"
    assert len(_plan("smoke").dla.models) == 4 + 2 * 3  # both pairs, three methods each


def test_publaynet_switch(tmp_path: Path) -> None:
    assert _plan("smoke").dla.publaynet_on  # ../shared/realdata/publaynet has samples.json
    off = _plan("smoke", tmp_path)  # the same relative folder does not exist under tmp_path
    assert not off.dla.publaynet_on and off.dla.publaynet_outputs() == {}
    assert "samples.json" in off.dla.warnings[0]
    with pytest.raises(ConfigError, match=r"dla\.real_eval\.publaynet"):
        off.dla.publaynet_inputs("none", "R50-FPN", "supervised")


def test_docvqa_cells_and_files() -> None:
    plan = _plan("default")
    dv = plan.docvqa
    # 5 prompts without tags (the paper's 4 and task_focus), then (task, task_space) x the 4 layout models
    assert len(dv.cells) == 5 + 2 * 4 and dv.cells[:5] == tuple((p, "none") for p in ("plain", "space", "task",
                                                                                        "task_space", "task_focus"))
    assert dv.cells[5] == ("task", "none__R101-FPN__supervised")
    assert dv.cell_files("synthetic", "metrics.json")[5] == \
        "results/default/docvqa/synthetic/runs/none__R101-FPN__supervised/task/metrics.json"
    assert dv.ocr_input("synthetic") == "data/default/synthetic/rvl/ocr/val.jsonl"
    assert dv.dla_predictions("synthetic", "none__R50-FPN__supervised") == \
        "results/default/dla/predictions/none__R50-FPN__supervised.json"
    assert dv.realfixture_inputs()["model"] == "results/default/dla/models/none__R101-FPN__supervised/model.pt"


@pytest.mark.parametrize("name", ["smoke", "default"])
def test_ask_reads_with_the_pipeline_reader_settings(name: str) -> None:
    """`distildoc ask` answers as the embedded presets' DocVQA stage does: its SmolLM2 defaults are the
    presets' reader options (dtype, post-processing), and the extractive reader differs only in its decoding."""
    from distildoc.docvqa.ask import READER_DEFAULTS

    dv = _cfg(name)["docvqa"]
    assert dv["reader"]["backend"] == "smollm2" and dv["reader"]["options"] == READER_DEFAULTS["smollm2"]
    for extra in dv["extra_readers"]:
        assert {k: v for k, v in extra["options"].items() if k != "decoding"} == READER_DEFAULTS[extra["backend"]]


def test_further_readers_answer_the_no_layout_prompts() -> None:
    """`docvqa.extra_readers` (Table 16's reader dimension): default and smoke add the default reader with extractive
    decoding, one job on the first dataset with the no-layout prompts; paper adds none."""
    dv = _plan("default").docvqa
    assert dv.readers == ("smollm2-extractive",)
    assert dv.reader_files("smollm2-extractive", "metrics.json") == [
        f"results/default/docvqa/synthetic/readers/smollm2-extractive/runs/none/{p}/metrics.json"
        for p in ("plain", "space", "task", "task_space", "task_focus")]
    view = dv.cfg.reader_view("smollm2-extractive")
    assert view["reader"] == {"backend": "smollm2", "options": {"dtype": "float32", "postprocess": "first_line",
                                                               "decoding": "extractive"}}
    assert view["dla_prompts"] == [] and {k: v for k, v in view.items() if k not in ("reader", "dla_prompts")} == \
        {k: v for k, v in dv.run_view().items() if k not in ("reader", "dla_prompts")}
    assert _plan("paper").docvqa.readers == () and _plan("paper").docvqa.all_reader_files("metrics.json") == []
    cfg = copy.deepcopy(_cfg("default"))
    cfg["docvqa"]["extra_readers"] *= 2
    with pytest.raises(ConfigError, match=r"docvqa\.extra_readers: names must be unique, smollm2-extractive"):
        _plan(cfg)


def test_semantic_errors_name_their_key(tmp_path: Path) -> None:
    """The checks (distildoc.config_checks) stop what the plan cannot honour before it is built, naming the key; what
    depends on the file system (a fixture folder) the plan raises when a rule asks for it."""
    cfg = copy.deepcopy(_cfg("default"))
    cfg["docvqa"]["table4_dla_model"] = "none__ViT-B-FPN__supervised"  # not trained by `default`
    with pytest.raises(ConfigError, match=r"docvqa\.table4_dla_model: 'none__ViT-B-FPN__supervised' is not a layout "
                                          r"model of this preset"):
        _plan(cfg)
    cfg = copy.deepcopy(_cfg("default"))
    cfg["docvqa"]["dla_models"] = ["none__R50-FPN__supervised"]  # trained, but its tags are not tried
    with pytest.raises(ConfigError, match=r"docvqa\.table4_dla_model: 'none__R101-FPN__supervised' is not among "
                                          r"docvqa\.dla_models"):
        _plan(cfg)
    cfg = copy.deepcopy(_cfg("default"))
    cfg["dla"]["datasets"] = ["doclaynet", "prima"]
    with pytest.raises(ConfigError, match=r"dla\.datasets: .*only for real data"):
        _plan(cfg)
    cfg = copy.deepcopy(_cfg("smoke"))
    cfg["dla"]["vit_init"] = {"ViT-T-FPN": "runs/rvl/none__ViT-T__imagenet__s0/ce"}  # smoke trains ViT-T random only
    with pytest.raises(ConfigError, match=r"dla\.vit_init\.ViT-T-FPN: .* is not produced by the dic stage"):
        _plan(cfg)
    cfg = copy.deepcopy(_cfg("smoke"))
    cfg["docvqa"]["realfixture"]["path"] = "no/such/folder"
    plan = _plan(cfg)
    assert not plan.docvqa.realfixture_on
    with pytest.raises(ConfigError, match=r"docvqa\.realfixture\.path"):
        plan.docvqa.realfixture_inputs()
    cfg = copy.deepcopy(_cfg("smoke"))
    cfg["docvqa"]["datasets"][0]["ocr"] = {"source": "due"}
    with pytest.raises(ConfigError, match=r"docvqa\.datasets\[0\]\.ocr\.path: dataset 'synthetic' reads DUE OCR"):
        _plan(cfg)


def test_docvqa_settings_reach_no_training_job() -> None:
    """Snakemake re-runs a job when its params change: the training jobs' params (teacher / student views, layout
    job configs) must not move when a DocVQA key does, and the reader's view only when a key it reads does."""
    base = _cfg("default")
    changed = copy.deepcopy(base)
    changed["docvqa"]["max_questions"] += 1
    changed["docvqa"]["reader"]["options"]["dtype"] = "bfloat16"
    changed["docvqa"]["table4_dla_model"] = "none__R50-FPN__supervised"
    a, b = _plan(base), _plan(changed)
    for ds, teacher in a.dic.teachers():
        assert a.dic.teacher_view(ds, teacher) == b.dic.teacher_view(ds, teacher)
    for key in a.dic.jobs:
        assert a.dic.student_view(*key) == b.dic.student_view(*key)
    for model in a.dla.models:
        teacher, role, method = model.split("__")
        assert a.dla.job_config(role, method) == b.dla.job_config(role, method)
    assert set(a.docvqa.run_view()) == set(DOCVQA_RUN_KEYS) and "max_questions" not in a.docvqa.run_view()
    assert a.docvqa.run_view()["reader"] != b.docvqa.run_view()["reader"]
    only_count = copy.deepcopy(base)
    only_count["docvqa"]["max_questions"] = 3
    assert _plan(only_count).docvqa.run_view() == a.docvqa.run_view()
