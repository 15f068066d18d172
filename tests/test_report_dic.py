"""DIC tables from hand-made run JSONs: layout, seed aggregation, bold marks, escaping, missing cells."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distildoc.report.dic import (
    load_runs,
    main_init,
    method_label,
    table6,
    table9,
    table15,
    tables10_12,
    tables18_19,
    write_dic_tables,
)
from distildoc.report.tables import aggregate_seeds, best_mask, format_mean_std, latex_escape, write_table

# ------------------------------------------------------------------------------------------------
# fixture: a small grid of runs
# ------------------------------------------------------------------------------------------------


def split(acc, ece, aurc, n=100):
    return {"accuracy": acc, "ece": ece, "aurc": aurc, "nll": 1.0 - acc, "brier": 0.5 * (1.0 - acc), "n": n,
            "skipped_inputs": []}


def run(dataset, role, teacher, student, method, init, seed, test, rvl_n=None, hparams=None):
    splits = {"test": split(*test)}
    if rvl_n is not None:
        splits["rvl_n"] = split(*rvl_n)
    return {"dataset": dataset, "role": role, "teacher": teacher, "student": student, "method": method,
            "init": init, "seed": seed, "splits": splits,
            "runtime": {"train_seconds": 1.0, "examples_per_second": 10.0, "epochs": 2, "best_epoch": 1},
            "params": 1000, "hparams": hparams or {}}


KD = {"ce_kd": {"alpha": 0.5, "tau": 2.5}, "nkd": {"tau": 1.0, "gamma": 1.5},
      "ce_distildoc": {"alpha": 0.5, "tau": 1.0}}

# (acc, ece, aurc) tuples
RUNS = [
    # RVL, pretrained students
    run("rvl", "teacher", "ViT-B", None, "supervised", "pretrained", 0, (0.95, 0.02, 0.01), (0.70, 0.10, 0.08)),
    run("rvl", "teacher", "DiT-B", None, "supervised", "pretrained", 0, (0.93, 0.03, 0.02)),
    # supervised CE student: better than every KD student, yet never bold (not distilled)
    run("rvl", "student", None, "ViT-S", "ce", "pretrained", 0, (0.97, 0.01, 0.005)),
    # ViT-B -> ViT-S: two seeds of ce_kd (acc 0.80 / 0.90 -> 0.850 ± 0.071)
    run("rvl", "student", "ViT-B", "ViT-S", "ce_kd", "pretrained", 0, (0.80, 0.10, 0.05), (0.40, 0.30, 0.20),
        KD["ce_kd"]),
    run("rvl", "student", "ViT-B", "ViT-S", "ce_kd", "pretrained", 1, (0.90, 0.12, 0.07), (0.50, 0.20, 0.10),
        KD["ce_kd"]),
    run("rvl", "student", "ViT-B", "ViT-S", "nkd", "pretrained", 0, (0.86, 0.15, 0.04), (0.50, 0.30, 0.20), KD["nkd"]),
    run("rvl", "student", "ViT-B", "ViT-S", "mse", "pretrained", 0, (0.70, 0.05, 0.09)),
    run("rvl", "student", "ViT-B", "ViT-T", "simkd_cls_mlp", "pretrained", 0, (0.75, 0.20, 0.10)),
    # DiT-B -> ViT-S: a non-default temperature from hparams
    run("rvl", "student", "DiT-B", "ViT-S", "ce_kd", "pretrained", 0, (0.85, 0.08, 0.06), (0.60, 0.10, 0.15),
        {"alpha": 0.5, "tau": 4.0}),
    # RVL, random-init students (R101 -> R50 only)
    run("rvl", "teacher", "R101", None, "supervised", "pretrained", 0, (0.90, 0.04, 0.03)),
    run("rvl", "student", None, "R50", "ce", "random", 0, (0.60, 0.20, 0.20)),
    run("rvl", "student", "R101", "R50", "ce_kd", "random", 0, (0.71, 0.26, 0.18), (0.30, 0.40, 0.31), KD["ce_kd"]),
    run("rvl", "student", "R101", "R50", "simkd_identity", "random", 0, (0.72, 0.30, 0.12)),
    # Tobacco, pretrained
    run("tobacco", "teacher", "R101", None, "supervised", "pretrained", 0, (0.88, 0.05, 0.04)),
    run("tobacco", "student", None, "R50", "ce", "pretrained", 0, (0.80, 0.10, 0.06)),
    run("tobacco", "student", "R101", "R50", "ce_kd", "pretrained", 0, (0.82, 0.09, 0.05), hparams=KD["ce_kd"]),
    run("tobacco", "student", "R101", "R50", "simkd_identity", "pretrained", 0, (0.84, 0.12, 0.03)),
]


def write_runs(root: Path, runs=RUNS) -> list[Path]:
    paths = []
    for i, r in enumerate(runs):
        p = root / f"run{i:02d}_{r['dataset']}_{r['method']}" / "metrics.json"
        p.parent.mkdir(parents=True)
        p.write_text(json.dumps(r), encoding="utf-8")
        paths.append(p)
    return paths


@pytest.fixture
def runs_df(tmp_path) -> pd.DataFrame:
    return load_runs(write_runs(tmp_path / "runs"))


def md_rows(text: str) -> list[list[str]]:
    """Cells of every body row of the (single) pipe table in `text`."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]


