"""The generated results page and its copy into README.md (workflow/scripts/readme_results.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from report_helpers import dic_runs, dla_runs, docvqa_runs

from distildoc.report.claims import check_claims
from distildoc.report.dic_stats import kd_vs_supervised, knowledge_gap
from distildoc.report.paper import claim_tables_ours, claim_tables_published
from distildoc.report.results_page import (BEGIN, END, drop_sections, replace_block, results_page, shift_headings,
                                           write_results_page)

ROOT = Path(__file__).resolve().parents[1]


def _inputs():
    runs = dic_runs()
    kd = kd_vs_supervised(runs, pages=False)
    gap = knowledge_gap(runs, kd, pages=False)
    claims = check_claims(claim_tables_ours(runs, dla_runs(), docvqa_runs()), claim_tables_published())
    return runs, kd, gap, claims


def test_results_page_sections_come_from_the_frames() -> None:
    runs, kd, gap, claims = _inputs()
    page = results_page("smoke", runs, kd, gap, claims, "Table 3: layout.\n\n| a |\n|---:|\n| 1 |\n")
    heads = [ln for ln in page.splitlines() if ln.startswith("#")]
    assert heads == ["# Results: `smoke` preset", "## Teachers", "## Knowledge gap", "## KD vs the supervised student",
                     "## The paper's claims", "## Layout analysis (Table 3)"]
    assert "| rvl | ViT-B | 0.900 | 0.600 | 1 |" in page  # teacher: test and RVL-CDIP-N accuracy, one run
    assert "no page bootstrap (no per-page logits)" in page
    # every KD method 0.05 above ce (0.70) with one seed each and no page bootstrap: no interval, n/a
    assert "- `rvl`, pretrained init: 35 comparisons (up to 1 / 1 seeds KD / CE): 35 n/a" in page
    assert "| rvl | pretrained | ViT-B | ViT-S | Vanilla [τ=2.5, α=0.5] | 0.750 | 0.700 | 1/1 | 0.050 | – | – | n/a |" \
        in page
    # knowledge gap: teacher 0.9, ce 0.7, best KD 0.75: a quarter of the gap closed
    assert "| rvl | pretrained | ViT-B | ViT-S | 0.900 | 0.700 | CE [DistilDoc code: KD τ=1, α=0.5] | 0.750 | 0.200 | " \
           "0.250 | – |" in page
    assert "| kd_beats_supervised |" in page and "| Claim | This run's evidence | This run | Judged on | " \
           "Paper's numbers |" in page
    assert page.rstrip().endswith("| 1 |")
    assert "Layout analysis" not in results_page("smoke", runs, kd, gap, claims, None)


def test_write_results_page_reads_the_csvs(tmp_path: Path) -> None:
    runs, kd, gap, claims = _inputs()
    for name, frame in (("runs", runs), ("kd", kd), ("gap", gap), ("claims", claims)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    (tmp_path / "dla").mkdir()
    (tmp_path / "dla" / "table3.md").write_text("Table 3.\n\n| x |\n|---:|\n| 2 |\n")
    out = write_results_page(tmp_path / "results.md", "smoke", tmp_path / "runs.csv", tmp_path / "kd.csv",
                             tmp_path / "gap.csv", tmp_path / "claims.csv", tmp_path / "dla")
    text = out.read_text()
    assert text == results_page("smoke", runs, kd, gap, claims, "Table 3.\n\n| x |\n|---:|\n| 2 |\n")
    assert "35 n/a" in text  # the verdict "n/a" survives the CSV round trip (pandas would read it as missing)
    assert "| 2 |" in text and "| nan" not in text.lower()  # missing values as –, never "nan"


def test_drop_sections() -> None:
    text = "# T\n\n## A\n\na\n\n### A1\n\na1\n\n```\n## not a heading\n```\n\n## B\n\nb\n\n#### B1\n\nb1\n"
    out = drop_sections(text, ["A"], " (see full)")
    assert out == "# T\n\n*A* (see full)\n\n## B\n\nb\n\n#### B1\n\nb1\n"  # A's subsection and fenced code go too
    assert drop_sections(text, ["B1"]) == text.replace("#### B1\n\nb1\n", "*B1*\n\n")
    with pytest.raises(ValueError, match=r"no heading starts with \['C'\]"):
        drop_sections(text, ["A", "C"])


def test_replace_block_and_heading_shift() -> None:
    doc = f"# Title\n\nintro\n\n## Results\n\n{BEGIN}\nold stuff\n{END}\n\n## After\n"
    page = "# Results: `default` preset\n\ntext\n\n## Teachers\n\n```\n# not a heading\n```\n"
    out = replace_block(doc, page)
    assert out.startswith("# Title\n\nintro\n\n## Results\n\n" + BEGIN + "\n## Results: `default` preset\n")
    assert "### Teachers" in out and "# not a heading" in out and "old stuff" not in out
    assert out.endswith(f"{END}\n\n## After\n")
    assert replace_block(out, page) == out  # idempotent
    assert shift_headings("###### deep\n", 2) == "###### deep\n"
    with pytest.raises(ValueError, match=r"README\.md: expected one '<!-- results:begin -->'.*found 0 and 0"):
        replace_block("# no markers\n", page)
    with pytest.raises(ValueError, match="comes before"):
        replace_block(f"{END}\n{BEGIN}\n", page)


def _readme_script():
    spec = importlib.util.spec_from_file_location("readme_results", ROOT / "workflow" / "scripts" / "readme_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_results_script(tmp_path: Path, capsys) -> None:
    mod = _readme_script()
    readme, page, full = tmp_path / "README.md", tmp_path / "results.md", tmp_path / "full.md"
    page.write_text("# Results: `default` preset\n\nnumbers\n")
    readme.write_text(f"# X\n\n{BEGIN}\n{END}\n")
    assert mod.main(["--readme", str(readme), "--page", str(page), "--preset", "none", "--full", str(full)]) == 0
    assert readme.read_text() == f"# X\n\n{BEGIN}\n## Results: `default` preset\n\nnumbers\n{END}\n"
    assert full.read_text().endswith("# Results: `default` preset\n\nnumbers\n")
    profile = tmp_path / "profile.md"
    profile.write_text("70 jobs\n\n### Per stage\n")
    assert mod.main(["--readme", str(readme), "--page", str(page), "--profile", str(profile), "--full", str(full)]) == 0
    assert readme.read_text() == (f"# X\n\n{BEGIN}\n## Results: `default` preset\n\nnumbers\n\n"
                                  f"### What this run cost\n\n70 jobs\n\n#### Per stage\n{END}\n")
    # the long per-method tables stay on the full page; the README block names them and links it
    page.write_text("# Results\n\n## Teachers\n\nT\n\n## KD vs the supervised student\n\n| kd |\n\n### sub\n\nS\n\n"
                    "## Layout\n\nL\n")
    assert mod.main(["--readme", str(readme), "--page", str(page), "--full", str(full)]) == 0
    block = readme.read_text().split(BEGIN)[1].split(END)[0]
    assert "| kd |" not in block and "S\n" not in block and "T\n" in block and "L\n" in block
    assert f"*KD vs the supervised student*: every row in [{full.as_posix()}]({full.as_posix()})" in block
    assert "| kd |" in full.read_text() and "### sub" in full.read_text()
    with pytest.raises(SystemExit, match="missing.md: no such profile"):
        mod.main(["--readme", str(readme), "--page", str(page), "--profile", str(tmp_path / "missing.md")])
    readme.write_text("# X, no markers\n")
    with pytest.raises(SystemExit, match="README.md: expected one"):
        mod.main(["--readme", str(readme), "--page", str(page)])
    with pytest.raises(SystemExit, match="no results page"):
        mod.main(["--readme", str(readme), "--page", str(tmp_path / "missing.md")])


def test_results_page_calibration_section(tmp_path: Path) -> None:
    """The calibration section renders calibration_gap.csv as written by the dic stage (read back from CSV)."""
    from distildoc.report.calibration import calibration_gap, calibration_table

    runs, kd, gap, claims = _inputs()
    table = calibration_table(runs)
    cal = calibration_gap(table)
    (tmp_path / "dic").mkdir()
    cal.to_csv(tmp_path / "dic" / "calibration_gap.csv", index=False)
    for name, frame in (("runs", runs), ("kd", kd), ("gap", gap), ("claims", claims)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    out = write_results_page(tmp_path / "results.md", "smoke", tmp_path / "runs.csv", tmp_path / "kd.csv",
                             tmp_path / "gap.csv", tmp_path / "claims.csv", None, tmp_path / "dic")
    page = out.read_text()
    heads = [ln for ln in page.splitlines() if ln.startswith("#")]
    assert heads[-2:] == ["## Calibration before and after temperature scaling", "## The paper's claims"]
    section = page.split("## Calibration before and after temperature scaling", 1)[1].split("## The paper's", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| rvl")]
    assert len(rows) == len(cal) > 0
    first = cal.iloc[0]
    assert rows[0].startswith(f"| {first['dataset']} | {first['init']} | {first['teacher']} | {first['student']} | "
                              f"{first['method']} | {first['ece_ce']:.3f} | {first['ece']:.3f} |")
    assert "| nan" not in section.lower()
