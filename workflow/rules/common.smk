# Shared set-up: validate the configuration, derive the preset's paths and helper functions.
from pathlib import Path

from distildoc import catalogue
from distildoc.config import ConfigError, validate_config
from distildoc.config_checks import check_config

try:
    CFG = check_config(validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"))
except ConfigError as err:
    raise WorkflowError(f"params.yaml / --config: {err}") from None

PRESET = CFG["name"]
DATA = f"data/{PRESET}"
RES = f"results/{PRESET}"
LOGS = f"logs/{PRESET}"
SEED = CFG["seed"]
GPUS = CFG["device"]["gpus"]
SYNTHETIC = CFG["data"]["source"] == "synthetic"

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


def synthetic_splits():
    """(dataset, split) pairs the preset generates."""
    sizes = CFG["data"]["synthetic"]
    return [(ds, split) for ds in ("rvl", "rvl_n", "tobacco") for split in sizes[ds]]


def train_resources():
    """Resources of training / LLM rules: a GPU under presets that have one."""
    return {"gpu": GPUS} if GPUS else {}
