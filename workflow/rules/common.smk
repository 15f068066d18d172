# Shared set-up: validate the configuration, derive the preset's paths and helper functions.
from pathlib import Path

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
