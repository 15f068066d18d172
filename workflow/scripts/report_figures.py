"""Snakemake script: the paper's figures (PNG + PDF) from the run tables; `params.group` picks dic or dla."""

from pathlib import Path

import pandas as pd

from distildoc.report import figures as F
from distildoc.utils.runtime import init_script

init_script(snakemake)  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
out = Path(sm.params.out_dir)
if sm.params.group == "dic":
    dic = pd.read_csv(sm.input.dic_runs)
    F.save_figure(F.id_vs_ood_figure(dic), out / "id_vs_ood")
    for by in ("approach", "teacher", "student"):
        F.save_figure(F.ood_boxplot_figure(dic, by), out / f"ood_box_{by}")
    for teacher in sm.params.teachers:
        F.save_figure(F.reliability_figure(dic, teacher), out / f"reliability_{teacher}")
elif sm.params.group == "dla":
    dla = pd.read_csv(sm.input.dla_runs)
    F.save_figure(F.dla_efficiency_figure(dla), out / "dla_efficiency")
    F.save_figure(F.anls_vs_map_figure(pd.read_csv(sm.input.docvqa_runs), dla), out / "anls_vs_map")
else:
    raise ValueError(f"report_figures: params.group must be 'dic' or 'dla', got {sm.params.group!r}")
missing = [p for p in sm.output if not Path(p).exists()]
if missing:
    raise RuntimeError(f"figures not written: {missing}")