def md_header(text: str) -> list[str]:
    return [c.strip() for c in next(ln for ln in text.splitlines() if ln.startswith("|")).strip("|").split(" | ")]


def tex_rows(text: str) -> list[list[str]]:
    """Cells of every body row of the tabular in `text`."""
    body = text.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    return [[c.strip() for c in ln.removesuffix(r"\\").strip().split(" & ")]
            for ln in body.splitlines() if ln.strip().endswith(r"\\")]


def find(rows: list[list[str]], *prefix: str) -> list[str]:
    hits = [r for r in rows if r[: len(prefix)] == list(prefix)]
    assert len(hits) == 1, (prefix, rows)
    return hits[0]


# ------------------------------------------------------------------------------------------------
# generic helpers
# ------------------------------------------------------------------------------------------------


def test_format_mean_std_sample_std():
    assert format_mean_std([0.80, 0.90]) == "0.850 ± 0.071"  # std ddof=1: 0.0707
    assert format_mean_std([0.8]) == "0.800"
    assert format_mean_std([0.8, float("nan")]) == "0.800"
    assert format_mean_std([]) == "–"
    assert format_mean_std([1.0, 2.0, 3.0], decimals=1) == "2.0 ± 1.0"


def test_aggregate_seeds_groups_missing_keys():
    df = pd.DataFrame({"teacher": ["A", "A", None, "B"], "m": ["x", "x", "x", "x"],
                       "acc": [0.8, 0.9, 0.5, 0.7], "ece": [0.1, np.nan, 0.2, 0.3]})
    agg = aggregate_seeds(df, ["teacher", "m"], ["acc", "ece"])
    assert list(agg.columns) == ["teacher", "m", "acc", "ece", "acc_std", "ece_std", "n_seeds"]
    a = agg[agg["teacher"] == "A"].iloc[0]
    assert a["acc"] == pytest.approx(0.85) and a["acc_std"] == pytest.approx(math.sqrt(0.005))
    assert a["ece"] == pytest.approx(0.1) and math.isnan(a["ece_std"]) and a["n_seeds"] == 2
    none = agg[agg["teacher"].isna()].iloc[0]  # the teacher-less group is kept
    assert none["acc"] == pytest.approx(0.5) and none["n_seeds"] == 1 and math.isnan(none["acc_std"])


def test_latex_escape():
    assert latex_escape("a_b 5% & #1 $x {y}") == r"a\_b 5\% \& \#1 \$x \{y\}"
    assert latex_escape("NKD [τ=1, γ=1.5]") == r"NKD [$\tau$=1, $\gamma$=1.5]"
    assert latex_escape("SimKD [∅ projector] α") == r"SimKD [$\emptyset$ projector] $\alpha$"
    assert latex_escape("0.850 ± 0.071") == r"0.850 $\pm$ 0.071"
    assert latex_escape("–") == "--"


