"""Where a pipeline run's time went: Snakemake's per-job benchmark files (every rule's `benchmark:`, under
logs/<preset>/benchmarks/) summarised per stage and per rule, with the CPU minutes that bound an ideal schedule
and the wall time of each `make pipeline` invocation (distildoc.report.timing).

    python benchmarks/pipeline_profile.py [--preset default] [--cores 2] [--out logs/default/benchmarks/profile.md]

`make pipeline` runs it at the end and writes the profile next to the benchmark files; `make readme-results`
includes it in the README's generated results block.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from distildoc.report.timing import profile_markdown, read_benchmarks, read_runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="default")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores the run had (default: this machine's)")
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    args = ap.parse_args()
    root = Path("logs") / args.preset / "benchmarks"
    text = profile_markdown(read_benchmarks(root), read_runs(root / "make_pipeline.tsv"), args.cores)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
