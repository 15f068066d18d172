"""Published numbers (data/published) and the paper-vs-run comparison views."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from report_helpers import dic_runs, dla_runs, docvqa_runs

from distildoc.report.dic import KNOWN_METHODS
from distildoc.report.docvqa import DLA_ORDER
from distildoc.report.paper import (
    OURS_ONLY,
    PUBLISHED,
    PUBLISHED_DIR,
    compare,
    comparison_views,
    load_published,
    mean_abs_difference,
    ours_dic,
    write_comparisons,
)


def _value(df: pd.DataFrame, col: str, **keys) -> float:
    sel = df
    for k, v in keys.items():
        sel = sel[sel[k] == v]
    assert len(sel) >= 1, keys
    return float(sel.iloc[0][col])


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_table_parses_with_its_keys_and_notes(name: str) -> None:
    df = load_published(name)
    assert len(df) > 0 and "note" in df.columns
    spec = PUBLISHED[name]
    assert all(pd.api.types.is_float_dtype(df[m]) for m in spec.metrics)
    if "method" in spec.keys:
        assert set(df["method"]) <= set(KNOWN_METHODS)
    if "dla_model" in spec.keys:
        assert set(df["dla_model"]) <= set(DLA_ORDER)
    if "teacher" in spec.keys:
        assert set(df["teacher"]) <= {"ViT-B", "DiT-B", "R101"}
        assert set(df["student"]) <= {"", "ViT-S", "ViT-T", "R50"}


def test_published_spot_values_from_the_appendix() -> None:
    assert _value(load_published("table6_vitb"), "ACC", method="supervised") == pytest.approx(0.8910)
    assert _value(load_published("table6_ditb"), "AURC", method="supervised") == pytest.approx(0.0753)
    assert _value(load_published("table6_vitb"), "ACC", student="ViT-S", method="ce_distildoc") == 0.8534
    assert _value(load_published("table9"), "ECE", method="simkd_cnn") == pytest.approx(0.0225)
    assert _value(load_published("table10_r101"), "ACC", method="supervised") == pytest.approx(0.4452)
    assert _value(load_published("table12_ditb"), "AURC", student="ViT-T", method="fitnet") == pytest.approx(0.0766)
    assert _value(load_published("table15"), "ACC", method="simkd_cnn") == pytest.approx(0.6291)
    assert math.isnan(_value(load_published("table19"), "ACC", method="supervised"))
    assert _value(load_published("table3"), "mAP", dla_model="none__R101-FPN__supervised") == pytest.approx(73.56)
    assert _value(load_published("table13"), "mAP", dla_model="R101-FPN__R50-FPN__reviewkd") == pytest.approx(34.31)
    assert _value(load_published("table4_docvqa"), "anls", prompt="task_space", dla_model="none") == 62.46
    assert _value(load_published("table4_infovqa"), "anls_map", prompt="task", dla_model="none") == 19.1
    t16 = load_published("table16")
    assert len(t16) == 20 and t16["suspect"].eq("True").sum() == 3
    assert _value(t16, "anls_yes/no", prompt="space", dla_model="none") == 0.0
    assert len(load_published("table17")) == 20
    # the column orders of the paper: RVL tables ACC, AURC, ECE; Tobacco ACC, ECE, AURC
    assert PUBLISHED["table6_vitb"].metrics == ("ACC", "AURC", "ECE")
    assert PUBLISHED["table11_vitb"].metrics == ("ACC", "ECE", "AURC")


def test_published_errors_name_the_file_and_column(tmp_path: Path) -> None:
    (tmp_path / "table15.csv").write_text("method,label,ACC,ECE\nmse,MSE,0.5,0.1\n")
    with pytest.raises(ValueError, match=r"table15\.csv.*AURC"):
        load_published("table15", tmp_path)
    (tmp_path / "table15.csv").write_text("method,label,ACC,ECE,AURC\nmse,MSE,high,0.1,0.2\n")
    with pytest.raises(ValueError, match=r"table15\.csv: column 'ACC'"):
        load_published("table15", tmp_path)
    with pytest.raises(FileNotFoundError, match="table3.csv"):
        load_published("table3", tmp_path)


def test_compare_keeps_the_paper_order_computes_differences_and_marks_extra_rows() -> None:
    pub = pd.DataFrame({"method": ["b", "a", "c"], "label": ["B", "A", "C"], "ACC": [0.5, 0.6, 0.7]})
    ours = pd.DataFrame({"method": ["a", "b", "z"], "ACC": [0.65, 0.45, 0.1]})
    v = compare(pub, ours, ["method"], ["ACC"])
    assert list(v.columns) == ["method", "label", "ACC (paper)", "ACC (ours)", "ACC Δ", "in_paper"]
    assert list(v["method"]) == ["b", "a", "c", "z"]
    assert v["ACC Δ"].iloc[:2].tolist() == pytest.approx([-0.05, 0.05])
    assert math.isnan(v["ACC (ours)"].iloc[2])
    assert v["label"].iloc[3] == "(not in the paper)" and not v["in_paper"].iloc[3]
    assert mean_abs_difference(v) == {"ACC": pytest.approx(0.05)}
    assert len(compare(pub, ours, ["method"], ["ACC"], keep_ours_only=False)) == 3


def test_dic_view_uses_the_seed_mean_and_joins_teacher_rows() -> None:
    runs = dic_runs()
    extra = runs[(runs["teacher"] == "ViT-B") & (runs["student"] == "ViT-S") & (runs["method"] == "mse")].copy()
    extra["seed"], extra["path"] = 1, extra["path"].str.replace("s0", "s1")
    extra.loc[extra["split"] == "test", "accuracy"] = 0.85  # seeds 0.75 and 0.85 -> mean 0.80
    runs = pd.concat([runs, extra], ignore_index=True)
    ours = ours_dic(runs, "table6_vitb")
    assert _value(ours, "ACC", student="ViT-S", method="mse") == pytest.approx(0.80)
    assert _value(ours, "ACC_std", student="ViT-S", method="mse") == pytest.approx(math.sqrt(0.005))
    views = comparison_views(runs, dla_runs(), docvqa_runs(), {"table16": "synthetic", "table17": None})
    v6 = views["table6_vitb"][0]
    assert _value(v6, "ACC (ours)", student="", method="supervised") == pytest.approx(0.9)
    assert _value(v6, "ACC Δ", student="", method="supervised") == pytest.approx(0.9 - 0.8910)
    assert _value(v6, "ACC Δ", student="ViT-S", method="mse") == pytest.approx(0.80 - 0.8550)
    # the supervised ce students are not in the paper's Table 6: appended and marked
    assert set(v6.loc[~v6["in_paper"], "method"]) == {"ce"}
    v15 = views["table15"][0]
    assert _value(v15, "ACC (ours)", method="simkd_cnn") == pytest.approx(0.60)
    assert _value(v15, "ACC (ours)", method="supervised") == pytest.approx(0.60)  # the teachers' mean
    v3 = views["table3"][0]
    assert _value(v3, "mAP (ours)", dla_model="R101-FPN__R50-FPN__reviewkd") == 10.0
    v4 = views["table4_docvqa"][0]
    assert list(v4["dla_model"]) == ["none__ViT-B-FPN__supervised", "none__ViT-B-FPN__supervised", "none", "none"]
    assert _value(v4, "anls (ours)", prompt="task", dla_model="none") == pytest.approx(50.0)  # x 100
    assert _value(v4, "anls_form (ours)", prompt="task", dla_model="none") == pytest.approx(50.0)
    assert views["table17"][0]["anls (ours)"].isna().all()  # no InfographicVQA set in this preset
    assert views["table13"][0]["mAP (ours)"].isna().all()  # PRImA is not run by the embedded presets


def test_table13_compares_the_prima_runs() -> None:
    views = comparison_views(dic_runs(), dla_runs(), docvqa_runs(), {"table16": "synthetic"},
                             dla_prima_runs=dla_runs(distilled_map=30.0, supervised_map=40.0))
    v13 = views["table13"][0]
    assert _value(v13, "mAP (ours)", dla_model="R101-FPN__R50-FPN__reviewkd") == pytest.approx(30.0)
    # the paper's PRImA R101 -> R50 ReviewKD: 34.31 mAP
    assert _value(v13, "mAP Δ", dla_model="R101-FPN__R50-FPN__reviewkd") == pytest.approx(30.0 - 34.31)
    assert _value(v13, "mAP (ours)", dla_model="none__R101-FPN__supervised") == pytest.approx(40.0)
    assert _value(views["table3"][0], "mAP (ours)", dla_model="R101-FPN__R50-FPN__reviewkd") == 10.0


def test_write_comparisons_writes_csv_markdown_latex(tmp_path: Path) -> None:
    views = comparison_views(dic_runs(), dla_runs(), docvqa_runs(), {"table16": "synthetic"})
    paths = write_comparisons(views, tmp_path)
    assert len(paths) == 3 * len(PUBLISHED)
    md = (tmp_path / "table9.md").read_text()
    assert "| teacher | student | method | label | ACC (paper) | ACC (ours) | ACC Δ |" in md
    assert "| R101 |  | supervised | ResNet-101 Baseline | 0.819 | 0.900 | 0.081 |" in md
    assert "in_paper" not in md and "in_paper" in (tmp_path / "table9.csv").read_text()
    assert r"\toprule" in (tmp_path / "table3.tex").read_text()
    assert "| 73.56 | 20.00 | -53.56 |" in (tmp_path / "table3.md").read_text()


def test_published_dir_is_the_repository_folder() -> None:
    assert PUBLISHED_DIR.name == "published" and (PUBLISHED_DIR / "README.md").exists()


def _dla_runs_with_publaynet() -> pd.DataFrame:
    runs = dla_runs()
    runs["mAP_publaynet"] = [5.0 + i for i in range(len(runs))]
    runs.loc[runs["method"] == "reviewkd", "mAP_publaynet"] = float("nan")  # models without an evaluation
    return runs


def test_table3_view_shows_the_run_only_publaynet_map_next_to_the_synthetic_map(tmp_path: Path) -> None:
    assert OURS_ONLY["table3"] == ("mAP_publaynet",)
    assert "mAP_publaynet" not in load_published("table3").columns  # the paper has no such column
    views = comparison_views(dic_runs(), _dla_runs_with_publaynet(), docvqa_runs(), {"table16": "synthetic"})
    v3, caption = views["table3"]
    cols = list(v3.columns)
    assert cols[cols.index("mAP Δ") + 1:cols.index("mAP Δ") + 4] == \
        ["mAP_publaynet (paper)", "mAP_publaynet (ours)", "mAP_publaynet Δ"]
    assert cols.index("mAP_publaynet Δ") < cols.index("GFLOPs (paper)")
    assert v3["mAP_publaynet (paper)"].isna().all() and v3["mAP_publaynet Δ"].isna().all()
    assert _value(v3, "mAP_publaynet (ours)", dla_model="none__R101-FPN__supervised") == pytest.approx(6.0)
    assert _value(v3, "mAP_publaynet (ours)", dla_model="R101-FPN__R50-FPN__simkd_fpn") == pytest.approx(9.0)
    assert math.isnan(_value(v3, "mAP_publaynet (ours)", dla_model="R101-FPN__R50-FPN__reviewkd"))
    assert _value(v3, "mAP Δ", dla_model="none__R101-FPN__supervised") == pytest.approx(20.0 - 73.56)
    assert "mAP_publaynet" in caption and "PubLayNet" in caption
    assert mean_abs_difference(v3)["mAP_publaynet"] is None  # no paper value to differ from
    # the PRImA runs have no such column: Table 13 is unchanged
    assert not any(c.startswith("mAP_publaynet") for c in views["table13"][0].columns)
    write_comparisons(views, tmp_path)
    md = (tmp_path / "table3.md").read_text()
    assert "| mAP (paper) | mAP (ours) | mAP Δ | mAP_publaynet (paper) | mAP_publaynet (ours) | mAP_publaynet Δ |" in md
    assert "| 73.56 | 20.00 | -53.56 | – | 6.00 | – |" in md


def test_a_run_without_the_publaynet_column_has_no_such_view_column() -> None:
    views = comparison_views(dic_runs(), dla_runs(), docvqa_runs(), {"table16": "synthetic"},
                             dla_prima_runs=dla_runs(distilled_map=30.0, supervised_map=40.0))
    for name in ("table3", "table13"):
        view, caption = views[name]
        assert not any(c.startswith("mAP_publaynet") for c in view.columns) and "mAP_publaynet" not in caption
    # Table 13 shares the view code: a PRImA run table with the column shows it too
    prima = _dla_runs_with_publaynet()
    v13 = comparison_views(dic_runs(), dla_runs(), docvqa_runs(), {"table16": "synthetic"},
                           dla_prima_runs=prima)["table13"][0]
    assert v13["mAP_publaynet (paper)"].isna().all()
    assert _value(v13, "mAP_publaynet (ours)", dla_model="none__ViT-B-FPN__supervised") == pytest.approx(5.0)


def test_run_only_metrics_are_optional_in_the_published_csv_and_parsed_when_present(tmp_path: Path) -> None:
    header = "teacher,role,method,dla_model,Method,mAP,GFLOPs,params_M,images_per_second"
    row = "none,R50-FPN,supervised,none__R50-FPN__supervised,Supervised,72.43,33,44,12"
    (tmp_path / "table3.csv").write_text(f"{header}\n{row}\n")
    assert "mAP_publaynet" not in load_published("table3", tmp_path).columns
    (tmp_path / "table3.csv").write_text(f"{header},mAP_publaynet\n{row},88.5\n")
    assert load_published("table3", tmp_path)["mAP_publaynet"].tolist() == [88.5]
    (tmp_path / "table3.csv").write_text(f"{header},mAP_publaynet\n{row},n/a\n")
    with pytest.raises(ValueError, match=r"table3\.csv: column 'mAP_publaynet'"):
        load_published("table3", tmp_path)
    (tmp_path / "table3.csv").write_text(f"{header.replace(',GFLOPs', '')}\n{row.replace(',33', '')}\n")
    with pytest.raises(ValueError, match=r"table3\.csv.*GFLOPs"):  # the published metrics stay required
        load_published("table3", tmp_path)


def test_compare_gives_nan_paper_values_for_a_metric_the_paper_lacks() -> None:
    pub = pd.DataFrame({"method": ["a", "b"], "label": ["A", "B"], "ACC": [0.5, 0.6]})
    ours = pd.DataFrame({"method": ["a", "z"], "ACC": [0.55, 0.1], "real": [0.3, 0.2]})
    v = compare(pub, ours, ["method"], ["ACC", "real"])
    assert list(v.columns) == ["method", "label", "ACC (paper)", "ACC (ours)", "ACC Δ",
                               "real (paper)", "real (ours)", "real Δ", "in_paper"]
    assert v["real (paper)"].isna().all() and v["real Δ"].isna().all()
    assert v["real (ours)"].tolist()[0] == 0.3 and math.isnan(v["real (ours)"].iloc[1])
    assert v["real (ours)"].iloc[2] == 0.2 and not v["in_paper"].iloc[2]