def test_write_table_generic(tmp_path):
    df = pd.DataFrame({"name": ["a_1", "b%", "c&d"], "acc": [0.9, 0.95, np.nan], "acc_std": [0.01, np.nan, np.nan],
                       "ece": [0.2, 0.1, 0.1004], "key": ["k1", "k2", "k3"]})
    paths = write_table(df, tmp_path / "t" / "demo", "Demo_caption 50%", "tab:demo_1",
                        bold={"acc": "max", "ece": "min"}, hidden=("key",))
    assert set(paths) == {"csv", "md", "tex"} and all(p.exists() for p in paths.values())
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == ["name", "acc", "acc_std", "ece", "key"]  # CSV keeps everything
    assert csv["ece"].iloc[2] == 0.1004  # full precision
    assert "NaN" in paths["csv"].read_text().splitlines()[3]
    md = paths["md"].read_text()
    assert md.startswith("Demo_caption 50%")
    assert md_header(md) == ["name", "acc", "ece"]  # std merged, hidden column dropped
    rows = md_rows(md)
    assert rows[0] == ["a_1", "0.900 ± 0.010", "0.200"]
    # displayed ties (0.100 vs 0.1004 -> 0.100) are both bold; missing never
    assert rows[1] == ["b%", "**0.950**", "**0.100**"]
    assert rows[2] == ["c&d", "–", "**0.100**"]
    tex = paths["tex"].read_text()
    for token in (r"\begin{table}", r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrr}",
                  r"\caption{Demo\_caption 50\%}", r"\label{tab:demo_1}"):
        assert token in tex
    t = tex_rows(tex)
    assert t[0] == [r"a\_1", r"0.900 $\pm$ 0.010", "0.200"]
    assert t[1] == [r"b\%", r"\textbf{0.950}", r"\textbf{0.100}"]
    assert t[2] == [r"c\&d", "--", r"\textbf{0.100}"]


def test_best_mask_eligible_and_groups():
    df = pd.DataFrame({"g": ["x", "x", "x", "y", "y"], "acc": [0.99, 0.5, 0.6, 0.7, 0.2],
                       "ece": [0.0, 0.3, 0.2, 0.1, 0.4]})
    mask = best_mask(df, {"acc": "max", "ece": "min"}, eligible=[False, True, True, True, True], group_by=["g"])
    assert mask["acc"].tolist() == [False, False, True, True, False]
    assert mask["ece"].tolist() == [False, False, True, True, False]
    with pytest.raises(ValueError, match="max"):
        best_mask(df, {"acc": "best"})


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------


def test_load_runs_flattens_splits(runs_df):
    n_rows = sum(len(r["splits"]) for r in RUNS)
    assert len(runs_df) == n_rows and runs_df["path"].nunique() == len(RUNS)
    for col in ("dataset", "role", "teacher", "student", "method", "init", "seed", "split", "accuracy", "ece",
                "aurc", "nll", "brier", "n", "train_seconds", "params", "tau", "alpha", "gamma"):
        assert col in runs_df.columns
    ce = runs_df[(runs_df["method"] == "ce") & (runs_df["student"] == "ViT-S")]
    assert len(ce) == 1 and ce["teacher"].isna().all()
    kd = runs_df[(runs_df["method"] == "ce_kd") & (runs_df["teacher"] == "DiT-B")]
    assert kd["tau"].iloc[0] == 4.0 and kd["alpha"].iloc[0] == 0.5
    assert set(runs_df[runs_df["dataset"] == "tobacco"]["split"]) == {"test"}


def test_load_runs_malformed_json_names_file(tmp_path):
    good = write_runs(tmp_path / "ok", RUNS[:1])
    bad = tmp_path / "broken" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text('{"dataset": "rvl", ', encoding="utf-8")
    with pytest.raises(ValueError, match="broken") as err:
        load_runs([*good, bad])
    assert str(bad) in str(err.value)


@pytest.mark.parametrize("mutate, needle", [
    (lambda r: r.pop("splits"), "splits"),
    (lambda r: r["splits"]["test"].pop("aurc"), "aurc"),
    (lambda r: r.update(role="mentor"), "role"),
    (lambda r: r.update(dataset="imagenet"), "dataset"),
    (lambda r: r["splits"]["test"].update(accuracy="high"), "accuracy"),
    (lambda r: r.update(teacher=None), "teacher"),
    (lambda r: r.update(init=""), "init"),
    (lambda r: r.update(init=None), "init"),
])
def test_load_runs_missing_keys_name_file(tmp_path, mutate, needle):
    r = json.loads(json.dumps(RUNS[3]))
    mutate(r)
    [p] = write_runs(tmp_path, [r])
    with pytest.raises(ValueError, match=needle) as err:
        load_runs([p])
    assert str(p) in str(err.value)


