"""Snakemake script: the real-teacher table (`distildoc.evaluate.real_teacher`): teacher, reference, the
pseudo-label student and the supervised baseline on the real PubLayNet pages, as JSON and Markdown."""

from distildoc.evaluate.real_teacher import build_rows, real_teacher_summary, summary_markdown
from distildoc.utils.io import read_json, write_json, write_text
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
pseudo, student_metrics = read_json(inp.pseudo), read_json(inp.student_metrics)
rows = build_rows([read_json(f) for f in inp.onnx], read_json(inp.student), student_metrics, pseudo,
                  baseline_eval=read_json(inp.baseline[0]) if inp.baseline else None,
                  baseline_metrics=read_json(inp.baseline_metrics[0]) if inp.baseline_metrics else None)
summary = real_teacher_summary(rows, pseudo, student_metrics, p.eval_folder)
write_json(out.json, summary)
write_text(out.md, summary_markdown(summary))
