"""ANLS of the embedded DocVQA readers: readers x decodings x prompt types on one question set.

    python benchmarks/docvqa_readers.py fixture [--fixture ../shared/realdata/docvqa]
    python benchmarks/docvqa_readers.py synthetic --questions results/default/docvqa/questions.json \\
        --ocr data/default/synthetic/rvl/ocr/val.jsonl
    options: [--readers smollm2,gemma3] [--decodings free,extractive,extractive+noecho,extractive+noecho+beam4]
             [--prompts plain,space,task,task_space]   (also table,task_table: tables written row by row;
                                                        focus,task_focus: the line(s) that best match the question)
             [--focus-lines 1]   (lines the focus prompt types keep)
             [--templates raw,chat] [--max-new-tokens 32] [--batch-size 8] [--threads 1] [--out-dir DIR]

Question sets:

* ``fixture``: every question (12) of the real DocVQA fixture (``val_v1.0.json`` + page images), OCR by
  Tesseract (``--tesseract-config``, the pipeline's ``--psm 3 --oem 1``), run once and shared by every
  reader (the ``docvqa_realfixture`` chain without layout tags: :func:`distildoc.docvqa.realchain.fixture_questions`
  + :func:`distildoc.docvqa.ocr.load_ocr` + :func:`distildoc.docvqa.run.run_grid`);
* ``synthetic``: a pipeline question set (``docvqa/questions.json``) with its synthetic ground-truth OCR
  (the ``docvqa_grid`` rule's inputs, no layout tags).

Decodings: ``free`` / ``extractive`` (the reader option ``decoding``), each optionally followed by levers
joined with ``+``: ``noecho`` (``exclude_question_spans: true``: no answer that only repeats the question),
``beam<N>`` (``num_beams: N``, length-normalised beam search). The label is the CSV's ``decoding`` column.

Each reader is loaded once (the pipeline's settings: ``dtype: float32`` (``--dtype``), ``postprocess: first_line``,
greedy) and its decoding / chat-template switched between runs. Writes ``<out-dir>/<set>.csv`` (one row per
reader x template x decoding x prompt: ANLS, questions, failures, truncations, questions/s of the
generation, ANLS per question type as JSON), ``<set>.md`` (ANLS x 100 per prompt type) and ``<set>_predictions.jsonl`` (every answer);
rows are appended as they finish, so an interrupted run keeps what it measured.

``OMP_WAIT_POLICY=PASSIVE`` is set unless already set (OpenMP threads that spin on a shared CPU are slow).
Questions/s depend on the machine's load; compare readers within one run.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["set", "reader", "template", "decoding", "prompt", "anls", "n_questions", "n_failed", "n_truncated",
          "mean_prompt_tokens", "questions_per_s", "load_seconds", "anls_by_type"]


def add_set_arguments(ap: argparse.ArgumentParser) -> None:
    """The question-set arguments that :func:`load_set` reads (also used by ``docvqa_stop_rule.py``)."""
    ap.add_argument("set", choices=["fixture", "synthetic"])
    ap.add_argument("--fixture", default=str(ROOT.parent / "shared" / "realdata" / "docvqa"))
    ap.add_argument("--questions")
    ap.add_argument("--ocr")
    ap.add_argument("--ocr-source", default="synthetic")
    ap.add_argument("--tesseract-config", default="--psm 3 --oem 1")


def load_set(args) -> tuple[list[dict], dict]:
    from distildoc.docvqa.ocr import load_ocr

    if args.set == "fixture":
        from distildoc.docvqa.realchain import fixture_questions, readable_pages

        questions = fixture_questions(args.fixture, None)
        images, skipped = readable_pages({str(q["doc_id"]): q["image_path"] for q in questions})
        if skipped:
            raise SystemExit(f"unreadable fixture pages: {skipped}")
        pages = load_ocr("tesseract", images=images, doc_ids=sorted(images), config=args.tesseract_config)
    else:
        from distildoc.docvqa.run import load_questions

        if not (args.questions and args.ocr):
            raise SystemExit("synthetic: pass --questions and --ocr")
        questions = load_questions(args.questions)
        pages = load_ocr(args.ocr_source, args.ocr, doc_ids=sorted({str(q["doc_id"]) for q in questions}))
    return questions, pages


def decoding_settings(label: str) -> dict:
    """Reader attributes of a decoding label: ``extractive+noecho+beam4`` ->
    ``{"decoding": "extractive", "exclude_question_spans": True, "num_beams": 4}``."""
    from distildoc.docvqa.llm.extractive import check_decoding

    base, *levers = label.split("+")
    settings = {"decoding": check_decoding(base), "exclude_question_spans": False, "num_beams": 1}
    for lever in levers:
        if lever == "noecho":
            settings["exclude_question_spans"] = True
        elif lever.startswith("beam") and lever[4:].isdigit() and int(lever[4:]) >= 1:
            settings["num_beams"] = int(lever[4:])
        else:
            raise SystemExit(f"--decodings: unknown lever {lever!r} in {label!r} (noecho, beam<N>)")
    return settings


def markdown(rows: list[dict], prompts: list[str]) -> str:
    head = "| reader | template | decoding | " + " | ".join(prompts) + " | best | q/s |"
    lines = [head, "|" + "---|" * (len(prompts) + 5)]
    keys = list(dict.fromkeys((r["reader"], r["template"], r["decoding"]) for r in rows))
    for key in keys:
        cells = {r["prompt"]: r for r in rows if (r["reader"], r["template"], r["decoding"]) == key}
        vals = [cells[p]["anls"] if p in cells else None for p in prompts]
        qps = [cells[p]["questions_per_s"] for p in prompts if p in cells and cells[p]["questions_per_s"]]
        fmt = [f"{100 * v:.2f}" if v is not None else "–" for v in vals]
        best = max((v for v in vals if v is not None), default=None)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(fmt)
                     + f" | {'–' if best is None else f'{100 * best:.2f}'} | "
                     + (f"{sum(qps) / len(qps):.2f}" if qps else "–") + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_arguments(ap)
    ap.add_argument("--readers", default="smollm2,gemma3")
    ap.add_argument("--decodings", default="free,extractive")
    ap.add_argument("--prompts", default="plain,space,task,task_space")
    ap.add_argument("--templates", default="raw", help="raw (the pipeline's default) and / or chat")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float32", help="the pipeline's (docs/docvqa.md \"bf16 against float32\")")
    ap.add_argument("--focus-lines", type=int, default=None,
                    help="lines the focus / task_focus prompt types keep (default: distildoc.docvqa.focus.FOCUS_LINES)")
    ap.add_argument("--out-dir", default=str(ROOT / "results" / "benchmarks" / "docvqa_readers"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    from distildoc.docvqa.run import grid_cells, make_reader, run_grid

    torch.set_num_threads(args.threads)
    if args.focus_lines is not None:
        from distildoc.docvqa import focus

        if args.focus_lines < 1:
            raise SystemExit(f"--focus-lines must be >= 1, got {args.focus_lines}")
        focus.FOCUS_LINES = args.focus_lines  # read at call time by distildoc.docvqa.prompts.focused_page
    prompts = args.prompts.split(",")
    decodings = args.decodings.split(",")
    settings = {d: decoding_settings(d) for d in decodings}
    templates = args.templates.split(",")
    if set(templates) - {"raw", "chat"}:
        raise SystemExit(f"--templates: raw and / or chat, got {args.templates}")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path, pred_path = out / f"{args.set}.csv", out / f"{args.set}.md", out / f"{args.set}_predictions.jsonl"
    questions, pages = load_set(args)
    cells = grid_cells(prompts, [], [])
    logging.info("%s: %d questions on %d pages", args.set, len(questions), len(pages))

    rows: list[dict] = []
    with open(csv_path, "w", newline="") as fh:
        csv.DictWriter(fh, FIELDS).writeheader()
    pred_path.write_text("")
    for name in args.readers.split(","):
        t0 = time.perf_counter()
        try:
            reader = make_reader(name, {"dtype": args.dtype, "postprocess": "first_line"},
                                 max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, threads=args.threads)
        except (ImportError, FileNotFoundError) as err:
            logging.warning("reader %s skipped: %s", name, err)
            continue
        load = time.perf_counter() - t0
        for template in templates:
            reader.use_chat_template = template == "chat"
            for decoding in decodings:
                for key, value in settings[decoding].items():
                    setattr(reader, key, value)
                results, summary = run_grid(reader, questions, pages, cells, dataset=args.set,
                                            batch_size=args.batch_size, progress=False)
                for cell, (records, metrics) in results.items():
                    row = {"set": args.set, "reader": name, "template": template, "decoding": decoding,
                           "prompt": cell.prompt, "anls": metrics["anls"], "n_questions": metrics["n_questions"],
                           "n_failed": metrics["n_failed"], "n_truncated": metrics["n_truncated"],
                           "mean_prompt_tokens": metrics["mean_prompt_tokens"],
                           "questions_per_s": metrics["questions_per_s"], "load_seconds": round(load, 1),
                           "anls_by_type": json.dumps(metrics["anls_by_type"], sort_keys=True)}
                    rows.append(row)
                    with open(csv_path, "a", newline="") as fh:
                        csv.DictWriter(fh, FIELDS).writerow(row)
                    with open(pred_path, "a") as fh:
                        for r in records:
                            fh.write(json.dumps({"reader": name, "template": template, "decoding": decoding,
                                                 **{k: r[k] for k in ("prompt", "question_id", "question", "answer",
                                                                      "raw_answer", "answers", "anls",
                                                                      "finish_reason", "prompt_tokens")}}) + "\n")
                    logging.info("%s %s %s %-10s ANLS %.4f  %.2f q/s", name, template, decoding, cell.prompt,
                                 metrics["anls"] or 0.0, metrics["questions_per_s"] or 0.0)
                md_path.write_text(f"ANLS x 100, {args.set} ({len(questions)} questions)\n\n" + markdown(rows, prompts))
        del reader
    print(md_path.read_text() if md_path.exists() else "no rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
