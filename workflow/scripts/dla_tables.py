"""Snakemake script: collect every layout model's metrics into runs.csv and Table 3 (and, in the paper
preset, each further layout dataset's runs and table: PRImA -> Table 13; ``params.extra``)."""

from pathlib import Path

from distildoc.report.dla import load_dla_runs, write_dla_tables
from distildoc.utils.io import write_json, write_text
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821


def write_runs(metrics, efficiency, runs_csv, summary_json, table, dataset, publaynet=None):
    df = load_dla_runs(list(metrics), efficiency, publaynet=list(publaynet) if publaynet else None)
    write_text(runs_csv, df.to_csv(index=False))
    summary = {f"{r.teacher}__{r.role}__{r.method}": {"mAP": r.mAP, "gflops": r.gflops, "params_M": r.params_M,
                                                      "images_per_second": r.images_per_second,
                                                      **({"mAP_publaynet": r.mAP_publaynet} if publaynet else {})}
               for r in df.itertuples()}
    write_json(summary_json, summary)
    kwargs = {"dataset": dataset} if dataset else {}
    write_dla_tables(df, Path(sm.output.tables), table=table, **kwargs)


# the Table 3 models on the real PubLayNet pages (rule dla_eval_publaynet; absent when dla.real_eval is off)
write_runs(sm.input.metrics, sm.input.efficiency, sm.output.runs_csv, sm.output.summary, "table3",
           getattr(sm.params, "dataset", None), getattr(sm.input, "publaynet", None))
# further layout datasets (paper preset): {name: {"table": ..., "label": ...}}, inputs / outputs suffixed _<name>
for name, spec in (getattr(sm.params, "extra", None) or {}).items():
    write_runs(sm.input[f"metrics_{name}"], sm.input[f"efficiency_{name}"], sm.output[f"runs_csv_{name}"],
               sm.output[f"summary_{name}"], spec["table"], spec["label"])
