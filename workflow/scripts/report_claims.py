"""Snakemake script: the paper's five claims checked on this run (verdicts from intervals: seeds, test pages,
questions) and on the published numbers (point values); the interval frames are written beside the claims."""

from pathlib import Path

import pandas as pd

from distildoc.report.claims import DLA_TAG_TOLERANCE, check_claims, write_claims
from distildoc.report.dic import main_init
from distildoc.report.dic_stats import read_interval_csv, table15_intervals
from distildoc.report.layout_stats import dla_map_intervals, docvqa_tag_intervals
from distildoc.report.paper import claim_tables_ours, claim_tables_published
from distildoc.utils.io import write_text
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
p = sm.params
dic, dla, docvqa = pd.read_csv(sm.input.dic_runs), pd.read_csv(sm.input.dla_runs), pd.read_csv(sm.input.docvqa_runs)
ours = claim_tables_ours(dic, dla, docvqa)
intervals = {
    "kd_vs_supervised": read_interval_csv(sm.input.kd_vs_supervised),  # keeps the verdict "n/a" a word
    "table15": table15_intervals(dic, n_resamples=p.n_resamples, ece_resamples=p.ece_resamples, seed=p.bootstrap_seed),
    "dla": dla_map_intervals(dla, sm.input.dla_models, sm.input.dla_val, n_resamples=p.map_resamples,
                             seed=p.bootstrap_seed),
    "docvqa": docvqa_tag_intervals(sm.input.docvqa_predictions, p.table4_dla_model, tolerance=DLA_TAG_TOLERANCE,
                                   n_resamples=p.n_resamples, seed=p.bootstrap_seed),
}
for name in ("table15", "dla", "docvqa"):
    write_text(getattr(sm.output, f"intervals_{name}"), intervals[name].to_csv(index=False, na_rep="NaN"))
claims = check_claims(ours, claim_tables_published(p.published_root), p.table4_dla_model, intervals=intervals,
                      init=main_init(dic, "rvl") if not dic.empty else None)
write_claims(claims, Path(sm.output.csv).parent, p.preset)
log.info("claims: %s", dict(zip(claims["claim"], claims["verdict"])))
