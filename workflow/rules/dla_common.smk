# Configuration-derived paths and input functions of the layout stage (rules in dla.smk).

DLA = CFG["dla"]
DLA_RES = f"{RES}/dla"
# the COCO files and page images the detectors train / evaluate on
DLA_DATA_ROOT = f"{SYN}/rvl" if SYNTHETIC else "data/raw/doclaynet"


def dla_models():
    """Model folder names `<teacher or none>__<role>__<method>` of Table 3."""
    names = [f"none__{r}__supervised" for r in DLA["teachers"] + DLA["students"]]
    for block in DLA["distill"]:
        names += [f"{block['teacher']}__{block['student']}__{m}" for m in block["methods"]]
    return names


DLA_MODELS = dla_models()


def dla_job_config(wc):
    """The part of `dla` one training job depends on: its family's recipe, its role's overrides, its
    method's hyper-parameters (and the shared settings). Snakemake re-runs a job when its params change,
    so a new ViT recipe re-trains the ViT models only, not the ResNets."""
    family = "vit" if wc.dla_role.startswith("ViT") else "resnet"  # as the detector presets name them
    cfg = {k: v for k, v in DLA.items() if k not in ("recipes", "recipe_overrides", "methods", "overrides",
                                                     "efficiency", "distill", "teachers", "students")}
    cfg["recipes"] = {family: DLA["recipes"][family]}
    cfg["recipe_overrides"] = {r: o for r, o in DLA.get("recipe_overrides", {}).items() if r == wc.dla_role}
    cfg["overrides"] = {r: o for r, o in DLA.get("overrides", {}).items() if r == wc.dla_role}
    cfg["methods"] = {m: h for m, h in DLA["methods"].items() if m == wc.dla_method}
    return cfg


def dla_train_inputs(wc):
    inp = {"train": f"{DLA_RES}/data/train.json", "val": f"{DLA_RES}/data/val.json"}
    if wc.dla_teacher != "none":
        inp["teacher"] = f"{DLA_RES}/models/none__{wc.dla_teacher}__supervised/model.pt"
    return inp


# the DocVQA questions (and so the pages) the layout predictions are made for
DOCVQA_PAGES_INPUT = f"{RES}/docvqa/questions.json"  # written by rule docvqa_select