def test_any_init_name_is_accepted_and_the_pretrained_one_is_found(tmp_path):
    renamed = [json.loads(json.dumps(r)) for r in RUNS]
    for r in renamed:
        r["init"] = {"pretrained": "imagenet"}.get(r["init"], r["init"])
    df = load_runs(write_runs(tmp_path, renamed))
    assert set(df["init"]) == {"imagenet", "random"}
    assert main_init(df) == "imagenet" and main_init(df, "tobacco") == "imagenet"
    # Table 6 by default uses that init: the same numbers as the "pretrained" fixture
    ref = load_runs(write_runs(tmp_path / "ref"))
    pd.testing.assert_frame_equal(table6(df), table6(ref, "pretrained"))
    # only random students: random
    assert main_init(df[df["init"] == "random"]) == "random"
    assert main_init(df.assign(init=df["init"].replace({"imagenet": "zeta"}))) == "zeta"


def test_load_runs_duplicate_run(tmp_path):
    paths = write_runs(tmp_path, [RUNS[3], RUNS[3]])
    with pytest.raises(ValueError, match="duplicate run"):
        load_runs(paths)


# ------------------------------------------------------------------------------------------------
# builders
# ------------------------------------------------------------------------------------------------

RVL_COLS = ["Teacher", "Student", "Method", "ACC", "AURC", "ECE"]
TOBACCO_COLS = ["Teacher", "Student", "Method", "ACC", "ECE", "AURC"]
VIT_KD = ["ce_distildoc", "ce_kd", "nkd", "mse", "simkd_cls_mlp", "simkd_cnn", "fitnet"]


def test_method_labels():
    assert method_label("ce_kd") == "Vanilla [τ=2.5, α=0.5]"
    assert method_label("ce_kd", {"tau": 4.0, "alpha": 0.3}) == "Vanilla [τ=4, α=0.3]"
    assert method_label("ce_distildoc") == "CE [DistilDoc code: KD τ=1, α=0.5]"
    assert method_label("nkd") == "NKD [τ=1, γ=1.5]"
    assert method_label("simkd_identity") == "SimKD [∅ projector]"
    assert method_label("fitnet") == "FitNet [middle]"
    assert method_label("ce_kd", style="tobacco") == "CE+KD"
    assert method_label("simkd_identity", style="tobacco") == "SimKD [∅]"


def test_table6_layout_and_values(runs_df):
    t = table6(runs_df, "pretrained")
    assert list(t.columns[:6]) == RVL_COLS
    block = [("", "supervised"), ("ViT-S", "ce"), ("ViT-T", "ce")] + \
        [("ViT-S", m) for m in VIT_KD] + [("ViT-T", m) for m in VIT_KD]
    expected = [("ViT-B", s, m) for s, m in block] + [("DiT-B", s, m) for s, m in block]
    assert list(zip(t["Teacher"], t["Student"], t["method_key"])) == expected
    assert t["Method"].iloc[0] == "Teacher" and t["Method"].iloc[1] == "CE"
    assert list(t["Method"].iloc[3:10]) == ["CE [DistilDoc code: KD τ=1, α=0.5]", "Vanilla [τ=2.5, α=0.5]",
                                            "NKD [τ=1, γ=1.5]", "MSE", "SimKD [CLS+MLP]", "SimKD [CNN]",
                                            "FitNet [middle]"]
    kd = t[(t["Teacher"] == "ViT-B") & (t["Student"] == "ViT-S") & (t["method_key"] == "ce_kd")].iloc[0]
    assert kd["ACC"] == pytest.approx(0.85) and kd["ACC_std"] == pytest.approx(0.0707107, abs=1e-6)
    assert kd["AURC"] == pytest.approx(0.06) and kd["ECE"] == pytest.approx(0.11) and kd["n_seeds"] == 2
    # the teacher-less CE student appears under both teacher blocks; ViT-T CE is missing
    ce = t[(t["Student"] == "ViT-S") & (t["method_key"] == "ce")]
    assert ce["ACC"].tolist() == [0.97, 0.97]
    assert t[(t["Student"] == "ViT-T") & (t["method_key"] == "ce")]["ACC"].isna().all()
    dit = t[(t["Teacher"] == "DiT-B") & (t["method_key"] == "ce_kd") & (t["Student"] == "ViT-S")].iloc[0]
    assert dit["Method"] == "Vanilla [τ=4, α=0.5]" and dit["ACC"] == 0.85
    assert t.iloc[0]["ACC"] == 0.95 and t[t["Teacher"] == "DiT-B"].iloc[0]["ACC"] == 0.93
    # nothing pretrained for ResNets on RVL; table 19 = table 9 random
    assert table9(runs_df, "pretrained")[lambda d: d["method_key"] != "supervised"]["ACC"].isna().all()


