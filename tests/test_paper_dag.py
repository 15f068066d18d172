"""The `paper` preset's DAG builds end to end (dry-run, nothing downloaded): downloads -> conversions -> DIC
grid -> DLA grid on DocLayNet and PRImA -> DocVQA (SP-DocVQA + InfographicVQA) -> report. And the embedded
presets' DAG has none of the paper-only rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_pipeline import BIN, _copy_project, _run

pytestmark = pytest.mark.slow  # builds the paper DAG with Snakemake subprocesses

PAPER_RULES = {  # rule -> jobs in the paper DAG
    "report_results": 1,
    "download": 4,  # rvl_cdip_n, tobacco3482, doclaynet, prima
    "download_rvl_cdip": 1,
    "download_docvqa": 1,
    "download_infographicvqa": 1,
    "student_subset": 1,
    "rvl_cdip_n_labels": 1,
    "tobacco3482_labels": 1,
    "layout_convert": 2,  # doclaynet, prima
    "dic_decode_rvl": 1,
    "dic_decode_rvl_n": 1,
    "dic_decode_tobacco": 1,
    "dic_train_teacher": 6,
    "dic_train_students": 38,
    "dic_tables": 1,
    "dla_split": 1,
    "dla_train": 10,  # 4 supervised + 2 pairs x (SimKD, ReviewKD, PKD)
    "dla_efficiency": 1,
    "dla_split_extra": 1,
    "dla_train_extra": 10,
    "dla_efficiency_extra": 1,
    "dla_tables": 1,
    "dla_predict": 10,
    "docvqa_select": 1,
    "docvqa_select_extra": 1,
    "docvqa_dla_predict_extra": 10,
    "docvqa_grid": 2,
    "docvqa_tables": 1,
    "report_tables": 1,
    "report_compare": 1,
    "report_claims": 1,
    "report_html_tables": 1,
    "report_figures_dic": 1,
    "report_figures_dla": 1,
    "all": 1,
}
PAPER_ONLY = {"download", "download_rvl_cdip", "download_docvqa", "download_infographicvqa", "rvl_cdip_n_labels",
              "tobacco3482_labels", "layout_convert", "dla_split_extra", "dla_train_extra", "dla_efficiency_extra"}


def _job_counts(text: str) -> dict[str, int]:
    """The first `Job stats` table of a dry-run: rule -> count."""
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return _copy_project(tmp_path_factory.mktemp("paper_dag") / "project")


def test_paper_dag_builds_end_to_end(scratch: Path) -> None:
    res = _run([str(BIN / "snakemake"), "-n", "all", "--config", "preset=paper"], scratch, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    counts = _job_counts(out)
    assert counts == PAPER_RULES, {k: (counts.get(k), PAPER_RULES.get(k)) for k in set(counts) | set(PAPER_RULES)
                                   if counts.get(k) != PAPER_RULES.get(k)}
    assert not (scratch / "data" / "raw").exists() and not (scratch / "results").exists()


def test_paper_dag_outputs(scratch: Path) -> None:
    res = _run([str(BIN / "snakemake"), "--cores", "1", "--summary", "all", "--config", "preset=paper"], scratch,
               timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    rule_of = {}
    for line in res.stdout.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 2:
            rule_of[cols[0]] = cols[2]
    expected = {
        "data/paper/labels/rvl_n_test.txt": "rvl_cdip_n_labels",
        "data/paper/rvl_cdip_n": "rvl_cdip_n_labels",
        "data/paper/labels/tobacco_test.txt": "tobacco3482_labels",
        "data/raw/doclaynet/layout/train.json": "layout_convert",
        "data/raw/prima/layout/val.json": "layout_convert",
        "data/raw/docvqa/DocVQA/documents_content.jsonl": "download_docvqa",
        "data/raw/infographicvqa/InfographicsVQA/documents_content.jsonl": "download_infographicvqa",
        # Table 3 keeps the embedded presets' paths; PRImA gets a dataset level
        "results/paper/dla/models/none__ViT-B-FPN__supervised/model.pt": "dla_train",
        "results/paper/dla/prima/models/none__ViT-B-FPN__supervised/model.pt": "dla_train_extra",
        "results/paper/dla/prima/models/ViT-B-FPN__ViT-T-FPN__reviewkd/metrics.json": "dla_train_extra",
        "results/paper/dla/prima/data/train.json": "dla_split_extra",
        "results/paper/dla/prima/efficiency.json": "dla_efficiency_extra",
        "results/paper/metrics/dla_runs.csv": "dla_tables",
        "results/paper/metrics/dla_prima_runs.csv": "dla_tables",
        "results/paper/tables/dla": "dla_tables",  # table3.* and table13.*
        "results/paper/docvqa/infographicvqa/grid.json": "docvqa_grid",
        "results/paper/tables/docvqa/table17.csv": "docvqa_tables",
        "results/paper/report/compare/table13.csv": "report_compare",
    }
    assert {k: rule_of.get(k) for k in expected} == expected


def test_embedded_dag_has_no_paper_only_rule(tmp_path: Path) -> None:
    project = _copy_project(tmp_path / "project")
    res = _run([str(BIN / "snakemake"), "-n", "all", "--config", "preset=smoke"], project, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    counts = _job_counts(res.stdout + res.stderr)
    assert not PAPER_ONLY & set(counts), counts
    assert counts["dla_train"] == 10 and counts["dla_tables"] == 1 and counts["dic_decode_rvl_n"] == 1
