"""ANLS before and after the stop-rule fix (812323f, issue 15): the same greedy generations read by both rules.

    python benchmarks/docvqa_stop_rule.py fixture [--fixture ../shared/realdata/docvqa]
    python benchmarks/docvqa_stop_rule.py synthetic --questions results/default/docvqa/questions.json \\
        --ocr data/default/synthetic/rvl/ocr/val.jsonl
    options: [--prompts plain,space,task,task_space] [--template raw|chat] [--dtype float32] [--max-new-tokens 32]
             [--batch-size 8] [--threads 1] [--out-dir DIR]

Before 812323f, ``first_line`` answered with the first non-empty line of the continuation and generation stopped
at the first complete line, so a reader that wrote "The answer is:" on a line of its own answered exactly that.
The rule since then (:func:`distildoc.docvqa.llm.base.postprocess`): the first line with answer text once
lead-ins ("Answer:", "The answer is:", ...) are stripped, generation stopping only after such a line.

Greedy decoding makes the comparison exact without the old code: the reader runs once per prompt with no stop
rule and no post-processing (``postprocess: none``, ``stop_at_newline: false``, the same ``max_new_tokens``),
and each rule reads that one continuation. A rule that stops at a newline sees a prefix of the same tokens, so
this is what either reader would have answered. Free generation only (extractive decoding came with the fix).

``--template chat`` wraps the prompts in the reader's chat template: a chat model answers in sentences there
("The answer is:" on a line of its own), where the raw prompts' trailing "Answer:" gets the answer first.

Writes ``<out-dir>/<set>_<template>.csv`` (one row per prompt: ANLS before / after, answers that differ, answers the old
rule lost to a lead-in line) and ``<set>_<template>_answers.jsonl`` (both answers of every question); prints a Markdown
table. Question sets as ``benchmarks/docvqa_readers.py`` (its ``add_set_arguments`` / ``load_set``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docvqa_readers import ROOT, add_set_arguments, load_set  # noqa: E402

FIELDS = ["set", "template", "prompt", "dtype", "n_questions", "anls_before", "anls_after", "n_changed", "n_lead_in_lost"]


def first_nonempty_line(text: str) -> str:
    """The ``first_line`` rule before 812323f: the first non-empty line of the continuation, stripped
    (``git show 812323f^:src/distildoc/docvqa/llm/base.py``, ``postprocess``)."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_arguments(ap)
    ap.add_argument("--reader", default="smollm2")
    ap.add_argument("--prompts", default="plain,space,task,task_space")
    ap.add_argument("--template", choices=["raw", "chat"], default="raw", help="raw: the pipeline's (the paper's)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-dir", default=str(ROOT / "results" / "benchmarks" / "docvqa_stop_rule"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import torch

    from distildoc.docvqa.llm.base import postprocess, strip_lead_in
    from distildoc.docvqa.run import grid_cells, make_reader, run_grid
    from distildoc.evaluate.anls import anls_score

    torch.set_num_threads(args.threads)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    questions, pages = load_set(args)
    logging.info("%s: %d questions on %d pages", args.set, len(questions), len(pages))
    reader = make_reader(args.reader, {"dtype": args.dtype, "postprocess": "none", "stop_at_newline": False},
                         max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, threads=args.threads,
                         use_chat_template=args.template == "chat")
    results, _ = run_grid(reader, questions, pages, grid_cells(args.prompts.split(","), [], []),
                          dataset=args.set, batch_size=args.batch_size, progress=False)
    rows, answers = [], []
    for cell, (records, _metrics) in results.items():
        scored = [r for r in records if r["answers"] and r["raw_answer"] is not None]
        before = [first_nonempty_line(r["raw_answer"]) for r in scored]
        after = [postprocess(r["raw_answer"], "first_line") for r in scored]
        s_before = [anls_score(b, r["answers"]) for b, r in zip(before, scored)]
        s_after = [anls_score(a, r["answers"]) for a, r in zip(after, scored)]
        n = len(scored)
        rows.append({"set": args.set, "template": args.template, "prompt": cell.prompt, "dtype": args.dtype, "n_questions": n,
                     "anls_before": round(sum(s_before) / n, 4) if n else None,
                     "anls_after": round(sum(s_after) / n, 4) if n else None,
                     "n_changed": sum(b != a for b, a in zip(before, after)),
                     # the old answer was nothing but a lead-in ("The answer is:"): the answer never produced
                     "n_lead_in_lost": sum(bool(b) and not strip_lead_in(b) for b in before)})
        answers += [{"prompt": cell.prompt, "question_id": r["question_id"], "question": r["question"],
                     "answers": r["answers"], "raw": r["raw_answer"], "before": b, "after": a,
                     "anls_before": sb, "anls_after": sa}
                    for r, b, a, sb, sa in zip(scored, before, after, s_before, s_after)]
    stem = out / f"{args.set}_{args.template}"
    with open(f"{stem}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    with open(f"{stem}_answers.jsonl", "w") as fh:
        fh.writelines(json.dumps(a) + "\n" for a in answers)
    print(f"ANLS x 100, {args.set} ({len(questions)} questions), {args.reader} {args.dtype}, {args.template} prompts, free generation\n")
    print("| prompt | before (first non-empty line) | after (lead-ins skipped) | answers changed | lost to a lead-in |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['prompt']} | {100 * r['anls_before']:.2f} | {100 * r['anls_after']:.2f} | {r['n_changed']} "
              f"| {r['n_lead_in_lost']} |")
    logging.info("wrote %s.csv and %s_answers.jsonl", stem, stem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
