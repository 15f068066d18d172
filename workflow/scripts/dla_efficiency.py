"""Snakemake script: parameters, FLOPs and images/s of every trained layout detector, side by side."""

from pathlib import Path

from distildoc.train.dla import measure_dla_models
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
dirs = [Path(m).parent for m in snakemake.input.models]  # noqa: F821
write_json(snakemake.output[0], measure_dla_models(dirs, snakemake.params.efficiency))  # noqa: F821
