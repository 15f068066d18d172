"""Copy a preset's generated results page into README.md, between the markers

    <!-- results:begin -->
    <!-- results:end -->

Usage (from the repository root, in the project's environment, after `snakemake report` for that preset):

    python workflow/scripts/readme_results.py                      # default preset, README.md
    python workflow/scripts/readme_results.py --preset smoke --readme README.md --shift 1

The page (results/<preset>/report/results.md, written by the report_results rule from the run's CSVs) replaces
everything between the markers; its headings are shifted `--shift` levels deeper (default 1: the page's title
becomes a level-2 heading). When `make pipeline` left a profile of the run (logs/<preset>/benchmarks/profile.md,
benchmarks/pipeline_profile.py: Snakemake's per-job wall and CPU times), it follows the page as "What this run
cost". Missing markers or a missing page stop with an error naming the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from distildoc.report.results_page import replace_block
from distildoc.utils.io import write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default", help="preset whose results page to copy (default: default)")
    ap.add_argument("--page", type=Path, help="the page (default: results/<preset>/report/results.md)")
    ap.add_argument("--readme", type=Path, default=Path("README.md"), help="the file to update (default: README.md)")
    ap.add_argument("--profile", type=Path,
                    help="the run's profile (default: logs/<preset>/benchmarks/profile.md, if it exists)")
    ap.add_argument("--shift", type=int, default=1, help="heading levels to add to the page's headings (default 1)")
    args = ap.parse_args(argv)
    page = args.page or Path("results") / args.preset / "report" / "results.md"
    if not page.is_file():
        raise SystemExit(f"{page}: no results page; run `snakemake --cores 2 report_results --config "
                         f"preset={args.preset}` first")
    if not args.readme.is_file():
        raise SystemExit(f"{args.readme}: no such file")
    body = page.read_text(encoding="utf-8")
    profile = args.profile or Path("logs") / args.preset / "benchmarks" / "profile.md"
    if profile.is_file():
        body = f"{body.rstrip()}\n\n## What this run cost\n\n{profile.read_text(encoding='utf-8')}"
    elif args.profile:
        raise SystemExit(f"{profile}: no such profile; `make pipeline` writes it (benchmarks/pipeline_profile.py)")
    try:
        text = replace_block(args.readme.read_text(encoding="utf-8"), body,
                             str(args.readme), args.shift)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    write_text(args.readme, text)
    print(f"{args.readme}: results block replaced with {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
