# Zero-shot layout-aware DocVQA (the paper's Table 4 and Tables 16-17): a question set, OCR, DLA tags
# inserted from each layout model's predictions, four prompt types, an LLM reader, ANLS per type.
# One `docvqa_grid` job per dataset loads the reader once and writes every cell
# (runs/<dla_model>/<prompt>/{predictions.jsonl,metrics.json}); identical prompts are answered once.

include: "docvqa_common.smk"


rule docvqa_select:
    input:
        qa=f"{QA_ROOT}/qa/{DOCVQA.qa_split}.json" if SYNTHETIC else f"{QA_ROOT}/.complete",
        images=f"{QA_ROOT}/images/{DOCVQA.qa_split}" if SYNTHETIC else f"{QA_ROOT}/.complete",
    output:
        f"{DOCVQA_RES}/questions.json",
    params:
        # synthetic: the QA JSON is the input itself and images sit under <dataset>/images/<split>;
        # real: both come out of the download (its marker is the input), paths from docvqa.datasets[0]
        qa_json=lambda wc, input: input.qa if SYNTHETIC else (
            DV_DATASETS[DV_PRIMARY].qa_json or str(Path(input.qa).parent / "val_v1.0.json")),
        images_root=lambda wc, input: str(Path(input.images).parents[1]) if SYNTHETIC else (
            DV_DATASETS[DV_PRIMARY].images_root or str(Path(input.images).parent)),
        max_questions=DOCVQA.param("max_questions"),
        seed=SEED,
    log:
        f"{LOGS}/docvqa/select.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_select/select.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Selecting up to {params.max_questions} questions (stratified by type)"
    script:
        "../scripts/docvqa_select.py"


rule docvqa_select_extra:
    input:
        lambda wc: DV_DATASETS[wc.dv_extra].qa_json if SYNTHETIC else f"data/raw/{wc.dv_extra}/.complete",
    output:
        f"{DOCVQA_RES}/{{dv_extra}}/questions.json",
    params:
        qa_json=lambda wc: DV_DATASETS[wc.dv_extra].qa_json,
        images_root=lambda wc: DV_DATASETS[wc.dv_extra].images_root,
        max_questions=DOCVQA.param("max_questions"),
        seed=SEED,
    log:
        f"{LOGS}/docvqa/select_{{dv_extra}}.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_select_extra/select_{{dv_extra}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Selecting up to {params.max_questions} {wildcards.dv_extra} questions (stratified by type)"
    script:
        "../scripts/docvqa_select.py"


rule docvqa_dla_predict_extra:
    input:
        model=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/model.pt",
        questions=f"{DOCVQA_RES}/{{dv_extra}}/questions.json",
    output:
        f"{DOCVQA_RES}/{{dv_extra}}/dla/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.json",
    params:
        score_thresh=DLA.param("export_score_thresh"),
    log:
        f"{LOGS}/docvqa/dla_{{dv_extra}}_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_dla_predict_extra/dla_{{dv_extra}}_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Layout predictions of {wildcards.dla_role} ({wildcards.dla_method}) on the {wildcards.dv_extra} pages"
    script:
        "../scripts/dla_predict.py"


rule docvqa_grid:
    input:
        questions=lambda wc: DV_PLAN.questions(wc.dv_dataset),
        ocr=lambda wc: DV_PLAN.ocr_input(wc.dv_dataset),
        dla=lambda wc: [DV_PLAN.dla_predictions(wc.dv_dataset, m) for m in DV_DLA_MODELS],
    output:
        predictions=dv_cell_files("{dv_dataset}", "predictions.jsonl"),
        metrics=dv_cell_files("{dv_dataset}", "metrics.json"),
        summary=f"{DOCVQA_RES}/{{dv_dataset}}/grid.json",
    params:
        dataset=lambda wc: DV_DATASETS[wc.dv_dataset].as_dict(),
        # only the keys the grid reads (DOCVQA_RUN_KEYS): the question count or the tables' choices re-run no reader
        docvqa=DV_PLAN.run_view(),
        dla_models=DV_DLA_MODELS,
        runs_dir=lambda wc: f"{DOCVQA_RES}/{wc.dv_dataset}/runs",
    log:
        f"{LOGS}/docvqa/grid_{{dv_dataset}}.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_grid/grid_{{dv_dataset}}.tsv"
    # the LLM uses both cores (OMP_WAIT_POLICY=PASSIVE is set by the script before torch loads)
    threads: 2
    resources:
        **train_resources(),
    conda:
        ENV
    message:
        "DocVQA grid on {{wildcards.dv_dataset}}: {n} cells (prompt x DLA model), one reader".format(n=len(DV_PLAN.cells))
    script:
        "../scripts/docvqa_grid.py"


