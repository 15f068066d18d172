"""Snakemake script: ONNX export of one trained layout detector (the whole Mask R-CNN with post-processing,
boxes only) with parity.json on the first readable evaluation pages and its model card."""

from pathlib import Path

from distildoc.export import export_detector
from distildoc.utils.io import read_json
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
# the first evaluation pages (COCO file names relative to the images root); export_detector keeps 2 readable ones
pages = [Path(p.images_root) / im["file_name"] for im in read_json(inp.pages)["images"][:8]]
export_detector(Path(inp.model).parent, Path(out.parity).parent, pages=pages)
