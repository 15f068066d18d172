"""Throughput of the embedded DocVQA reader (SmolLM2-135M-Instruct) on synthetic QA prompts.

    python benchmarks/docvqa_throughput.py [--n 28] [--batch-sizes 1,4,8] [--threads 1,2]
        [--prompt-type task_space] [--postprocess first_line] [--max-new-tokens 100]
        [--decodings free,extractive] [--backends transformers,llama_cpp] [--dtype float32] [--json out.json]

Builds the prompts from a freshly generated synthetic split (``rvl`` / ``val``, one page per class,
seed 0: its DUE OCR with tool ``synthetic`` and its DocVQA JSON), then for every backend x decoding x threads x
batch size answers all N questions (cycling through the split when N exceeds its questions) after one
warm-up call, and prints questions/s, prompt (prefill) tokens/s = prompt tokens processed per wall
second, mean prompt and answer lengths, ANLS against the gold answers, and whether the answers equal
those of the first configuration of the backend and decoding (batching must not change greedy answers).

Decodings (transformers backend): ``free`` (the paper's) and ``extractive`` (answers restricted to spans of
the page's OCR words, :mod:`distildoc.docvqa.llm.extractive`). Each extractive run starts with an empty
span-trie cache, so its time includes building the tries of its pages (``trie_seconds``: that cost alone,
measured beforehand on the same prompts).

A handful of prompts is enough to compare decodings::

    python benchmarks/docvqa_throughput.py --n 8 --batch-sizes 8 --threads 1 --max-new-tokens 32

Target: >= 1 question/s with batching and both cores on the synthetic QA set.

``OMP_WAIT_POLICY=PASSIVE`` is set unless ``--omp-active`` (or the variable is already set): with the
default spinning policy, 2 threads on a CPU shared with other jobs ran ~5x slower than 1 thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# On a CPU shared with other jobs, OpenMP threads that spin while waiting for each other make 2 threads
# several times slower than 1; passive waiting must be chosen before torch / llama.cpp start OpenMP.
if "--omp-active" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class PrefillTimer:
    """Wraps a transformers model's forward to time the prefill calls (more than one new position)."""

    def __init__(self, model) -> None:
        self.model, self.seconds, self.orig = model, 0.0, model.forward

        def forward(*args, **kwargs):
            ids = kwargs.get("input_ids", args[0] if args else None)
            t0 = time.perf_counter()
            out = self.orig(*args, **kwargs)
            if ids is not None and ids.shape[-1] > 1:
                self.seconds += time.perf_counter() - t0
            return out

        model.forward = forward


def build_prompts(prompt_type: str, n: int):
    from distildoc.data.docvqa import read_docvqa
    from distildoc.data.synthetic.generate import generate_split
    from distildoc.docvqa.llm import prompt_parts
    from distildoc.docvqa.ocr import load_ocr, page_key

    with tempfile.TemporaryDirectory() as tmp:
        generate_split(tmp, "rvl", "val", n_per_class=1, seed=0, progress=False)
        pages = load_ocr("synthetic", Path(tmp) / "rvl" / "ocr" / "val.jsonl")
        questions = read_docvqa(Path(tmp) / "rvl" / "qa" / "val.json")
    items = [(prompt_parts(prompt_type, pages[page_key(q, pages)], q.question), q.answers) for q in questions]
    return [items[i % len(items)] for i in range(n)], len(items)


