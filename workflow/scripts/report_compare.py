"""Snakemake script: the paper's published numbers side by side with this run's (one view per paper table)."""

from pathlib import Path

import pandas as pd

from distildoc.report.paper import comparison_views, mean_abs_difference, write_comparisons
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
prima = getattr(sm.input, "dla_prima_runs", None)  # Table 13: only where the preset trains on PRImA
views = comparison_views(pd.read_csv(sm.input.dic_runs), pd.read_csv(sm.input.dla_runs),
                         pd.read_csv(sm.input.docvqa_runs), sm.params.docvqa_tables,
                         published_root=sm.params.published_root,
                         dla_prima_runs=pd.read_csv(prima) if prima else None)
written = write_comparisons(views, Path(sm.output.summary).parent / "compare")
missing = sorted(set(sm.output.tables) - {str(p) for p in written})
if missing:
    raise RuntimeError(f"comparison views not written: {missing}")
write_json(sm.output.summary, {name: mean_abs_difference(view) for name, (view, _) in views.items()})
log.info("%d comparison views", len(views))
