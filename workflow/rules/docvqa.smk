# Zero-shot layout-aware DocVQA (the paper's Table 4 and Tables 16-17): a question set, OCR, DLA tags
# inserted from each layout model's predictions, four prompt types, an LLM reader, ANLS per type.

DOCVQA = CFG["docvqa"]
DOCVQA_RES = f"{RES}/docvqa"
QA_ROOT = f"{SYN}/rvl" if SYNTHETIC else "data/raw/docvqa"


rule docvqa_select:
    input:
        qa=f"{QA_ROOT}/qa/{DOCVQA['qa_split']}.json" if SYNTHETIC else f"{QA_ROOT}/.complete",
        images=f"{QA_ROOT}/images/{DOCVQA['qa_split']}" if SYNTHETIC else f"{QA_ROOT}/.complete",
    output:
        f"{DOCVQA_RES}/questions.json",
    params:
        # synthetic: the QA JSON is the input itself and images sit under <dataset>/images/<split>;
        # real: both come out of the download (its marker is the input)
        qa_json=lambda wc, input: input.qa if SYNTHETIC else str(Path(input.qa).parent / "val_v1.0.json"),
        images_root=lambda wc, input: str(Path(input.images).parents[1 if SYNTHETIC else 0]),
        max_questions=DOCVQA["max_questions"],
        seed=SEED,
    log:
        f"{LOGS}/docvqa/select.log",
    threads: 1
    conda:
        ENV
    message:
        "Selecting up to {params.max_questions} questions (stratified by type)"
    script:
        "../scripts/docvqa_select.py"
