"""Snakemake script: one trained layout model on the real PubLayNet pages (`dla.real_eval.publaynet`):
its DocLayNet predictions (`distildoc.train.dla.predict_folder`), mapped to PubLayNet's classes with list items
merged, scored with COCO bbox mAP (`distildoc.evaluate.publaynet.evaluate_publaynet`)."""

from pathlib import Path

from distildoc.evaluate.publaynet import evaluate_publaynet
from distildoc.train.dla import predict_folder
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
model_dir = Path(inp.model).parent
predictions = predict_folder(model_dir, inp.folder, out.predictions, score_thresh=p.score_thresh)
result = evaluate_publaynet(predictions, inp.gt, where=out.predictions)
write_json(out.metrics, {"model": model_dir.name, "fixture": inp.folder, "ground_truth": inp.gt,
                         "predictions": out.predictions, **result})