def make_reader(backend: str, args, threads: int | None = None):
    from distildoc.docvqa.llm import get_reader

    common = dict(max_new_tokens=args.max_new_tokens, postprocess=args.postprocess)
    if backend == "transformers":
        return get_reader("smollm2", dtype=args.dtype, max_span_words=args.max_span_words, **common)
    if backend == "llama_cpp":  # threads are fixed when the context is created; it loads in < 1 s
        return get_reader("llama_cpp", n_ctx=args.n_ctx, n_threads=threads, **common)
    raise SystemExit(f"unknown backend {backend!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=28, help="questions per configuration")
    ap.add_argument("--batch-sizes", default="1,4,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--prompt-type", default="task_space")
    ap.add_argument("--postprocess", default="first_line", choices=("none", "first_line"),
                    help="first_line also stops each answer at its first complete line")
    ap.add_argument("--max-new-tokens", type=int, default=100)
    ap.add_argument("--backends", default="transformers")
    ap.add_argument("--decodings", default="free,extractive",
                    help="transformers decodings to compare (free = the paper's; extractive = OCR-word spans)")
    ap.add_argument("--max-span-words", type=int, default=12, help="longest extractive answer, in words")
    ap.add_argument("--dtype", default="float32", help="transformers weights/compute dtype")
    ap.add_argument("--n-ctx", type=int, default=4096, help="llama.cpp context")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--omp-active", action="store_true",
                    help="keep OpenMP's default (spinning) wait policy instead of OMP_WAIT_POLICY=PASSIVE")
    args = ap.parse_args()

    from distildoc.docvqa.llm.base import span_words
    from distildoc.docvqa.llm.extractive import anchor_of
    from distildoc.evaluate.anls import anls_score

    items, n_unique = build_prompts(args.prompt_type, args.n)
    prompts = [p for p, _ in items]
    print(f"{len(prompts)} prompts ({n_unique} distinct synthetic questions), prompt type {args.prompt_type}, "
          f"postprocess {args.postprocess}, max_new_tokens {args.max_new_tokens}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(default)')}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows = []
    for backend, decoding in [(b, d) for b in args.backends.split(",")
                              for d in (args.decodings.split(",") if b == "transformers" else ["free"])]:
        reference = None
        reader = None
        trie_seconds = None
        for threads in (int(t) for t in args.threads.split(",")):
            if reader is None or backend != "transformers":
                t0 = time.perf_counter()
                reader = make_reader(backend, args, threads)
                print(f"\n[{backend}, {decoding} decoding] loaded in {time.perf_counter() - t0:.1f} s"
                      + (f" (dtype {args.dtype})" if backend == "transformers" else f" ({threads} threads)"))
                if backend == "transformers":
                    reader.decoding = decoding
            if decoding == "extractive" and trie_seconds is None:
                anchor = anchor_of(reader.render(prompts[0].text))
                t0 = time.perf_counter()
                for p in prompts:
                    reader._tries.get(span_words(p), anchor, reader.max_span_words)
                trie_seconds = time.perf_counter() - t0
                print(f"  span tries of {len(reader._tries)} pages built in {trie_seconds:.2f} s")
            # llama-cpp-python generates one prompt at a time: batch size 1 only
            batch_sizes = [int(b) for b in args.batch_sizes.split(",")] if backend == "transformers" else [1]
            for batch in batch_sizes:
                if backend == "transformers":
                    reader.num_threads, reader.batch_size = threads, batch
                reader.generate(prompts[:1])  # warm-up
                if decoding == "extractive":
                    reader._tries.clear()  # the timed run builds its pages' tries, as a real run does
                timer = PrefillTimer(reader.model) if backend == "transformers" else None
                t0, c0 = time.perf_counter(), time.process_time()
                results = reader.generate(prompts)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                if timer is not None:
                    reader.model.forward = timer.orig
                texts = [r.text for r in results]
                if reference is None:
                    reference = texts
                row = {
                    "backend": backend, "decoding": decoding, "threads": threads, "batch": batch, "n": len(prompts),
                    "seconds": round(dt, 2), "questions_per_s": round(len(prompts) / dt, 3),
                    # CPU seconds this process got (all threads): on a shared machine, questions per CPU
                    # second x cores estimates the throughput of an idle machine
                    "cpu_seconds": round(cpu, 2), "questions_per_cpu_s": round(len(prompts) / cpu, 3),
                    "prompt_tokens_per_s": round(sum(r.prompt_tokens for r in results) / dt, 1),
                    # prompt tokens (padding excluded) per second spent in the prefill forward passes
                    "prefill_tokens_per_s": (round(sum(r.prompt_tokens for r in results) / timer.seconds, 1)
                                             if timer is not None and timer.seconds else None),
                    "prefill_share": round(timer.seconds / dt, 3) if timer is not None else None,
                    "mean_prompt_tokens": round(statistics.mean(r.prompt_tokens for r in results), 1),
                    "mean_answer_tokens": round(statistics.mean(r.completion_tokens for r in results), 1),
                    "failures": sum(not r.ok for r in results),
                    "truncated": sum(r.truncated for r in results),
                    "anls": round(statistics.mean(anls_score(r.text, a) for r, (_, a) in zip(results, items)), 4),
                    "same_answers_as_first": texts == reference,
                    "trie_seconds": round(trie_seconds, 3) if decoding == "extractive" else None,
                    "finish_reasons": {k: sum(r.finish_reason == k for r in results) for k in ("stop", "eos", "length")},
                }
                rows.append(row)
                prefill = (f"prefill {row['prefill_tokens_per_s']:.0f} tok/s ({100 * row['prefill_share']:.0f}% of "
                           f"the time), " if row["prefill_tokens_per_s"] else "")
                print(f"  {decoding} threads {threads} batch {batch}: {row['questions_per_s']:.2f} q/s, "
                      f"{row['prompt_tokens_per_s']:.0f} prompt tok/s end to end, {prefill}mean prompt {row['mean_prompt_tokens']:.0f} "
                      f"tok, mean answer {row['mean_answer_tokens']:.1f} tok, ANLS {row['anls']:.3f}, "
                      f"failures {row['failures']}, finish {row['finish_reasons']}, "
                      f"same answers {row['same_answers_as_first']} ({dt:.1f} s, "
                      f"{cpu:.1f} CPU s = {row['questions_per_cpu_s']:.2f} q per CPU s)",
                      flush=True)
    print("\n| backend | decoding | threads | batch | mean prompt tokens | q/s | prompt tok/s | ANLS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['decoding']} | {r['threads']} | {r['batch']} | {r['mean_prompt_tokens']:.0f} | "
              f"{r['questions_per_s']:.2f} | {r['prompt_tokens_per_s']:.0f} | {r['anls']:.3f} |")
    best = max(rows, key=lambda r: r["questions_per_s"])
    print(f"\nbest: {best['backend']} ({best['decoding']}) threads {best['threads']} batch {best['batch']}: "
          f"{best['questions_per_s']:.2f} q/s (target >= 1 q/s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
