"""The `export` target (workflow/rules/export.smk): which runs a preset exports, the deployment table's logic
on hand-made parity / timing records (retained fraction, speed-ups, the issue's two targets and the caption
that says where they do not hold), the interleaved timer, and the smoke preset's dry-run DAG."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest

from distildoc.config import load_preset
from distildoc.export.deploy import (EXPORT_DEFAULTS, classifier_batches, deploy_caption, deploy_table,
                                     dic_export_runs, dla_export_models, export_files, export_settings,
                                     model_record, target_summary, throughput_in_rounds, timing_groups,
                                     write_deploy_table)
from distildoc.settings import DicConfig, DlaConfig

from test_pipeline import BIN, REPO, _copy_project, _run

T = "teachers/rvl/R101"
S_GOOD = "runs/rvl/R101__R50__imagenet__s0/ce_kd"
S_SLOW = "runs/rvl/R101__R50__imagenet__s0/simkd_cnn"
S_NONE = "runs/rvl/none__R50__imagenet__s0/ce"
DT, DS = "none__R101-FPN__supervised", "R101-FPN__R50-FPN__simkd_fpn"


def _cls(mid, role, teacher, acc, method="ce_kd", int8=True):
    variants = {"torch_fp32": {"value": acc[0], "n": 100}, "onnx_fp32": {"value": acc[1], "n": 100}}
    if int8:
        variants["onnx_int8"] = {"value": acc[2], "n": 100}
    return {"id": mid, "task": "dic", "role": role, "teacher": teacher, "dataset": "rvl", "method": method,
            "metric": "accuracy", "variants": variants, "int8_recommended": True if int8 else None,
            "onnx_bytes": {"onnx_fp32": 4_000_000, "onnx_int8": 1_000_000}}


def _det(mid, role, teacher, m_ap):
    q = {"value": m_ap, "n": 6}
    return {"id": mid, "task": "dla", "role": role, "teacher": teacher, "dataset": None, "method": mid.split("__")[2],
            "metric": "mAP", "variants": {"torch_fp32": q, "onnx_fp32": q}, "int8_recommended": None, "onnx_bytes": {}}


def _timings(table):
    return [{"id": i, "variant": v, "batch_size": b, "images_per_second": ips} for (i, v, b), ips in table.items()]


MODELS = [
    _cls(T, "teacher", None, (0.90, 0.90, 0.88), method="supervised"),
    _cls(S_GOOD, "student", T, (0.87, 0.87, 0.855)),   # retained 0.9667 / 0.95
    _cls(S_SLOW, "student", T, (0.89, 0.89, 0.70), method="simkd_cnn"),
    _cls(S_NONE, "student", None, (0.80, 0.80, 0.79), method="ce"),
    _det(DT, "teacher", None, 0.50),
    _det(DS, "student", DT, 0.45),
]
TIMINGS = _timings({
    (T, "torch_fp32", 1): 10.0, (T, "onnx_fp32", 1): 20.0, (T, "onnx_int8", 1): 25.0,
    (T, "torch_fp32", 32): 40.0, (T, "onnx_fp32", 32): 80.0, (T, "onnx_int8", 32): 100.0,
    (S_GOOD, "torch_fp32", 1): 30.0, (S_GOOD, "onnx_fp32", 1): 60.0, (S_GOOD, "onnx_int8", 1): 90.0,
    (S_GOOD, "torch_fp32", 32): 120.0, (S_GOOD, "onnx_fp32", 32): 310.0, (S_GOOD, "onnx_int8", 32): 400.0,
    (S_SLOW, "torch_fp32", 1): 12.0, (S_SLOW, "onnx_fp32", 1): 22.0, (S_SLOW, "onnx_int8", 1): 30.0,
    (S_SLOW, "torch_fp32", 32): 50.0, (S_SLOW, "onnx_fp32", 32): 90.0, (S_SLOW, "onnx_int8", 32): 350.0,
    (S_NONE, "torch_fp32", 1): 30.0, (S_NONE, "onnx_fp32", 1): 60.0, (S_NONE, "onnx_int8", 1): 90.0,
    (S_NONE, "torch_fp32", 32): 120.0, (S_NONE, "onnx_fp32", 32): 310.0, (S_NONE, "onnx_int8", 32): 400.0,
    (DT, "torch_fp32", 1): 2.0, (DT, "onnx_fp32", 1): 3.0,
    (DS, "torch_fp32", 1): 2.8, (DS, "onnx_fp32", 1): 4.8,
})


def _row(df, model, variant):
    rows = df[(df["model"] == model) & (df["variant"] == variant)]
    assert len(rows) == 1, (model, variant)
    return rows.iloc[0]


def test_retained_fraction_and_speedups() -> None:
    df = deploy_table(MODELS, TIMINGS, [1, 32])
    assert len(df) == 4 * 3 + 2 * 2  # classifiers x 3 variants, detectors x 2 (no int8 detector)
    r = _row(df, S_GOOD, "onnx_int8")
    assert r["teacher"] == T and r["group"] == T
    assert r["retained"] == pytest.approx(0.855 / 0.90)  # vs the teacher's PyTorch fp32 accuracy
    assert r["speedup_b1_vs_teacher"] == pytest.approx(90 / 25)  # the teacher's same variant
    assert r["speedup_b1_vs_teacher_torch"] == pytest.approx(90 / 10)  # the teacher's PyTorch fp32
    assert r["speedup_b32_vs_teacher"] == pytest.approx(400 / 100)
    assert r["speedup_b32_vs_teacher_torch"] == pytest.approx(400 / 40)
    assert r["onnx_MB"] == pytest.approx(1.0) and r["int8_recommended"] is True
    # a teacher's rows compare it with itself: ONNX's speed-up over its own PyTorch model
    t = _row(df, T, "onnx_fp32")
    assert pd_missing(t["teacher"]) and t["group"] == T
    assert t["speedup_b32_vs_teacher"] == pytest.approx(1.0) and t["speedup_b32_vs_teacher_torch"] == pytest.approx(2.0)
    assert _row(df, T, "onnx_int8")["retained"] == pytest.approx(0.88 / 0.90)
    # no teacher: no comparison
    n = _row(df, S_NONE, "onnx_int8")
    assert pd_missing(n["teacher"]) and math.isnan(n["retained"]) and math.isnan(n["speedup_b32_vs_teacher"])
    assert n["keeps_95pct_at_3x"] is None
    # detectors: batch 1 only, mAP retained
    d = _row(df, DS, "onnx_fp32")
    assert d["retained"] == pytest.approx(0.9) and d["speedup_b1_vs_teacher"] == pytest.approx(1.6)
    assert math.isnan(d["images_per_s_b32"]) and math.isnan(d["speedup_b32_vs_teacher"])


def pd_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_keeps_95pct_at_3x() -> None:
    df = deploy_table(MODELS, TIMINGS, [1, 32])
    # ce_kd: 0.87 / 0.90 = 0.967 >= 0.95; b32 images/s vs the teacher's ONNX int8 (100): 1.2, 3.1, 4.0
    assert _row(df, S_GOOD, "torch_fp32")["keeps_95pct_at_3x"] is False   # 120 < 300
    assert _row(df, S_GOOD, "onnx_fp32")["keeps_95pct_at_3x"] is True     # 310 >= 300
    assert _row(df, S_GOOD, "onnx_int8")["keeps_95pct_at_3x"] is True     # 0.855 / 0.90 = 0.95, 400 >= 300
    # simkd_cnn: int8 fast enough (350) but keeps 0.70 / 0.90 = 0.78; fp32 keeps 0.99 but 90 < 300
    assert [_row(df, S_SLOW, v)["keeps_95pct_at_3x"] for v in ("torch_fp32", "onnx_fp32", "onnx_int8")] == [False] * 3
    assert all(pd_missing(v) for v in df[df["task"] == "dic"]["faster_1p5x"])
    assert all(pd_missing(v) for v in df[df["role"] == "teacher"]["keeps_95pct_at_3x"])
    summary = target_summary(df)["keeps_95pct_at_3x"]
    assert summary["met"] == [f"{S_GOOD} (ONNX fp32, ONNX int8)"] and summary["not_met"] == [S_SLOW]
    assert summary["undecided"] == []  # the supervised student has no teacher: not a candidate


def test_faster_1p5x() -> None:
    df = deploy_table(MODELS, TIMINGS, [1, 32])
    assert _row(df, DS, "torch_fp32")["faster_1p5x"] is False  # 2.8 / 2.0 = 1.4
    assert _row(df, DS, "onnx_fp32")["faster_1p5x"] is True    # 4.8 / 3.0 = 1.6
    assert pd_missing(_row(df, DT, "onnx_fp32")["faster_1p5x"])
    assert target_summary(df)["faster_1p5x"]["met"] == [f"{DS} (ONNX fp32)"]


def test_caption_says_where_the_targets_do_not_hold(tmp_path: Path) -> None:
    df = deploy_table(MODELS, TIMINGS, [1, 32])
    caption = deploy_caption(df, "timed somehow", [1, 32])
    assert "keeps_95pct_at_3x" in caption and "holds for 1 of 2 students" in caption
    assert "does NOT hold for the other 1" in caption and "holds for 1 of 1" in caption
    # slower students everywhere: both targets fail, said plainly
    slow = [{**t, "images_per_second": t["images_per_second"] / 10} if t["id"] in (S_GOOD, S_SLOW, DS) else t
            for t in TIMINGS]
    bad = deploy_table(MODELS, slow, [1, 32])
    text = deploy_caption(bad, "timed somehow", [1, 32])
    assert "does NOT hold for any of the 2 students" in text
    assert "does NOT hold for any of the 1 layout students" in text
    # the files: CSV keeps the variant keys, Markdown shows names and the caption
    paths = write_deploy_table(bad, tmp_path / "deploy", "timed somehow", [1, 32])
    csv, md = paths["csv"].read_text(), paths["md"].read_text()
    assert "onnx_int8" in csv and "keeps_95pct_at_3x" in csv.splitlines()[0]
    assert "ONNX int8" in md and "does NOT hold" in md and "im/s b32" in md
    assert paths["tex"].is_file()


def test_missing_teacher_int8_leaves_the_target_undecided() -> None:
    models = [_cls(T, "teacher", None, (0.9, 0.9, None), method="supervised", int8=False),
              _cls(S_GOOD, "student", T, (0.9, 0.9, 0.9))]
    timings = [t for t in TIMINGS if (t["id"], t["variant"]) != (T, "onnx_int8")]  # int8: false
    df = deploy_table(models, timings, [1, 32])
    assert all(pd_missing(v) for v in df[df["model"] == S_GOOD]["keeps_95pct_at_3x"])
    assert math.isnan(_row(df, S_GOOD, "onnx_int8")["speedup_b32_vs_teacher"])
    assert target_summary(df)["keeps_95pct_at_3x"]["undecided"] == [S_GOOD]
    assert "Undecided" in deploy_caption(df, "t", [1, 32])


def test_model_record_reads_parity_and_metrics(tmp_path: Path) -> None:
    exp = tmp_path / "export" / "dic" / T
    exp.mkdir(parents=True)
    (exp / "model.int8.onnx").write_bytes(b"x")
    parity = {"inputs": {"n": 50}, "int8_recommended": False,
              "metrics": {"torch": {"accuracy": 0.8, "n": 50}, "onnx_fp32": {"accuracy": 0.8, "n": 50},
                          "onnx_int8": {"accuracy": 0.6, "n": 50}},
              "files": {"model.onnx": {"bytes": 2_000_000}, "model.int8.onnx": {"bytes": 500_000}}}
    (exp / "parity.json").write_text(json.dumps(parity))
    rec = model_record({"id": T, "task": "dic", "role": "teacher", "teacher": None, "dataset": "rvl",
                        "method": "supervised", "source": "unused", "export": str(exp)})
    assert rec["metric"] == "accuracy" and rec["int8_recommended"] is False
    assert {v: q["value"] for v, q in rec["variants"].items()} == {"torch_fp32": 0.8, "onnx_fp32": 0.8, "onnx_int8": 0.6}
    assert rec["onnx_bytes"] == {"onnx_fp32": 2_000_000, "onnx_int8": 500_000}
    # a detector: the PyTorch model's mAP for both forms
    model_dir, dexp = tmp_path / "models" / DT, tmp_path / "export" / "dla" / DT
    model_dir.mkdir(parents=True)
    dexp.mkdir(parents=True)
    (model_dir / "metrics.json").write_text(json.dumps({"mAP": 0.42, "eval_pages": 6}))
    (dexp / "parity.json").write_text(json.dumps({"input_size": [662, 512], "files": {"model.onnx": {"bytes": 9}}}))
    drec = model_record({"id": DT, "task": "dla", "role": "teacher", "teacher": None, "source": str(model_dir),
                         "export": str(dexp)})
    assert drec["metric"] == "mAP" and set(drec["variants"]) == {"torch_fp32", "onnx_fp32"}
    assert drec["variants"]["onnx_fp32"]["value"] == 0.42


def test_throughput_in_rounds_times_blocks_in_rotating_order() -> None:
    calls = []
    runners = {name: (lambda batch, name=name: calls.append((name, int(batch[0])))) for name in ("a", "b", "c")}
    batches = [np.array([k]) for k in range(3)]
    res = throughput_in_rounds(runners, batches, batch_size=4, warmup=1, iters=2, rounds=3)
    assert set(res) == {"a", "b", "c"}
    assert all(len(r["images_per_second_rounds"]) == 3 and r["images_per_second"] > 0 for r in res.values())
    # per round and runner a block: 1 untimed call, then 2 timed ones, batches cycled from the first
    assert len(calls) == 3 * 3 * (1 + 2)
    blocks = [calls[k:k + 3] for k in range(0, len(calls), 3)]
    assert all(len({c[0] for c in blk}) == 1 and [c[1] for c in blk] == [0, 0, 1] for blk in blocks)
    # the order rotates by one each round
    assert [blk[0][0] for blk in blocks] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    with pytest.raises(ValueError, match="no input batches"):
        throughput_in_rounds(runners, [], batch_size=4)
    pages = np.arange(5, dtype=np.float32).reshape(5, 1, 1, 1)
    chunks = classifier_batches(pages, 4)
    assert [c[:, 0, 0, 0].tolist() for c in chunks] == [[0, 1, 2, 3], [4, 0, 1, 2]]


def test_throughput_in_rounds_measures_each_block() -> None:
    # a runner that takes 4x as long per call gets a quarter of the images/s, whatever the order
    runners = {"fast": lambda b: time.sleep(0.002), "slow": lambda b: time.sleep(0.008)}
    res = throughput_in_rounds(runners, [0], batch_size=8, warmup=0, iters=5, rounds=3)
    ratio = res["fast"]["images_per_second"] / res["slow"]["images_per_second"]
    assert 2.5 < ratio < 4.5
    assert 8 * 5 / (5 * 0.008) * 0.5 < res["slow"]["images_per_second"] <= 8 * 5 / (5 * 0.008)


def test_measure_deploy_times_at_the_configured_threads(monkeypatch) -> None:
    import torch

    from distildoc.export import deploy

    seen = []

    def fake_runners(entry, threads):
        seen.append((entry["id"], threads, torch.get_num_threads()))
        return {"onnx_fp32": lambda x: None}

    monkeypatch.setattr(deploy, "_classifier_runners", fake_runners)
    before = torch.get_num_threads()
    entries = [{"id": T, "task": "dic", "role": "teacher", "teacher": None, "dataset": "rvl"},
               {"id": S_GOOD, "task": "dic", "role": "student", "teacher": T, "dataset": "rvl"}]
    pages = np.zeros((4, 3, 2, 2), dtype=np.float32)
    out = deploy.measure_deploy(entries, {"threads": 1, "iters": 1, "rounds": 1, "batch_sizes": [2]},
                                classifier_pages=pages)
    assert seen == [(T, 1, 1), (S_GOOD, 1, 1)]
    assert torch.get_num_threads() == before
    assert {(r["id"], r["variant"], r["batch_size"]) for r in out} == {(T, "onnx_fp32", 2), (S_GOOD, "onnx_fp32", 2)}
    assert "1 thread(s)" in deploy.timing_note({"threads": 1})
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="export.threads"):
            export_settings({"threads": bad})


def test_timing_groups_pair_students_with_their_teacher() -> None:
    entries = [{"id": m["id"], "task": m["task"], "role": m["role"], "teacher": m["teacher"], "dataset": m["dataset"]}
               for m in MODELS]
    assert [[e["id"] for e in g] for g in timing_groups(entries)] == [[T, S_GOOD, S_SLOW], [S_NONE], [DT, DS]]


def test_export_settings_defaults_and_unknown_keys() -> None:
    assert export_settings(None) == EXPORT_DEFAULTS
    assert export_settings({"rounds": 5})["rounds"] == 5
    with pytest.raises(ValueError, match="unknown key"):
        export_settings({"round": 5})
    assert set(export_files("x", True)) == {"model", "int8", "parity", "config", "card"}
    assert "int8" not in export_files("x", False)


def _smoke():
    return load_preset(REPO / "params.yaml", "smoke")


def test_smoke_exports_every_teacher_and_the_first_seed_students() -> None:
    assert _smoke_exports() == (6, 122, 10)


def _smoke_exports() -> tuple[int, int, int]:
    """(teachers, students, layout models) the smoke preset exports, checked along the way."""
    dic = _smoke()["dic"]
    runs = dic_export_runs(DicConfig.from_dict(dic))
    teachers = [r for r in runs if r["role"] == "teacher"]
    assert [r["id"] for r in teachers] == [f"teachers/{ds}/{t}" for ds in dic["datasets"] for t in ("ViT-B", "DiT-B", "R101")]
    students = [r for r in runs if r["role"] == "student"]
    first = {ds: (s if isinstance(s, list) else s)[0] for ds, s in
             (dic["seeds"].items() if isinstance(dic["seeds"], dict) else ((d, dic["seeds"]) for d in dic["datasets"]))}
    expected = [(key, m) for key, ms in DicConfig.from_dict(dic).jobs().items() if key[4] == first[key[0]] for m in ms]
    assert len(students) == len(expected) and len({r["id"] for r in students}) == len(students)
    assert all(re.fullmatch(r"runs/(rvl|tobacco)/[\w-]+__[\w-]+__(imagenet|random)__s0/\w+", r["id"]) for r in students)
    ce_kd = next(r for r in students if r["id"] == "runs/rvl/R101__R50__imagenet__s0/ce_kd")
    assert ce_kd["teacher"] == "teachers/rvl/R101"
    # a supervised student is compared with a teacher only when exactly one teacher distils into its
    # (dataset, student, init): smoke's R50 at the random init (R101 only); the others have two or three
    teachers_of: dict[tuple[str, str, str], set[str]] = {}
    for (ds, t, st, init, _seed) in DicConfig.from_dict(dic).jobs():
        if t != "none":
            teachers_of.setdefault((ds, st, init), set()).add(t)
    for r in (r for r in students if "/none__" in r["id"]):
        _, ds, cell, _ = r["id"].split("/")
        _, st, init, _ = cell.split("__")
        only = teachers_of[(ds, st, init)]
        assert r["teacher"] == (f"teachers/{ds}/{next(iter(only))}" if len(only) == 1 else None), r
    assert all(r["teacher"] == f"teachers/{r['dataset']}/{r['id'].split('/')[2].split('__')[0]}"
               for r in students if "/none__" not in r["id"])
    # ... with one teacher distilling into a student (and init), the supervised student is compared with it
    one = {"datasets": ["rvl"], "seeds": [3, 4], "inits": {"R50": ["imagenet", "random"], "ViT-T": ["random"]},
           "grid": [{"teacher": "R101", "students": ["R50"], "methods": ["ce_kd"]},
                    {"teacher": "ViT-B", "students": ["R50"], "inits": ["imagenet"], "methods": ["mse"]}]}
    by_id = {r["id"]: r for r in dic_export_runs(DicConfig.from_dict(one))}
    assert set(by_id) == {"teachers/rvl/R101", "teachers/rvl/ViT-B", "runs/rvl/R101__R50__imagenet__s3/ce_kd",
                          "runs/rvl/R101__R50__random__s3/ce_kd", "runs/rvl/ViT-B__R50__imagenet__s3/mse",
                          "runs/rvl/none__R50__imagenet__s3/ce", "runs/rvl/none__R50__random__s3/ce"}
    assert by_id["runs/rvl/none__R50__imagenet__s3/ce"]["teacher"] is None
    assert by_id["runs/rvl/none__R50__random__s3/ce"]["teacher"] == "teachers/rvl/R101"
    dla = {m["id"]: m for m in dla_export_models(DlaConfig.from_dict(_smoke()["dla"]))}
    assert dla["none__R101-FPN__supervised"]["role"] == "teacher"
    assert dla["none__R50-FPN__supervised"]["teacher"] == "none__R101-FPN__supervised"
    assert dla["ViT-B-FPN__ViT-T-FPN__pkd"]["teacher"] == "none__ViT-B-FPN__supervised"
    return len(teachers), len(students), len(dla)


def _job_counts(text: str) -> dict[str, int]:
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return _copy_project(tmp_path_factory.mktemp("export_dag") / "project")


def test_export_dry_run_lists_the_export_jobs(scratch: Path) -> None:
    n_teachers, n_students, n_dla = _smoke_exports()
    res = _run([str(BIN / "snakemake"), "-n", "export", "--config", "preset=smoke"], scratch, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    counts = _job_counts(out)
    assert {k: counts.get(k) for k in ("export_dic_teacher", "export_dic_student", "export_dla", "export_deploy", "export")} \
        == {"export_dic_teacher": n_teachers, "export_dic_student": n_students, "export_dla": n_dla,
            "export_deploy": 1, "export": 1}
    summary = _run([str(BIN / "snakemake"), "--cores", "1", "--summary", "export", "--config", "preset=smoke"],
                   scratch, timeout=300)
    assert summary.returncode == 0, (summary.stdout + summary.stderr)[-4000:]
    rule_of = {cols[0]: cols[2] for cols in (line.split("\t") for line in summary.stdout.splitlines()[1:])
               if len(cols) > 2}
    expected = {
        "results/smoke/export/dic/teachers/rvl/R101/model.int8.onnx": "export_dic_teacher",
        "results/smoke/export/dic/teachers/tobacco/DiT-B/README.md": "export_dic_teacher",
        "results/smoke/export/dic/runs/tobacco/R101__R50__imagenet__s0/ce_kd/parity.json": "export_dic_student",
        "results/smoke/export/dic/runs/rvl/none__ViT-T__random__s0/ce/model.onnx": "export_dic_student",
        "results/smoke/export/dla/R101-FPN__R50-FPN__simkd_fpn/model.onnx": "export_dla",
        "results/smoke/export/deploy.json": "export_deploy",
        "results/smoke/tables/deploy/deploy.csv": "export_deploy",
        "results/smoke/tables/deploy/deploy.md": "export_deploy",
    }
    assert {k: rule_of.get(k) for k in expected} == expected
    # only the first seed's students (rvl trains seeds 0 and 1 in smoke), no layout int8 file
    assert not any("__s1/" in k for k in rule_of if k.startswith("results/smoke/export/"))
    assert not any(k.startswith("results/smoke/export/dla/") and k.endswith("int8.onnx") for k in rule_of)
    assert not (scratch / "results").exists()


def test_export_is_not_part_of_all(scratch: Path) -> None:
    res = _run([str(BIN / "snakemake"), "-n", "all", "--config", "preset=smoke"], scratch, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert not any(rule.startswith("export") for rule in _job_counts(out))
