"""Snakemake script: the real teacher's detections on the layout train pages and the `real_teacher.folders`
pages as COCO pseudo-labels (`distildoc.train.pseudo_labels.pseudo_label`), with a summary."""

from distildoc.models.detection.onnx_teachers import load_onnx_teacher
from distildoc.train.pseudo_labels import check_pseudo_coco, pseudo_label
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
teacher = load_onnx_teacher(p.teacher, score_thresh=min(p.score_thresh, p.eval_score_thresh), nms_thresh=p.nms_thresh,
                            threads=snakemake.threads)  # noqa: F821
coco, summary = pseudo_label(teacher, p.images_root, p.score_thresh, synthetic_ann=inp.train, folders=p.folders,
                             eval_score_thresh=p.eval_score_thresh)
check_pseudo_coco(coco, p.images_root)
write_json(out.coco, coco, indent=None)
write_json(out.summary, summary)
