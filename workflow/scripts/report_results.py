"""Snakemake script: the generated results page results/<preset>/report/results.md from the run's CSVs
(distildoc.report.results_page); `workflow/scripts/readme_results.py` copies it into README.md."""

from distildoc.report.results_page import write_results_page
from distildoc.utils.runtime import init_script, log

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
path = write_results_page(sm.output[0], sm.params.preset, sm.input.dic_runs, sm.input.kd_vs_supervised,
                          sm.input.knowledge_gap, sm.input.claims, sm.input.dla_tables, sm.input.dic_tables)
log.info("results page: %s", path)
