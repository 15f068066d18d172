"""Snakemake script: every (prompt type, DLA model) cell of one DocVQA dataset with one loaded reader."""

import os

# passive OpenMP waiting must be chosen before torch starts its thread pool (a shared CPU: spinning
# threads made 2 threads ~5x slower than 1)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

from distildoc.docvqa.ocr import load_ocr  # noqa: E402
from distildoc.docvqa.run import (  # noqa: E402
    describe_reader,
    grid_cells,
    load_dla_predictions,
    load_questions,
    make_reader,
    run_grid,
    write_cell,
)
from distildoc.utils.io import write_json  # noqa: E402
from distildoc.utils.runtime import init_script, log  # noqa: E402

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
inp, p = sm.input, sm.params
cfg, ds = p.docvqa, p.dataset
t_start = time.perf_counter()

questions = load_questions(inp.questions)
doc_ids = sorted({str(q["doc_id"]) for q in questions})
ocr = ds["ocr"]
if ocr["source"] == "tesseract":
    pages = load_ocr("tesseract", images={str(q["doc_id"]): q["image_path"] for q in questions}, doc_ids=doc_ids)
else:
    pages = load_ocr(ocr["source"], inp.ocr, tool_name=ocr.get("tool"), doc_ids=doc_ids)
dla = {m: load_dla_predictions(f) for m, f in zip(p.dla_models, inp.dla)}
cells = grid_cells(cfg["prompts"], cfg["dla_prompts"], p.dla_models)

t0 = time.perf_counter()
reader = make_reader(cfg["reader"]["backend"], cfg["reader"]["options"], max_new_tokens=cfg["max_new_tokens"],
                     batch_size=cfg["batch_size"], use_chat_template=cfg["use_chat_template"],
                     max_context=cfg["max_context"], threads=sm.threads)
load_seconds = time.perf_counter() - t0
log.info("reader %s loaded in %.1f s", cfg["reader"]["backend"], load_seconds)

results, summary = run_grid(
    reader, questions, pages, cells, dla, dataset=ds["name"], batch_size=cfg["batch_size"],
    truncation=cfg["truncation"], reuse_identical_prompts=cfg["reuse_identical_prompts"],
    threshold=cfg["anls_threshold"], skip_failed=cfg["skip_failed"], score_threshold=cfg["dla_score_threshold"],
    ignore_labels=cfg["dla_ignore_labels"], explain_tags=cfg["explain_tags"])

reader_info = describe_reader(reader)
runs = Path(p.runs_dir)
expected = {str(Path(f).parent) for f in sm.output.metrics}
for cell, (records, metrics) in results.items():
    out_dir = runs / cell.dla_model / cell.prompt
    if str(out_dir) not in expected:
        raise RuntimeError(f"cell {cell.key} has no declared output under {runs}")
    write_cell(out_dir, records, {**metrics, "dataset_label": ds["label"], "reader": reader_info})
    log.info("%-40s ANLS %.4f  n=%d truncated=%d failed=%d reused=%d", cell.key,
             metrics["anls"] if metrics["anls"] is not None else float("nan"), metrics["n_questions"],
             metrics["n_truncated"], metrics["n_failed"], metrics["n_reused"])
write_json(sm.output.summary, {**summary, "label": ds["label"], "reader": reader_info,
                               "reader_load_seconds": round(load_seconds, 3),
                               "job_wall_seconds": round(time.perf_counter() - t_start, 3),
                               "threads": sm.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                               "cells": [c.key for c in cells]})
