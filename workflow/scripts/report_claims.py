"""Snakemake script: the paper's five claims checked on this run's tables and on the published numbers."""

from pathlib import Path

import pandas as pd

from distildoc.report.claims import check_claims, write_claims
from distildoc.report.paper import claim_tables_ours, claim_tables_published
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
ours = claim_tables_ours(pd.read_csv(sm.input.dic_runs), pd.read_csv(sm.input.dla_runs),
                         pd.read_csv(sm.input.docvqa_runs))
claims = check_claims(ours, claim_tables_published(sm.params.published_root), sm.params.table4_dla_model)
write_claims(claims, Path(sm.output.csv).parent, sm.params.preset)
