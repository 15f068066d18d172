"""Snakemake script: the DocVQA chain on the real fixture pages (Tesseract -> DLA -> prompts -> reader -> ANLS)."""

import os

# passive OpenMP waiting must be chosen before torch starts its thread pool
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

from distildoc.docvqa.prompts import PROMPT_TYPES  # noqa: E402
from distildoc.docvqa.realchain import run_real_chain  # noqa: E402
from distildoc.docvqa.run import describe_reader, make_reader  # noqa: E402
from distildoc.utils.io import write_json, write_jsonl  # noqa: E402
from distildoc.utils.runtime import init_script, log  # noqa: E402

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
cfg, rf = sm.params.docvqa, sm.params.realfixture
t_start = time.perf_counter()

detector = None
if rf["dla_model"]:
    from distildoc.train.dla import load_detector

    detector = load_detector(Path(sm.input.model).parent)
reader = make_reader(cfg["reader"]["backend"], cfg["reader"]["options"], max_new_tokens=cfg["max_new_tokens"],
                     batch_size=cfg["batch_size"], use_chat_template=cfg["use_chat_template"],
                     max_context=cfg["max_context"], threads=sm.threads)
res = run_real_chain(
    sm.input.folder, reader, max_questions=rf["max_questions"], seed=sm.params.seed, prompts=PROMPT_TYPES,
    dla_prompts=PROMPT_TYPES, dla_model=rf["dla_model"], detector=detector,
    export_score_thresh=cfg["dla_score_threshold"], dla_score_threshold=cfg["dla_score_threshold"],
    ignore_labels=cfg["dla_ignore_labels"], tesseract_config=rf["tesseract_config"],
    ocr_workers=sm.threads, batch_size=cfg["batch_size"],
    truncation=cfg["truncation"], reuse_identical_prompts=cfg["reuse_identical_prompts"],
    threshold=cfg["anls_threshold"], skip_failed=cfg["skip_failed"], explain_tags=cfg["explain_tags"])

write_jsonl(sm.output.predictions, res.records())
write_json(sm.output.ocr, {d: {"words": p.words, "boxes": [list(b) for b in p.boxes],
                               "lines": [list(x) for x in p.lines], "width": p.width, "height": p.height}
                           for d, p in res.pages.items()})
write_json(sm.output.metrics, {**res.metrics(), "reader": describe_reader(reader),
                               "job_wall_seconds": round(time.perf_counter() - t_start, 3)})
for cell, (_, m) in res.cells.items():
    anls = m["anls"] if m["anls"] is not None else float("nan")
    log.info("%-40s ANLS %.4f  n=%d truncated=%d failed=%d", cell.key, anls, m["n_questions"], m["n_truncated"],
             m["n_failed"])
