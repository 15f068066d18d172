"""dvc.yaml against the Snakemake rules: each DVC stage runs one Snakemake target, so every script a rule
of that stage's rule files runs must be a dependency of the stage (otherwise `dvc repro` misses a change
to it). Fails when a rule gains a script that dvc.yaml does not list."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: rule files outside every DVC stage: opt-in targets that `all` never runs
OPT_IN_RULE_FILES = {"workflow/rules/real_teacher.smk", "workflow/rules/export.smk"}


def _scripts_of(rule_file: Path) -> set[str]:
    text = rule_file.read_text()
    return {f"workflow/scripts/{m}" for m in re.findall(r'script:\s*\n\s*(?:f?)"\.\./scripts/([\w.]+)"', text)}


def test_every_rule_script_is_a_dependency_of_its_stage() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    rule_files = {str(p.relative_to(ROOT)) for p in (ROOT / "workflow/rules").glob("*.smk")}
    covered: set[str] = set()
    problems = []
    for name, stage in stages.items():
        deps = {str(d) for d in stage.get("deps", [])}
        for rf in sorted(d for d in deps if d in rule_files):
            covered.add(rf)
            missing = sorted(_scripts_of(ROOT / rf) - deps)
            if missing:
                problems.append(f"dvc.yaml stage {name!r}: {rf} runs {missing}, not in its deps")
    assert not problems, "\n".join(problems)
    # every rule file belongs to a stage (common files are listed by the stages that use them)
    orphans = sorted(rule_files - covered - OPT_IN_RULE_FILES)
    assert not orphans, f"rule files in no dvc.yaml stage: {orphans}"


def test_the_scripts_parser_sees_the_scripts() -> None:
    scripts = _scripts_of(ROOT / "workflow/rules/data.smk")
    assert {"workflow/scripts/generate_synthetic.py", "workflow/scripts/download_dataset.py",
            "workflow/scripts/layout_convert.py"} <= scripts