rule docvqa_reader:
    input:
        questions=DV_PLAN.questions(DV_PRIMARY),
        ocr=DV_PLAN.ocr_input(DV_PRIMARY),
        dla=[],
    output:
        predictions=DV_PLAN.reader_files("{dv_reader}", "predictions.jsonl"),
        metrics=DV_PLAN.reader_files("{dv_reader}", "metrics.json"),
        summary=f"{DOCVQA_RES}/{DV_PRIMARY}/readers/{{dv_reader}}/grid.json",
    params:
        dataset=DV_DATASETS[DV_PRIMARY].as_dict(),
        # the grid's reader keys with this reader and no layout prompts (DocvqaConfig.reader_view)
        docvqa=lambda wc: DOCVQA.reader_view(wc.dv_reader),
        dla_models=[],
        runs_dir=lambda wc: f"{DV_PLAN.reader_dir(wc.dv_reader)}/runs",
    log:
        f"{LOGS}/docvqa/reader_{{dv_reader}}.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_reader/reader_{{dv_reader}}.tsv"
    threads: 2
    resources:
        **train_resources(),
    conda:
        ENV
    message:
        f"Table 16's reader dimension: reader {{wildcards.dv_reader}} on the no-layout prompts of {DV_PRIMARY}"
    script:
        "../scripts/docvqa_grid.py"


rule docvqa_realfixture:
    input:
        unpack(lambda wc: DV_PLAN.realfixture_inputs()),
    output:
        metrics=f"{DOCVQA_RES}/realfixture/metrics.json",
        predictions=f"{DOCVQA_RES}/realfixture/predictions.jsonl",
        ocr=f"{DOCVQA_RES}/realfixture/ocr.json",
    params:
        docvqa=DV_PLAN.run_view(),
        realfixture=DOCVQA.param("realfixture"),
        seed=SEED,
    log:
        f"{LOGS}/docvqa/realfixture.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_realfixture/realfixture.tsv"
    threads: 2
    # needs only the layout teacher: run it when that is ready rather than last, after the tables
    priority: 5
    conda:
        ENV
    message:
        "Real DocVQA fixture pages: Tesseract -> DLA -> 4 prompts x (no DLA, DLA) -> reader -> ANLS"
    script:
        "../scripts/docvqa_realfixture.py"


rule docvqa_tables:
    input:
        metrics=DV_PLAN.all_cell_files("metrics.json"),
        summaries=[f"{DOCVQA_RES}/{ds}/grid.json" for ds in DV_DATASETS],
        # Table 16's reader dimension: the further readers' cells and job summaries
        reader_metrics=DV_PLAN.all_reader_files("metrics.json"),
        reader_summaries=[f"{DV_PLAN.reader_dir(r)}/grid.json" for r in DV_PLAN.readers],
    output:
        runs_csv=f"{RES}/metrics/docvqa_runs.csv",
        summary=f"{RES}/metrics/docvqa.json",
        tables=[f"{RES}/tables/docvqa/{t}.{e}" for t in ("table4", "table16", "table17")
                + (("table16_readers",) if DV_PLAN.readers else ()) for e in ("csv", "md", "tex")],
    params:
        datasets=DOCVQA.param("datasets"),
        table4_dla_model=DOCVQA.param("table4_dla_model"),
        prompts=DOCVQA.param("prompts"),
        tables_dir=lambda wc, output: str(Path(output.tables[0]).parent),
    log:
        f"{LOGS}/docvqa/tables.log",
    benchmark:
        f"{LOGS}/benchmarks/docvqa_tables/tables.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Writing the DocVQA tables (Tables 4, 16, 17) and docvqa_runs.csv"
    script:
        "../scripts/docvqa_tables.py"


rule docvqa:
    input:
        rules.docvqa_tables.output,
        DV_PLAN.all_cell_files("predictions.jsonl"),
        DV_PLAN.all_reader_files("predictions.jsonl"),
        rules.docvqa_realfixture.output if DV_REALFIXTURE_ON else [],


ALL_TARGETS.extend(rules.docvqa.input)
