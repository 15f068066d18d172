"""Snakemake script: one ONNX layout model (`distildoc.models.detection.onnx_teachers`) on the real PubLayNet
pages: its DocLayNet predictions, mapped to PubLayNet's classes and scored
(`distildoc.evaluate.publaynet.evaluate_publaynet`), as rule dla_eval_publaynet does for trained models."""

from distildoc.evaluate.publaynet import evaluate_publaynet
from distildoc.models.detection.onnx_teachers import export_onnx_predictions, load_onnx_teacher
from distildoc.train.dla import folder_images
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p, wc = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards  # noqa: F821
teacher = load_onnx_teacher(wc.rt_onnx, score_thresh=p.score_thresh, nms_thresh=p.nms_thresh,
                            threads=snakemake.threads)  # noqa: F821
predictions = export_onnx_predictions(teacher, folder_images(inp.folder), out.predictions, p.score_thresh)
result = evaluate_publaynet(predictions, inp.gt, where=out.predictions)
write_json(out.metrics, {"model": teacher.name, "fixture": inp.folder, "ground_truth": inp.gt,
                         "predictions": out.predictions, "model_info": teacher.describe(),
                         "seconds_per_page": predictions["seconds_per_page"], **result})
