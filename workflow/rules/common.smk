# Shared set-up: the preset's checked settings, the plan of its DAG, helper functions.
from pathlib import Path

from distildoc import catalogue
from distildoc.config import ConfigError, read_params
from distildoc.settings import load_settings
from distildoc.workflow.plan import build_plan

# the preset validated, typed, frozen and checked (distildoc.settings, distildoc.config_checks), and the plan of its
# DAG (distildoc.workflow.plan: every job grid, path and cell the rules ask for, computed and tested outside Snakemake)
try:
    for _configfile in workflow.configfiles:  # Snakemake's loader keeps the last of a repeated key silently
        read_params(_configfile)
    SETTINGS = load_settings(config, schema_path=Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
    PLAN = build_plan(SETTINGS)  # fixture folders are looked up relative to the working directory, as jobs see them
except ConfigError as err:
    raise WorkflowError(f"params.yaml / --config: {err}") from None

PRESET = PLAN.preset
DATA, RES, LOGS, SYN = PLAN.data, PLAN.res, PLAN.logs, PLAN.syn
SEED = SETTINGS.seed
GPUS = SETTINGS.gpus
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
