"""Snakemake script: ONNX export of one trained classifier (a teacher, or one method run of a student pair
folder) with its int8 variant, parity.json (accuracy of each variant on the test split) and model card."""

from pathlib import Path

from distildoc.export import export_classifier
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
# a student's run folder is <pair folder>/<method>; a teacher's holds its metrics.json
run_dir = Path(inp.runs) / snakemake.wildcards.method if hasattr(inp, "runs") else Path(inp.metrics).parent  # noqa: F821
export_classifier(run_dir, Path(out.parity).parent, test_split=inp.test, calib_split=inp.calib,
                  quantization=p.quantization, max_parity_pages=p.parity_pages)
