"""Snakemake script: cache a trained teacher's outputs on its own train / val splits, for the students whose
`dic.student_pages` is `full` (they train on those splits instead of the student subset). The caches are
content-keyed as the teacher rule's (:func:`distildoc.train.classification.write_teacher_cache`)."""

from pathlib import Path

from distildoc.data.tensors import load_split
from distildoc.train.classification import write_teacher_cache
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
for split_path, cache_path in ((inp.train, out.cache_train), (inp.val, out.cache_val)):
    write_teacher_cache(Path(inp.teacher).parent, load_split(split_path), cache_path, p.dtype, p.batch_size)
