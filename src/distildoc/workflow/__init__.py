"""Pure, tested helpers of the Snakemake workflow (the DAG plan: `distildoc.workflow.plan`)."""
