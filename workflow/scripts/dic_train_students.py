"""Snakemake script: distil one (teacher, student) pair with every method of the grid.

Checkpoints go to `<pair dir>.ckpt/<method>/`, beside the `directory()` output that Snakemake deletes
when a job fails: a re-run resumes the interrupted method and skips the finished ones' training."""

from pathlib import Path

from distildoc.data.tensors import load_split
from distildoc.train.classification import read_teacher_cache
from distildoc.train.dic import select_student_pages, train_students
from distildoc.utils import distributed as dist
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
dist.init_distributed()
inp, wc, p = snakemake.input, snakemake.wildcards, snakemake.params  # noqa: F821
train, val = load_split(inp.train), load_split(inp.val)
evals = {k[len("eval_"):]: load_split(v) for k, v in inp.items() if k.startswith("eval_")}
teacher_dir = cache_train = cache_val = None
if "teacher" in inp.keys():
    teacher_dir = Path(inp.teacher).parent
    # the key is recomputed from the teacher weights and the split: a stale cache is an error
    cache_train = read_teacher_cache(teacher_dir, train, inp.cache_train, p.dic["cache_dtype"])
    cache_val = read_teacher_cache(teacher_dir, val, inp.cache_val, p.dic["cache_dtype"])
# `dic.student_pages` N: N pages per class of the teacher's train split (and of its cached outputs)
train, cache_train = select_student_pages(p.dic.get("student_pages"), train, cache_train)
out = Path(snakemake.output.runs)  # noqa: F821
train_students({m: out / m for m in p.methods}, wc.dsname, teacher_dir, wc.student, wc.init, int(wc.seed), p.dic,
               train, val, evals, cache_train, cache_val, ckpt_root=out.with_name(out.name + ".ckpt"))
dist.cleanup()
