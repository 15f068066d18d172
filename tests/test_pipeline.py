"""End to end: the smoke preset through Snakemake and DVC in a scratch copy of the repository, its HTML report
opened in headless Chromium, the Snakemake linter, and configuration errors that must stop the DAG before any job
runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
import yaml
from report_browser import browser_missing, inspect_report, registered_results

from distildoc.config import load_preset
from distildoc.settings import DicConfig

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# what a scratch project needs: the workflow definition (the library is installed in the venv)
PROJECT_FILES = ["Snakefile", "params.yaml", "dvc.yaml", ".dvcignore", "environment.yml", "pyproject.toml"]
PROJECT_DIRS = ["workflow", ".dvc", "src", "data/published"]


def _run(args: list[str], cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    # the whole smoke DAG (ImageNet EfficientNet teachers and students, 512 px layout models scored on real
    # pages too) takes 5-10 min on 2 idle cores and up to 25 min on shared ones
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in PROJECT_FILES:
        shutil.copy2(REPO / f, dest / f)
    for d in PROJECT_DIRS:
        shutil.copytree(REPO / d, dest / d, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache"))
    return dest


def _set_preset(project: Path, preset: str) -> None:
    params = project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("\npreset: default\n", f"\npreset: {preset}\n", 1))
    assert yaml.safe_load(params.read_text())["preset"] == preset


@pytest.fixture(scope="module")
def smoke_project(tmp_path_factory) -> Path:
    """A scratch project in which the smoke DAG has run once through Snakemake."""
    project = _copy_project(tmp_path_factory.mktemp("smoke") / "project")
    res = _run([str(BIN / "snakemake"), "--cores", "2", "all", "--config", "preset=smoke"], project)
    assert res.returncode == 0, res.stderr[-4000:]
    return project


@pytest.mark.slow
def test_smoke_dag_produces_the_data_stage(smoke_project: Path) -> None:
    summary = json.loads((smoke_project / "results/smoke/data/summary.json").read_text())
    params = load_preset(REPO / "params.yaml", "smoke")["data"]
    sizes = params["synthetic"]
    n_classes = {"rvl": 16, "rvl_n": 12, "tobacco": 10}
    expected = sum(n * n_classes[ds] for ds, splits in sizes.items() if ds in n_classes for n in splits.values())
    assert summary["totals"]["pages"] == expected
    assert summary["student_subset_train"] == 16 * params["student_subset"]["train_per_class"]
    assert (smoke_project / "results/smoke/data/synthetic_pages.png").stat().st_size > 10_000
    assert (smoke_project / "logs/smoke/data/synthetic_rvl_train.log").read_text().strip()


@pytest.mark.slow
def test_smoke_dag_produces_every_classification_cell_and_table(smoke_project: Path) -> None:
    res = smoke_project / "results/smoke"
    dic = DicConfig.from_dict(load_preset(REPO / "params.yaml", "smoke")["dic"])
    for ds in dic.datasets:
        for block in dic.grid:
            teacher = json.loads((res / f"dic/teachers/{ds}/{block.teacher}/metrics.json").read_text())
            assert teacher["role"] == "teacher" and "test" in teacher["splits"]
            for student in block.students:
                for method in [*block.methods, "ce"]:
                    t = "none" if method == "ce" else block.teacher
                    init = dic.inits(student, block)[0]  # a block may name its own inits
                    run = res / f"dic/runs/{ds}/{t}__{student}__{init}__s0/{method}"
                    m = json.loads((run / "metrics.json").read_text())
                    assert m["method"] == method and m["student"] == student
                    assert set(m["splits"]) == ({"test", "rvl_n"} if ds == "rvl" else {"test"})
                    assert (run / "logits_test.npz").is_file() and (run / "model.safetensors").is_file()
    tables = {p.name for p in (res / "tables/dic").iterdir()}
    for stem in ("table6", "table9", "table10_r101", "table11_vitb", "table12_ditb", "table15", "table18", "table19"):
        assert {f"{stem}.csv", f"{stem}.md", f"{stem}.tex"} <= tables, stem


@pytest.mark.slow
def test_smoke_dag_produces_table3_and_layout_predictions(smoke_project: Path) -> None:
    res = smoke_project / "results/smoke"
    table = (res / "tables/dla/table3.csv").read_text().splitlines()
    assert table[0].startswith("Teacher,Student,Method,mAP,FLOPs (G),Params (M),Im/s")
    assert len(table) == 1 + 8 + 2  # the paper's 8 rows + PKD (beyond the paper) on both pairs
    for row in table[1:]:
        assert "nan" not in row.lower(), row
    preds = sorted((res / "dla/predictions").glob("*.json"))
    assert len(preds) == 10
    questions = json.loads((res / "docvqa/questions.json").read_text())["questions"]
    obj = json.loads(preds[0].read_text())
    assert obj["format"] == "distildoc-dla-predictions/v1"
    assert {Path(q["image_path"]).name for q in questions} == {im["file_name"] for im in obj["images"]}


@pytest.mark.slow
def test_second_run_has_nothing_to_do(smoke_project: Path) -> None:
    res = _run([str(BIN / "snakemake"), "--cores", "2", "-n", "all", "--config", "preset=smoke"], smoke_project)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Nothing to be done" in res.stdout + res.stderr


@pytest.mark.slow
def test_dvc_repro_then_up_to_date(smoke_project: Path) -> None:
    assert _run(["git", "init", "-q"], smoke_project).returncode == 0
    _set_preset(smoke_project, "smoke")
    first = _run([str(BIN / "dvc"), "repro"], smoke_project)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert (smoke_project / "dvc.lock").is_file()
    second = _run([str(BIN / "dvc"), "repro"], smoke_project)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Data and pipelines are up to date" in second.stdout, second.stdout
    metrics = _run([str(BIN / "dvc"), "metrics", "show", "--json"], smoke_project)
    assert metrics.returncode == 0 and "totals" in metrics.stdout


@pytest.mark.slow
def test_html_report_opens_in_headless_chromium(smoke_project: Path, tmp_path: Path) -> None:
    """`make report-html`'s command on the smoke run, then the report page as people open it (tests/report_browser.py):
    no console error, every category in the menu, every result the workflow registers with report(...) listed under
    its category and shown by its eye button (tables with all their CSV's rows and columns, figures with a non-zero
    natural size); screenshots to $DISTILDOC_TEST_ARTIFACTS (else pytest's tmp dir)."""
    missing = browser_missing()
    if missing:
        if os.environ.get("DISTILDOC_REQUIRE_CHROMIUM"):  # `make test`: browser-deps installs it, so never skip
            pytest.fail(f"{missing} (make browser-deps)")
        pytest.skip(missing)
    report = Path("results/smoke/report/report.html")
    res = _run([str(BIN / "snakemake"), "--cores", "1", "all", "--report", str(report), "--config", "preset=smoke"],
               smoke_project, timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    registered = registered_results(smoke_project, "smoke")
    by_path = {r["path"]: r for r in registered}
    # a CSV (or any other download-only type) would not render in the report: register its HTML page instead
    # (report.smk, REPORT_TABLE_PAGES)
    odd = sorted(p for p in by_path if Path(p).suffix not in (".html", ".png"))
    assert not odd, f"registered for the report but shown there only as a download: {odd}"

    artifacts = Path(os.environ.get("DISTILDOC_TEST_ARTIFACTS") or tmp_path) / "report_html"
    view = inspect_report(smoke_project / report, artifacts)
    print("report screenshots:", *view.screenshots, sep="\n  ")
    assert not view.console_errors, "\n".join(view.console_errors)
    assert set(view.results) == set(by_path), "the report embeds other results than the workflow registers"
    categories = {r["category"] for r in registered}
    assert set(view.categories) == categories
    assert categories <= set(view.menu), view.menu
    listing = defaultdict(list)
    for r in registered:
        listing[f"{r['category']} / {r['subcategory'] or 'Other'}"].append(r["path"])
    assert {k: sorted(v) for k, v in view.listed.items()} == {k: sorted(v) for k, v in listing.items()}
    assert sorted(o.path for o in view.opened) == sorted(by_path), "not every listed result opened"

    tables = figures = 0
    for opened in view.opened:
        if opened.path.endswith(".png"):
            figures += 1
            assert opened.kind == "img" and min(opened.natural_size) > 0, opened
        else:  # results/smoke/report/html/<name>.html shows results/smoke/report/<name>.csv
            tables += 1
            csv = smoke_project / (opened.path.replace("/report/html/", "/report/", 1).removesuffix(".html") + ".csv")
            frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
            assert opened.kind == "html", opened
            assert (opened.table_rows, opened.table_columns) == frame.shape, (opened, csv)
            assert opened.empty_note == frame.empty, opened
    assert (tables, figures) == (sum(p.endswith(".html") for p in by_path), sum(p.endswith(".png") for p in by_path))
    print(f"report: {len(categories)} categories, {tables} tables and {figures} figures rendered; empty tables: "
          f"{[o.path for o in view.opened if o.empty_note]}")


def test_snakemake_lint_is_clean() -> None:
    res = _run([str(BIN / "snakemake"), "--lint"], REPO, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Lints for" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda c: c["presets"]["smoke"]["data"].update(synthtic={}), "presets.smoke.data.synthtic"),
        (lambda c: c.update(prest="smoke"), "prest"),
        (lambda c: c["presets"]["smoke"].update(seed="zero"), "presets.smoke.seed"),
        (lambda c: c.update(preset="smok"), "allowed values: smoke, default, paper"),
    ],
    ids=["misspelled-nested-key", "misspelled-top-key", "wrong-type", "unknown-preset"],
)
def test_bad_config_fails_before_any_job(tmp_path: Path, mutate, expected: str) -> None:
    project = tmp_path / "p"
    project.mkdir()
    for f in ("Snakefile",):
        shutil.copy2(REPO / f, project / f)
    shutil.copytree(REPO / "workflow", project / "workflow")
    config = yaml.safe_load((REPO / "params.yaml").read_text())
    config["preset"] = "smoke"
    mutate(config)
    (project / "params.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    res = _run([str(BIN / "snakemake"), "--cores", "1", "all"], project, timeout=120)
    assert res.returncode != 0
    assert expected in res.stderr + res.stdout
    assert not (project / "data").exists() and not (project / "results").exists()
