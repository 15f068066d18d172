"""Snakemake script: parameters, FLOPs and images/s of every trained layout detector, side by side, timed on
the evaluation pages."""

from pathlib import Path

from distildoc.train.dla import measure_dla_models
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
dirs = [Path(m).parent for m in snakemake.input.models]  # noqa: F821
result = measure_dla_models(dirs, snakemake.params.efficiency, eval_ann=snakemake.input.val,  # noqa: F821
                            images_root=snakemake.params.images_root)  # noqa: F821
write_json(snakemake.output[0], result)  # noqa: F821
