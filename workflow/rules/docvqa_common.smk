# Configuration-derived names, paths and input functions of the DocVQA stage (rules in docvqa.smk).

DOCVQA = CFG["docvqa"]
DOCVQA_RES = f"{RES}/docvqa"
QA_ROOT = f"{SYN}/rvl" if SYNTHETIC else "data/raw/docvqa"
DV_DATASETS = {d["name"]: d for d in DOCVQA["datasets"]}
DV_PRIMARY = DOCVQA["datasets"][0]["name"]  # its questions: docvqa_select; its layout predictions: dla stage
DV_EXTRA = [n for n in DV_DATASETS if n != DV_PRIMARY]


def docvqa_dla_models():
    """Layout models whose tags the grid tries (`docvqa.dla_models`: `all` = Table 3's models; a name the
    layout stage does not train is stopped by distildoc.config_checks when the configuration loads)."""
    return list(DLA_MODELS) if DOCVQA["dla_models"] == "all" else list(DOCVQA["dla_models"])


DV_DLA_MODELS = docvqa_dla_models() if DOCVQA["dla_prompts"] else []
# (prompt, dla_model) of every cell, in the order of distildoc.docvqa.run.grid_cells
DV_CELLS = [(p, "none") for p in DOCVQA["prompts"]] + [(p, m) for m in DV_DLA_MODELS for p in DOCVQA["dla_prompts"]]
DV_REALFIXTURE = DOCVQA["realfixture"]
DV_REALFIXTURE_DIR = DV_REALFIXTURE["path"]
DV_REALFIXTURE_ON = Path(DV_REALFIXTURE_DIR).is_dir()
if DOCVQA["table4_dla_model"] not in DV_DLA_MODELS and DV_DLA_MODELS:
    raise WorkflowError(f"params.yaml docvqa.table4_dla_model: {DOCVQA['table4_dla_model']!r} is not among "
                        f"docvqa.dla_models ({', '.join(DV_DLA_MODELS)})")


wildcard_constraints:
    dv_dataset="|".join(DV_DATASETS),
    dv_extra="|".join(DV_EXTRA) if DV_EXTRA else "$^",


def dv_questions(ds):
    return f"{DOCVQA_RES}/questions.json" if ds == DV_PRIMARY else f"{DOCVQA_RES}/{ds}/questions.json"


def dv_dla_predictions(ds, model):
    return f"{DLA_RES}/predictions/{model}.json" if ds == DV_PRIMARY else f"{DOCVQA_RES}/{ds}/dla/{model}.json"


def dv_ocr_input(ds):
    ocr = DV_DATASETS[ds]["ocr"]
    if ocr["source"] == "synthetic":
        return ocr.get("path") or f"{SYN}/rvl/ocr/{DOCVQA['qa_split']}.jsonl"
    if ocr["source"] == "due":
        if not ocr.get("path"):
            raise WorkflowError(f"params.yaml docvqa.datasets[{ds}].ocr.path: a DUE source needs its jsonl path")
        return ocr["path"]
    return []  # tesseract: the page images named in the questions


def dv_cell_files(ds, name):
    return [f"{DOCVQA_RES}/{ds}/runs/{m}/{p}/{name}" for p, m in DV_CELLS]


def dv_realfixture_inputs(wc):
    if not DV_REALFIXTURE_ON:
        raise WorkflowError(f"docvqa_realfixture: the real DocVQA fixture folder {DV_REALFIXTURE_DIR!r} (params.yaml "
                            "docvqa.realfixture.path, relative to the repository) does not exist; it holds "
                            "val_v1.0.json and the page images of ../shared/realdata/docvqa")
    inp = {"qa": f"{DV_REALFIXTURE_DIR}/val_v1.0.json", "folder": DV_REALFIXTURE_DIR}
    if DV_REALFIXTURE["dla_model"]:
        inp["model"] = f"{DLA_RES}/models/{DV_REALFIXTURE['dla_model']}/model.pt"
    return inp
