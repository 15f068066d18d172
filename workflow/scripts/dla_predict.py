"""Snakemake script: layout predictions of one trained detector on the DocVQA stage's pages."""

from pathlib import Path

from distildoc.evaluate.detection import export_predictions
from distildoc.train.dla import load_detector, model_label_names
from distildoc.utils.io import read_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, p = snakemake.input, snakemake.params  # noqa: F821
pages = sorted({q["image_path"] for q in read_json(inp.questions)["questions"]})
model = load_detector(Path(inp.model).parent)
export_predictions(model, pages, snakemake.output[0], score_thresh=p.score_thresh,  # noqa: F821
                   label_names=model_label_names(Path(inp.model).parent))