def test_table9_and_random_tables(runs_df):
    t18, t19 = tables18_19(runs_df)
    assert t18[t18["method_key"] != "supervised"]["ACC"].isna().all()
    assert list(t19.columns[:6]) == RVL_COLS
    assert t19["method_key"].tolist() == ["supervised", "ce", "ce_distildoc", "ce_kd", "nkd", "mse",
                                          "simkd_identity", "simkd_cnn", "fitnet"]
    assert t19["Method"].tolist()[6] == "SimKD [∅ projector]"
    assert t19["ACC"].tolist()[:2] == [0.90, 0.60] and t19["ACC"].iloc[3] == 0.71 and t19["ACC"].iloc[6] == 0.72
    pd.testing.assert_frame_equal(t19, table9(runs_df, "random"))


def test_tables10_12_tobacco_layout(runs_df):
    tabs = tables10_12(runs_df, "pretrained")
    assert list(tabs) == ["R101", "ViT-B", "DiT-B"]
    r = tabs["R101"]
    assert list(r.columns[:6]) == TOBACCO_COLS
    assert r["method_key"].tolist() == ["supervised", "ce", "ce_kd", "nkd", "mse", "simkd_identity", "simkd_cnn",
                                        "fitnet"]
    assert r["Method"].tolist() == ["Teacher", "CE", "CE+KD", "NKD", "MSE", "SimKD [∅]", "SimKD [CNN]", "FitNet"]
    assert r["ACC"].tolist()[:3] == [0.88, 0.80, 0.82]
    v = tabs["ViT-B"]
    assert list(zip(v["Student"], v["method_key"]))[1:] == \
        [(s, m) for s in ("ViT-S", "ViT-T") for m in ["ce", "ce_kd", "nkd", "mse", "simkd_cls_mlp", "simkd_cnn",
                                                      "fitnet"]]
    assert v["ACC"].isna().all()  # no ViT Tobacco runs


def test_table15_averages_by_hand(runs_df):
    t = table15(runs_df)
    assert list(t.columns) == ["Method", "ACC", "ECE", "AURC", "ACC (ID)", "ECE (ID)", "AURC (ID)", "n runs",
                               "method_key"]
    # methods present among RVL students, in the paper's order
    assert t["method_key"].tolist() == ["ce", "ce_kd", "nkd", "mse", "simkd_cls_mlp", "simkd_identity"]
    kd = t.set_index("method_key").loc["ce_kd"]
    # 4 ce_kd runs with rvl_n: ViT-B->ViT-S s0, s1, DiT-B->ViT-S, R101->R50 (random)
    assert kd["n runs"] == 4
    assert kd["ACC"] == pytest.approx((0.40 + 0.50 + 0.60 + 0.30) / 4)
    assert kd["ECE"] == pytest.approx((0.30 + 0.20 + 0.10 + 0.40) / 4)
    assert kd["AURC"] == pytest.approx((0.20 + 0.10 + 0.15 + 0.31) / 4)
    assert kd["ACC (ID)"] == pytest.approx((0.80 + 0.90 + 0.85 + 0.71) / 4)
    assert kd["ECE (ID)"] == pytest.approx((0.10 + 0.12 + 0.08 + 0.26) / 4)
    assert kd["AURC (ID)"] == pytest.approx((0.05 + 0.07 + 0.06 + 0.18) / 4)
    nkd = t.set_index("method_key").loc["nkd"]
    assert nkd["n runs"] == 1 and nkd["ACC"] == 0.50 and nkd["ACC (ID)"] == 0.86
    ce = t.set_index("method_key").loc["ce"]  # no rvl_n split: missing, not zero
    assert ce["n runs"] == 0 and math.isnan(ce["ACC"]) and math.isnan(ce["ACC (ID)"])
    only_random = table15(runs_df, init="random").set_index("method_key")
    assert only_random.loc["ce_kd", "n runs"] == 1 and only_random.loc["ce_kd", "ACC"] == 0.30


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------


