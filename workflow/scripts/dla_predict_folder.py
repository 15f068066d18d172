"""Snakemake script: layout predictions of one trained detector on every page image of a folder
(`dla.predict_folders`)."""

from pathlib import Path

from distildoc.train.dla import predict_folder
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, p = snakemake.input, snakemake.params  # noqa: F821
predict_folder(Path(inp.model).parent, inp.folder, snakemake.output[0], score_thresh=p.score_thresh)  # noqa: F821
