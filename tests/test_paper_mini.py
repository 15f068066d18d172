"""The `paper` preset run for real, on a miniature of its own inputs (`paper_mini`, tests/paper_mini/).

Every download (pooch through a loopback mirror at the registry's paths, checksums from a registry override),
conversion, hub checkpoint (tiny models of the same classes in an offline hub cache under the paper's hub ids)
and rule of the paper DAG executes on CPU, from the downloads to the report. The 4-bit Llama reader needs CUDA
(bitsandbytes NF4): `paper_mini` loads the same hub id unquantised on CPU, the only reader difference.

Run the DAG by hand: ``python tests/paper_mini/run.py /tmp/paper_mini`` (docs/paper_mini.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from paper_mini.run import PRESET, prepare, run_snakemake
from test_paper_dag import PAPER_RULES, _job_counts
from test_pipeline import REPO, _copy_project

SCRIPTS = REPO / "workflow" / "scripts"
RES = Path("results") / PRESET


def test_rule_scripts_run_under_snakemake() -> None:
    """Snakemake prepends its preamble to a `script:`: a `from __future__` import there is a SyntaxError (the
    paper's download rule failed so before it ever ran)."""
    rules_text = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    scripts = set(re.findall(r'"\.\./scripts/([\w.]+\.py)"', rules_text))
    assert "download_dataset.py" in scripts and len(scripts) > 20
    offenders = [s for s in sorted(scripts) if "from __future__" in (SCRIPTS / s).read_text()]
    assert not offenders, offenders


def test_a_failing_rule_script_writes_its_error_into_the_rule_log(tmp_path: Path) -> None:
    """Snakemake says 'check log file(s) for error details': the exception must be there (it went to stderr only)."""
    import subprocess
    import sys

    code = ("from distildoc.utils.runtime import setup_logging\n"
            f"setup_logging({str(tmp_path / 'rule.log')!r})\n"
            "raise RuntimeError('sha256 mismatch for x.tar.gz: expected abc')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    text = (tmp_path / "rule.log").read_text()
    assert "RuntimeError: sha256 mismatch for x.tar.gz: expected abc" in text and "Traceback" in text
    assert "sha256 mismatch for x.tar.gz" in res.stderr


@pytest.fixture(scope="module")
def mini(tmp_path_factory, realdata) -> dict:
    """The paper_mini DAG run once, end to end, with one core. ``DISTILDOC_PAPER_MINI_DIR=<folder>`` keeps the
    scratch folder there instead (a later run continues where this one stopped)."""
    keep = os.environ.get("DISTILDOC_PAPER_MINI_DIR")
    dest = Path(keep) if keep else tmp_path_factory.mktemp("paper_mini")
    t0 = time.time()
    paths = prepare(dest)
    fresh = not (paths["project"] / "results").exists()
    t1 = time.time()
    # ~12 min on one idle core; far longer on a loaded machine
    res = run_snakemake(paths, ["--cores", "1", "--rerun-incomplete", "all"], timeout=5400)
    out = res.stdout + res.stderr
    (dest / "snakemake.log").write_text(out)
    assert res.returncode == 0, out[-6000:]
    print(f"paper_mini: prepared in {t1 - t0:.0f} s, DAG {time.time() - t1:.0f} s")
    return {**paths, "out": out, "dag_seconds": time.time() - t1, "fresh": fresh}


@pytest.mark.slow
@pytest.mark.paper_mini
def test_every_paper_rule_ran(mini: dict) -> None:
    if mini["fresh"]:  # a kept folder's later run (DISTILDOC_PAPER_MINI_DIR) has only the rest to do
        counts = _job_counts(mini["out"])
        assert counts == PAPER_RULES, {k: (counts.get(k), PAPER_RULES.get(k)) for k in set(counts) | set(PAPER_RULES)
                                       if counts.get(k) != PAPER_RULES.get(k)}
    # Snakemake's summary: every output of the DAG present and up to date, made by every rule of the paper DAG
    res = run_snakemake(mini, ["--cores", "1", "--summary", "all"], timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    rows = [line.split("\t") for line in res.stdout.splitlines()[1:] if line.count("\t") > 3]
    assert rows
    made_by = {cols[2] for cols in rows}
    assert made_by == set(PAPER_RULES) - {"all"}, set(PAPER_RULES) ^ made_by
    stale = [(cols[0], cols[-2], cols[-1]) for cols in rows if (cols[-2], cols[-1]) != ("ok", "no update")]
    assert not stale, stale[:10]
    again = run_snakemake(mini, ["--cores", "1", "-n", "all"], timeout=600)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
@pytest.mark.paper_mini
def test_every_paper_table_has_rows(mini: dict) -> None:
    res = mini["project"] / RES
    gathered = sorted((res / "report" / "tables").glob("*.csv"))
    names = {p.stem for p in gathered}
    for t in ("dic_table6", "dic_table9", "dic_table15", "dic_table18", "dic_table19", "dla_table3", "dla_table13",
              "docvqa_table4", "docvqa_table16", "docvqa_table17"):
        assert t in names, (t, names)
    for path in gathered:  # a table a stage did not write is gathered as a one-column note: none here
        assert list(pd.read_csv(path).columns) != ["note"], path
    tables = gathered + sorted((res / "tables").rglob("*.csv")) + sorted((res / "report" / "compare").glob("*.csv"))
    for path in tables:
        df = pd.read_csv(path)
        assert len(df) > 0, f"{path} has no rows"
    # the PRImA (Table 13) and InfographicVQA (Table 17) branches produced numbers of this run
    t13 = pd.read_csv(res / "tables" / "dla" / "table13.csv")
    assert len(t13) == 8 + 2 and t13["mAP"].notna().all()
    t17 = pd.read_csv(res / "tables" / "docvqa" / "table17.csv")
    assert len(t17) > 0 and t17.select_dtypes("number").notna().any().any()
    runs = pd.read_csv(res / "metrics" / "docvqa_runs.csv")
    assert set(runs["dataset"]) == {"docvqa", "infographicvqa"}


@pytest.mark.slow
@pytest.mark.paper_mini
def test_paper_code_paths_were_the_ones_run(mini: dict) -> None:
    """The hub ids resolved to the tiny checkpoints (paper classes), the downloads came through the mirror with
    the override's checksums, and the reader was the paper's checkpoint id on CPU."""
    project = mini["project"]
    art = json.loads((project / RES / "dic/teachers/rvl/DiT-B/artefact.json").read_text())
    assert art["model_spec"]["source"] == "hf" and art["model_spec"]["name"] == "."
    assert (project / RES / "dic/teachers/rvl/DiT-B/config.json").is_file()
    assert json.loads((project / RES / "dic/teachers/rvl/DiT-B/config.json").read_text())["model_type"] == "beit"
    override = json.loads(mini["override"].read_text())
    for name in ("rvl_cdip", "docvqa", "doclaynet"):
        marker = json.loads((project / "data/raw" / name / ".complete").read_text())
        assert marker["mirror"].startswith("http://127.0.0.1:") and marker["registry_override"] == str(mini["override"])
        for record in (project / "data/raw" / name / ".downloads").glob("*.json"):
            rec = json.loads(record.read_text())
            assert rec["sha256"] == override[name][rec["filename"]]["sha256"]
    for dataset in ("docvqa", "infographicvqa"):
        grid = json.loads((project / RES / "docvqa" / dataset / "grid.json").read_text())
        assert grid["reader"]["model"] == "NousResearch/Llama-2-7b-chat-hf" and grid["reader"]["backend"] == "transformers"
        # the layout models' boxes reached the prompts (Algorithm 1's tags): DLA prompts differ from the plain ones
        assert grid["n_generated"] > 4 * grid["n_questions"], grid




@pytest.mark.slow
def test_corrupted_archive_stops_the_download_and_keeps_what_came_before(tmp_path: Path, realdata) -> None:
    paths = prepare(tmp_path, hub=False)
    project = paths["project"]
    raw = project / "data" / "raw" / "docvqa"
    bad = paths["mirror"] / "docvqa" / "spdocvqa_ocr.tar.gz"
    good = bad.read_bytes()
    expected = hashlib.sha256(good).hexdigest()
    assert json.loads(paths["override"].read_text())["docvqa"]["spdocvqa_ocr.tar.gz"]["sha256"] == expected
    bad.write_bytes(good[:-8] + bytes(8))  # same size, other bytes: only the checksum can tell

    res = run_snakemake(paths, ["--cores", "1", "--keep-going", "data/raw/tobacco3482/.complete",
                              "data/raw/docvqa/.complete"],
                        timeout=600)
    assert res.returncode != 0
    log = (project / "logs/download/docvqa.log").read_text()
    assert "sha256 mismatch for spdocvqa_ocr.tar.gz" in log and f"expected {expected}" in log, log[-3000:]
    assert "Error in rule download_docvqa" in res.stdout + res.stderr
    # what was downloaded before stays: the other dataset, and this dataset's files fetched before the bad one
    assert (project / "data/raw/tobacco3482/.complete").is_file()
    assert (raw / "spdocvqa_qas" / "val_v1.0_withQT.json").is_file() and any((raw / "spdocvqa_images").iterdir())
    records = sorted(p.name for p in (raw / ".downloads").glob("*.json"))
    assert records == ["spdocvqa_images.tar.gz.json", "spdocvqa_qas.zip.json"]
    assert not (raw / ".complete").exists() and not (raw / "spdocvqa_ocr.tar.gz").exists()
    assert not (raw / "spdocvqa_ocr").exists()

    bad.write_bytes(good)  # the mirror repaired: the rerun fetches the rest only
    qas_mtime = (raw / "spdocvqa_qas" / "val_v1.0_withQT.json").stat().st_mtime_ns
    res = run_snakemake(paths, ["--cores", "1", "data/raw/docvqa/.complete"], timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert (raw / "DocVQA" / "documents_content.jsonl").is_file() and (raw / "spdocvqa_ocr").is_dir()
    assert (raw / "spdocvqa_qas" / "val_v1.0_withQT.json").stat().st_mtime_ns == qas_mtime
    assert "already downloaded" in (project / "logs/download/docvqa.log").read_text()