def test_write_dic_tables(runs_df, tmp_path, caplog):
    out = tmp_path / "tables"
    with caplog.at_level("WARNING"):
        written = write_dic_tables(runs_df, out)
    stems = sorted({p.stem for p in written})
    # each table takes its own students' pretrained init, else random: table9 has only random-init R50 runs, so
    # it is built from them (the same rows as table19); table11/12 (no ViT Tobacco runs), table18 (no random
    # ViTs): skipped
    assert stems == ["table10_r101", "table15", "table19", "table6", "table9"]
    assert all(p.exists() for p in written) and len(written) == 5 * 3
    assert (out / "table9.csv").read_text() == (out / "table19.csv").read_text()
    assert "(random student)" in (out / "table9.md").read_text()
    for skipped in ("table11_vitb", "table12_ditb", "table18"):
        assert f"skipping {skipped}" in caplog.text and not (out / f"{skipped}.md").exists()

    md = (out / "table6.md").read_text()
    # a cell with two seeds: the number of seeds per cell is shown as well (last column)
    assert md_header(md) == RVL_COLS + ["n seeds"]
    assert "n seeds: the runs (seeds) behind each cell." in md
    rows = md_rows(md)
    # ViT-B -> ViT-S: nkd best ACC (0.86 > 0.85 mean) and AURC; mse best ECE; two-seed cell as mean ± std
    assert find(rows, "ViT-B", "ViT-S", "Vanilla [τ=2.5, α=0.5]")[3:] == ["0.850 ± 0.071", "0.060 ± 0.014",
                                                                           "0.110 ± 0.014", "2"]
    assert find(rows, "ViT-B", "ViT-S", "NKD [τ=1, γ=1.5]")[3:] == ["**0.860**", "**0.040**", "0.150", "1"]
    assert find(rows, "ViT-B", "ViT-S", "MSE")[3:] == ["0.700", "0.090", "**0.050**", "1"]
    # the CE student and the teacher beat them but are not distilled students: never bold
    assert find(rows, "ViT-B", "ViT-S", "CE")[3:] == ["0.970", "0.005", "0.010", "1"]
    assert find(rows, "ViT-B", "", "Teacher")[3:] == ["0.950", "0.010", "0.020", "1"]
    # a lone candidate in its (teacher, student) group is bold; missing cells are dashes (0 seeds)
    assert find(rows, "ViT-B", "ViT-T", "SimKD [CLS+MLP]")[3:] == ["**0.750**", "**0.100**", "**0.200**", "1"]
    assert find(rows, "ViT-B", "ViT-T", "CE")[3:] == ["–", "–", "–", "0"]
    assert find(rows, "ViT-B", "ViT-S", "FitNet [middle]")[3:] == ["–", "–", "–", "0"]
    assert find(rows, "DiT-B", "ViT-S", "Vanilla [τ=4, α=0.5]")[3:] == ["**0.850**", "**0.060**", "**0.080**", "1"]

    tex = (out / "table6.tex").read_text()
    assert r"\begin{tabular}{lllrrrr}" in tex and r"\label{tab:dic_table6}" in tex
    assert "ACC & AURC & ECE & n seeds" in tex
    trows = tex_rows(tex)
    assert find(trows, "ViT-B", "ViT-S", r"Vanilla [$\tau$=2.5, $\alpha$=0.5]")[3:] == [
        r"0.850 $\pm$ 0.071", r"0.060 $\pm$ 0.014", r"0.110 $\pm$ 0.014", "2"]
    assert find(trows, "ViT-B", "ViT-S", r"NKD [$\tau$=1, $\gamma$=1.5]")[3:] == [
        r"\textbf{0.860}", r"\textbf{0.040}", "0.150", "1"]
    assert find(trows, "ViT-B", "ViT-S", "MSE")[3:] == ["0.700", "0.090", r"\textbf{0.050}", "1"]
    assert find(trows, "ViT-B", "ViT-T", "CE")[3:] == ["--", "--", "--", "0"]
    assert "τ" not in tex and "±" not in tex  # everything non-ASCII is escaped to maths
    assert tex.count(r"\midrule") == 2  # after the header, and between the ViT-B and DiT-B blocks

    csv = pd.read_csv(out / "table6.csv")
    assert list(csv.columns[:6]) == RVL_COLS and "ACC_std" in csv.columns and "method_key" in csv.columns
    kd = csv[(csv["Teacher"] == "ViT-B") & (csv["Student"] == "ViT-S") & (csv["method_key"] == "ce_kd")].iloc[0]
    assert kd["ACC"] == pytest.approx(0.85, abs=1e-15) and kd["ACC_std"] == pytest.approx(math.sqrt(0.005))
    assert "NaN" in (out / "table6.csv").read_text()

    # Tobacco: ACC, ECE, AURC; simkd_identity best ACC/AURC, ce_kd best ECE; CE not bold; one seed per cell:
    # no seed column
    tmd = (out / "table10_r101.md").read_text()
    assert md_header(tmd) == TOBACCO_COLS and "n seeds" not in tmd
    trows_md = md_rows(tmd)
    assert find(trows_md, "R101", "R50", "CE")[3:] == ["0.800", "0.100", "0.060"]
    assert find(trows_md, "R101", "R50", "CE+KD")[3:] == ["0.820", "**0.090**", "0.050"]
    assert find(trows_md, "R101", "R50", "SimKD [∅]")[3:] == ["**0.840**", "0.120", "**0.030**"]
    assert r"SimKD [$\emptyset$]" in (out / "table10_r101.tex").read_text()
    assert "(pretrained students)" in tmd

    t19 = (out / "table19.tex").read_text()
    assert r"SimKD [$\emptyset$ projector]" in t19 and "randomly initialised" in t19

    # Table 15: bold per column among the KD methods (CE excluded); ID columns too
    r15 = md_rows((out / "table15.md").read_text())
    assert md_header((out / "table15.md").read_text()) == ["Method", "ACC", "ECE", "AURC", "ACC (ID)", "ECE (ID)",
                                                           "AURC (ID)", "n runs"]
    assert find(r15, "CE") == ["CE", "–", "–", "–", "–", "–", "–", "0"]
    assert find(r15, "Vanilla [τ=2.5, α=0.5]") == ["Vanilla [τ=2.5, α=0.5]", "0.450", "**0.250**", "**0.190**",
                                                   "0.815", "**0.140**", "0.090", "4"]
    assert find(r15, "NKD [τ=1, γ=1.5]") == ["NKD [τ=1, γ=1.5]", "**0.500**", "0.300", "0.200", "**0.860**",
                                             "0.150", "**0.040**", "1"]


