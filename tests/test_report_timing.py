"""The pipeline profile (distildoc.report.timing) reads Snakemake's own benchmark files and sums them correctly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distildoc.report.timing import profile_markdown, read_benchmarks, read_runs, stage_of, summarise

BIN = Path(sys.executable).parent
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(root: Path, rel: str, wall: float, cpu: float, rss: float = 100.0) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:00\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_sums_per_rule_and_stage_by_hand(tmp_path: Path) -> None:
    _bench(tmp_path, "dla_train/none__R101-FPN__supervised.tsv", 600, 540, rss=900)
    _bench(tmp_path, "dla_train/R101-FPN__R50-FPN__pkd.tsv", 420, 400)
    _bench(tmp_path, "dic_train_teacher/teacher_rvl_ViT-B.tsv", 300, 290)
    _bench(tmp_path, "synthetic_split/synthetic_rvl_train.tsv", 120, 60)
    jobs = read_benchmarks(tmp_path)
    assert len(jobs) == 4
    assert set(jobs["job"]) == {"none__R101-FPN__supervised", "R101-FPN__R50-FPN__pkd", "teacher_rvl_ViT-B",
                                "synthetic_rvl_train"}
    stages = summarise(jobs, "stage").set_index("stage")
    assert list(stages.index) == ["layout", "classification", "data"]  # by CPU minutes
    assert stages.loc["layout", "jobs"] == 2
    assert stages.loc["layout", "cpu_min"] == pytest.approx((540 + 400) / 60)
    assert stages.loc["layout", "wall_min"] == pytest.approx((600 + 420) / 60)
    assert stages.loc["layout", "max_job_min"] == pytest.approx(10.0)
    assert stages.loc["layout", "max_rss_mb"] == 900
    text = profile_markdown(jobs, read_runs(tmp_path / "none.tsv"), cores=2)
    # 1290 CPU-s = 21.5 CPU-min: at least 10.75 min on 2 cores
    assert "21.5 CPU-minutes" in text and "10.8 min of wall time on 2 cores" in text


def test_stage_of() -> None:
    assert [stage_of(r) for r in ("dic_train_students", "dla_eval_publaynet", "docvqa_grid", "report_claims",
                                  "synthetic_split", "export_deploy")] == \
        ["classification", "layout", "docvqa", "report", "data", "export"]


def test_runs_log(tmp_path: Path) -> None:
    (tmp_path / "make_pipeline.tsv").write_text("1000\t4600\t1\n5000\t5720\t0\n")
    runs = read_runs(tmp_path / "make_pipeline.tsv")
    assert list(runs["wall_min"]) == [60.0, 12.0]
    _bench(tmp_path, "report_results/results.tsv", 6, 3)
    text = profile_markdown(read_benchmarks(tmp_path), runs, cores=2)
    assert "60.0, 12.0 min" in text and "the last successful one took 12.0 min" in text


def test_not_a_benchmark_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "dic_tables" / "tables.tsv"
    bad.parent.mkdir()
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match=r"dic_tables/tables.tsv: not a Snakemake benchmark file.*s, cpu_time"):
        read_benchmarks(tmp_path)


def test_reads_what_snakemake_writes(tmp_path: Path) -> None:
    """A real Snakemake `benchmark:` file: a job that burns CPU shows CPU seconds close to its wall seconds."""
    (tmp_path / "Snakefile").write_text(
        'rule burn:\n'
        '    output: "done.txt"\n'
        '    benchmark: "logs/smoke/benchmarks/burn/job.tsv"\n'
        '    shell: "python -c \'import time; t = time.process_time(); exec(\\"while time.process_time() - t < 1.5: pass\\")\' && touch {output}"\n')
    res = subprocess.run([str(BIN / "snakemake"), "--cores", "1", "--quiet"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    jobs = read_benchmarks(tmp_path / "logs" / "smoke" / "benchmarks")
    assert list(jobs["rule"]) == ["burn"] and list(jobs["stage"]) == ["data"]
    assert jobs["cpu_s"].iloc[0] >= 1.0 and jobs["wall_s"].iloc[0] >= 1.4
