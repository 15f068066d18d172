"""Snakemake script: the DocVQA stage's question set (seeded, stratified by question type)."""

from distildoc.docvqa.select import select_questions
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
p = snakemake.params  # noqa: F821
qs = select_questions(p.qa_json, p.images_root, p.max_questions, p.seed)
write_json(snakemake.output[0], {"source": str(p.qa_json), "questions": qs})  # noqa: F821
log.info("selected %d questions on %d pages", len(qs), len({q["image_path"] for q in qs}))