def test_write_dic_tables_empty(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        assert write_dic_tables(load_runs([]), tmp_path / "none") == []
    assert "skipping table15" in caplog.text


def test_each_main_table_takes_its_own_students_init():
    # the embedded default: ViT students random-init only, the EfficientNet R50 student imagenet and random
    from distildoc.report.dic import table_init

    df = pd.DataFrame({"dataset": ["rvl"] * 4 + ["tobacco"], "role": ["student"] * 5,
                       "student": ["ViT-T", "R50", "R50", "ViT-T", "R50"],
                       "init": ["random", "imagenet", "random", "random", "imagenet"]})
    assert table_init(df, "table6") == "random"
    assert table_init(df, "table9") == "imagenet"
    assert table_init(df, "table10_r101") == "imagenet"
    assert table_init(df, "table11_vitb") == "random"  # no Tobacco ViT runs at all: random


def test_the_captions_name_each_students_training_pages(tmp_path):
    """`dic.student_pages`: a table's caption names the pages its students trained on (the runs'
    ``runtime.train_examples``), per student role; runs that do not record them leave the caption as it was."""
    from distildoc.report.dic import pages_note

    runs = [json.loads(json.dumps(r)) for r in RUNS if r["dataset"] == "rvl"]
    for r in runs:
        if r["role"] == "student":
            r["runtime"]["train_examples"] = 3200 if r["student"] == "ViT-T" else 480
    df = load_runs(write_runs(tmp_path / "runs", runs))
    assert pages_note(df, "rvl", ("ViT-S", "ViT-T"), "pretrained") == "Training pages: ViT-S 480, ViT-T 3200."
    assert pages_note(df, "rvl", ("R50",), "random") == "Training pages: R50 480."
    assert pages_note(df, "rvl", ("R50",), "pretrained") == ""  # no such runs
    written = write_dic_tables(df, tmp_path / "tables")
    md = next(p for p in written if p.name == "table6.md").read_text(encoding="utf-8")
    assert "(pretrained students). Training pages: ViT-S 480, ViT-T 3200. Bold:" in md
    # without the field (runs written before it): the caption reads as before, no stray space
    old = write_dic_tables(load_runs(write_runs(tmp_path / "old", RUNS)), tmp_path / "old_tables")
    assert "(pretrained students). Bold:" in next(p for p in old if p.name == "table6.md").read_text(encoding="utf-8")
