"""Snakemake script: the deployment table. Images/s of every exported teacher and student as PyTorch fp32,
ONNX fp32 and ONNX int8, timed side by side (distildoc.export.deploy), with accuracy / mAP, the fraction of
its teacher's it keeps, speed-ups and the issue's targets."""

from distildoc.data.tensors import load_split
from distildoc.export.deploy import deploy_table, measure_deploy, model_record, timing_note, write_deploy_table
from distildoc.train.dla import efficiency_pages
from distildoc.utils.io import write_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
entries, timing = list(p.models), dict(p.timing)
n = int(timing["pages"])
tasks = {e["task"] for e in entries}
classifier_pages = detector_pages = None
if "dic" in tasks:
    split = load_split(inp.test)
    classifier_pages = split.batch(slice(0, min(n, len(split))))[0].contiguous().numpy()
if "dla" in tasks:
    detector_pages, _ = efficiency_pages(inp.pages, p.images_root, n)
timings = measure_deploy(entries, timing, classifier_pages=classifier_pages, detector_pages=detector_pages)
note = timing_note(timing)
write_json(out.timings, {"note": note, "settings": timing, "timings": timings})
df = deploy_table([model_record(e) for e in entries], timings, timing["batch_sizes"])
write_deploy_table(df, out.csv[: -len(".csv")], note, timing["batch_sizes"])
