# Configuration-derived paths and input functions of the layout stage (rules in dla.smk).

import re

from distildoc.config_checks import dla_model_names
from distildoc.train.dla import check_vit_init, dic_run_input, job_config

DLA = CFG["dla"]
DLA_RES = f"{RES}/dla"
# the COCO files and page images the detectors train / evaluate on
DLA_DATA_ROOT = f"{SYN}/rvl" if SYNTHETIC else "data/raw/doclaynet"
# layout datasets (`dla.datasets`, real data only): the first is Table 3's and keeps the paths above; each
# further one (PRImA: Table 13) trains the same models under results/<preset>/dla/<dataset>/ from
# data/raw/<dataset>/layout/{train,val}.json (rule layout_convert), and dla_tables writes its table too
DLA_DATASETS = DLA.get("datasets", ["doclaynet"])
DLA_EXTRA = DLA_DATASETS[1:]
DLA_DATASET_INFO = {"doclaynet": {"table": "table3", "label": "DocLayNet core"},
                    "prima": {"table": "table13", "label": "PRImA (seeded 80/20 page split, held-out 20 %)"}}
if "datasets" in DLA and (SYNTHETIC or DLA_DATASETS[0] != "doclaynet" or len(set(DLA_DATASETS)) != len(DLA_DATASETS)):
    raise WorkflowError(f"params.yaml dla.datasets: {DLA_DATASETS} -- only for real data, starting with doclaynet "
                        "(Table 3), each dataset once")
# Table 3's caption names the dataset under real data (the embedded presets keep their rule params as they were)
DLA_TABLE_PARAMS = {} if SYNTHETIC else {"dataset": DLA_DATASET_INFO["doclaynet"]["label"],
                                         "extra": {d: DLA_DATASET_INFO[d] for d in DLA_EXTRA}}


def dla_extra_res(ds):
    """Result folder of a further layout dataset (the models, the page sets, efficiency.json)."""
    return f"{DLA_RES}/{ds}"


# model folder names `<teacher or none>__<role>__<method>` of Table 3
DLA_MODELS = dla_model_names(DLA)
# page-image folders every layout model can be run over (rule dla_predict_folder), by name
DLA_PREDICT_FOLDERS = dict(DLA.get("predict_folders", {}))


# ViT-FPN backbones initialised from a trained classifier of the dic stage (`dla.vit_init: {role: run}`, runs
# relative to results/<preset>/dic): the DAG edge dic -> dla. Checked against what this preset's dic stage trains.
DLA_VIT_INIT = {r: v for r, v in (DLA.get("vit_init") or {}).items() if v}
try:
    check_vit_init(DLA_VIT_INIT,
                   {f"teachers/{ds}/{b['teacher']}" for ds in DIC["datasets"] for b in DIC["grid"]}
                   | {f"runs/{ds}/{t}__{st}__{init}__s{seed}/{m}"
                      for (ds, t, st, init, seed), methods in DIC_JOBS.items() for m in methods})
except ValueError as err:
    raise WorkflowError(f"params.yaml {err}") from None


def dla_job_config(wc):
    """The part of `dla` one training job depends on (distildoc.train.dla.job_config): a ViT recipe change
    re-trains the ViT models only, a `dataset_recipes.prima` change the PRImA models only; `real_eval` (the
    evaluation on real pages) re-trains nothing; `vit_init` resolved to the classifier's run folder."""
    return job_config(DLA, wc.dla_role, wc.dla_method, wc.dla_extra if "dla_extra" in wc.keys() else None,
                      dic_res=DIC_RES)


def dla_train_inputs(wc):
    res = dla_extra_res(wc.dla_extra) if "dla_extra" in wc.keys() else DLA_RES
    inp = {"train": f"{res}/data/train.json", "val": f"{res}/data/val.json"}
    if wc.dla_teacher != "none":
        inp["teacher"] = f"{res}/models/none__{wc.dla_teacher}__supervised/model.pt"
    if wc.dla_role in DLA_VIT_INIT:  # the classifier's weights (teacher) or its pair folder (student runs)
        inp["vit_init"] = f"{DIC_RES}/{dic_run_input(DLA_VIT_INIT[wc.dla_role])[0]}"
    return inp


def dla_tables_extra(kind):
    """Inputs (`metrics`, `efficiency`) or outputs (`outputs`) of dla_tables for the further layout datasets,
    keyed `<name>_<dataset>`; empty in the embedded presets (their rule is unchanged)."""
    out = {}
    for ds in DLA_EXTRA:
        res = dla_extra_res(ds)
        if kind == "metrics":
            out[f"metrics_{ds}"] = [f"{res}/models/{m}/metrics.json" for m in DLA_MODELS]
        elif kind == "efficiency":
            out[f"efficiency_{ds}"] = f"{res}/efficiency.json"
        else:  # the table itself goes into dla_tables' tables/dla folder (<table>.{csv,md,tex})
            out[f"runs_csv_{ds}"] = f"{RES}/metrics/dla_{ds}_runs.csv"
            out[f"summary_{ds}"] = f"{RES}/metrics/dla_{ds}.json"
    return out


# the DocVQA questions (and so the pages) the layout predictions are made for
DOCVQA_PAGES_INPUT = f"{RES}/docvqa/questions.json"  # written by rule docvqa_select


# Real PubLayNet pages every Table 3 model is scored on (`dla.real_eval.publaynet`: a folder with the page images
# and samples.json, relative to the repository; null: off). Rule dla_eval_publaynet joins `dla` / `all` and
# dla_tables (column mAP_publaynet) only when that folder exists, as the DocVQA real fixture does.
DLA_PUBLAYNET = (DLA.get("real_eval") or {}).get("publaynet")
DLA_PUBLAYNET_ON = bool(DLA_PUBLAYNET) and Path(DLA_PUBLAYNET, "samples.json").is_file()
DLA_PUBLAYNET_RES = f"{DLA_RES}/real_eval/publaynet"
if DLA_PUBLAYNET and not DLA_PUBLAYNET_ON:
    from snakemake.logging import logger

    logger.warning(f"dla.real_eval.publaynet: no {DLA_PUBLAYNET}/samples.json; the layout models are not scored "
                   "on real PubLayNet pages (dla_runs.csv has no mAP_publaynet)")


def dla_publaynet_inputs(wc):
    """One model's checkpoint and the PubLayNet folder with its ground truth; a clear error when real_eval is off."""
    if not DLA_PUBLAYNET_ON:
        why = f"has no {DLA_PUBLAYNET}/samples.json" if DLA_PUBLAYNET else "is off (null)"
        raise WorkflowError(f"dla_eval_publaynet: params.yaml dla.real_eval.publaynet ({DLA_PUBLAYNET!r}) {why}; it "
                            "must name a folder (relative to the repository) holding the PubLayNet page images and "
                            "samples.json, e.g. ../shared/realdata/publaynet")
    model = f"{DLA_RES}/models/{wc.dla_teacher}__{wc.dla_role}__{wc.dla_method}/model.pt"
    return {"model": model, "gt": f"{DLA_PUBLAYNET}/samples.json", "folder": DLA_PUBLAYNET}


def dla_publaynet_outputs():
    """The per-model PubLayNet evaluations dla_tables reads (`publaynet`), or none when real_eval is off."""
    return {"publaynet": [f"{DLA_PUBLAYNET_RES}/{m}.json" for m in DLA_MODELS]} if DLA_PUBLAYNET_ON else {}
