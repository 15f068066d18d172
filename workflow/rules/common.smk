# Shared set-up: validate the configuration, derive the preset's paths and helper functions.
from pathlib import Path

from distildoc import catalogue
from distildoc.config import ConfigError, validate_config
from distildoc.config_checks import check_config
from distildoc.workflow.plan import build_plan

# the validated preset and the plan of its DAG (distildoc.workflow.plan: every job grid, path and cell the rules
# ask for, computed and tested outside Snakemake)
try:
    CFG = check_config(validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"))
    PLAN = build_plan(CFG)  # fixture folders are looked up relative to the working directory, as jobs see them
except ConfigError as err:
    raise WorkflowError(f"params.yaml / --config: {err}") from None

PRESET = PLAN.preset
DATA, RES, LOGS, SYN = PLAN.data, PLAN.res, PLAN.logs, PLAN.syn
SEED = CFG["seed"]
GPUS = CFG["device"]["gpus"]
SYNTHETIC = PLAN.synthetic

# wildcard patterns of the catalogue's roles and method keys (distildoc.catalogue; dic.smk, dla.smk)
NAMES = catalogue.schema_enums()
WILDCARDS = {
    "teacher": catalogue.pattern(NAMES["dic_teachers"]),
    "pteacher": catalogue.pattern(NAMES["dic_teachers"], "none"),
    "student": catalogue.pattern(NAMES["dic_students"]),
    "dla_role": catalogue.pattern(NAMES["dla_roles"]),
    "dla_method": catalogue.pattern(catalogue.keys(catalogue.DETECTION)),  # with "supervised"
    "dla_teacher": catalogue.pattern(NAMES["dla_teachers"], "none"),
}

# the software environment of every rule (pyproject.toml pins, installed by pip)
ENV = "../../environment.yml"

# every stage appends its final targets here; `rule all` asks for them all
ALL_TARGETS = []


def train_resources():
    """Resources of training / LLM rules: a GPU under presets that have one."""
    return {"gpu": GPUS} if GPUS else {}
