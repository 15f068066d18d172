# Document layout analysis (the paper's Table 3; Table 13 on PRImA in the paper preset): supervised
# teachers and students, students distilled with SimKD on the FPN levels and ReviewKD, COCO mAP,
# FLOPs, parameters, images/s, and the layout predictions the DocVQA stage reads.


wildcard_constraints:
    dla_role=WILDCARDS["dla_role"],
    dla_method=WILDCARDS["dla_method"],
    dla_teacher=WILDCARDS["dla_teacher"],


rule dla_split:
    input:
        train=f"{DLA_DATA_ROOT}/layout/train.json",
        val=f"{DLA_DATA_ROOT}/layout/val.json",
    output:
        train=f"{DLA_RES}/data/train.json",
        val=f"{DLA_RES}/data/val.json",
    params:
        n_train=DLA.param("train_pages"),
        n_val=DLA.param("eval_pages"),
    log:
        f"{LOGS}/dla/split.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_split/split.tsv"
    threads: 1
    priority: 20  # seconds that gate the layout chain (priorities do not pass to a job's inputs)
    conda:
        ENV
    message:
        "Layout pages: first {params.n_train} train / {params.n_val} val pages"
    script:
        "../scripts/dla_split.py"


rule dla_train:
    input:
        unpack(dla_train_inputs),
    output:
        metrics=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/metrics.json",
        model=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/model.pt",
    params:
        dla=dla_job_config,
        images_root=DLA_DATA_ROOT,
        seed=SEED,
    log:
        f"{LOGS}/dla/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_train/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
    threads: 1
    # the layout chain (teacher -> distilled students -> predictions -> DocVQA grid) is the DAG's longest: start it
    # beside the classification teachers, so that the many short student jobs fill the cores at the end
    priority: 10
    resources:
        **train_resources(),
    conda:
        ENV
    message:
        "Layout model {wildcards.dla_role} ({wildcards.dla_method}, teacher {wildcards.dla_teacher})"
    script:
        "../scripts/dla_train.py"


rule dla_predict:
    input:
        model=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/model.pt",
        questions=PLAN.docvqa.questions(PLAN.docvqa.primary),  # the DocVQA pages the predictions are for
    output:
        f"{DLA_RES}/predictions/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.json",
    params:
        score_thresh=DLA.param("export_score_thresh"),
    log:
        f"{LOGS}/dla/predict_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_predict/predict_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Layout predictions of {wildcards.dla_role} ({wildcards.dla_method}) on the DocVQA pages"
    script:
        "../scripts/dla_predict.py"


# Any trained layout model over any folder of page images (`dla.predict_folders: {name: folder}`; not part of
# `all`): results/<preset>/dla/folders/<name>/<model>.json, the same format as the DocVQA pages' predictions.
rule dla_predict_folder:
    input:
        model=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/model.pt",
        folder=lambda wc: DLA_PLAN.predict_folders[wc.folder],
    output:
        f"{DLA_RES}/folders/{{folder}}/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.json",
    params:
        score_thresh=DLA.param("export_score_thresh"),
    log:
        f"{LOGS}/dla/folders/{{folder}}/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_predict_folder/folders/{{folder}}/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
    wildcard_constraints:
        folder="|".join(map(re.escape, DLA_PLAN.predict_folders)) or "(?!)",
    threads: 1
    conda:
        ENV
    message:
        "Layout predictions of {wildcards.dla_role} ({wildcards.dla_method}) on the page images of {input.folder}"
    script:
        "../scripts/dla_predict_folder.py"


rule dla_folders:
    input:
        [f"{DLA_RES}/folders/{name}/{m}.json" for name in DLA_PLAN.predict_folders for m in DLA_MODELS],


# Every Table 3 model on the real PubLayNet pages (`dla.real_eval.publaynet`): DocLayNet classes mapped to
# PubLayNet's 5, list items merged into lists, COCO bbox mAP + per-class AP (distildoc.evaluate.publaynet);
# dla_tables puts it in dla_runs.csv (mAP_publaynet) and Table 3. Part of `dla` when the folder exists.
rule dla_eval_publaynet:
    input:
        unpack(lambda wc: DLA_PLAN.publaynet_inputs(wc.dla_teacher, wc.dla_role, wc.dla_method)),
    output:
        metrics=f"{DLA_PUBLAYNET_RES}/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.json",
        predictions=f"{DLA_PUBLAYNET_RES}/predictions/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.json",
    params:
        score_thresh=DLA.param("eval_score_thresh"),
    log:
        f"{LOGS}/dla/real_eval/publaynet/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_eval_publaynet/real_eval/publaynet/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Layout model {wildcards.dla_role} ({wildcards.dla_method}) on the real PubLayNet pages: mAP_publaynet"
    script:
        "../scripts/dla_eval_publaynet.py"


rule dla_efficiency:
    input:
        models=[f"{DLA_RES}/models/{m}/model.pt" for m in DLA_MODELS],
        val=rules.dla_split.output.val,  # timed on its first `efficiency.pages` pages
    output:
        f"{DLA_RES}/efficiency.json",
    params:
        efficiency=DLA.param("efficiency"),
        images_root=DLA_DATA_ROOT,
    log:
        f"{LOGS}/dla/efficiency.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_efficiency/efficiency.tsv"
    # all cores: nothing else runs while the models are timed (torch uses this many threads)
    threads: workflow.cores
    conda:
        ENV
    message:
        "Parameters, FLOPs and images/s of {n} layout models, measured side by side".format(n=len(DLA_MODELS))
    script:
        "../scripts/dla_efficiency.py"


rule dla_tables:
    input:
        metrics=[f"{DLA_RES}/models/{m}/metrics.json" for m in DLA_MODELS],
        efficiency=rules.dla_efficiency.output[0],
        **DLA_PLAN.tables_extra("metrics"),
        **DLA_PLAN.tables_extra("efficiency"),
        **DLA_PLAN.publaynet_outputs(),
    output:
        runs_csv=f"{RES}/metrics/dla_runs.csv",
        summary=f"{RES}/metrics/dla.json",
        # Table 3, and the further layout datasets' tables (paper: table13.{csv,md,tex}, PRImA)
        tables=directory(f"{RES}/tables/dla"),
        **DLA_PLAN.tables_extra("outputs"),
    params:
        **DLA_PLAN.table_params,
    log:
        f"{LOGS}/dla/tables.log",
    benchmark:
        f"{LOGS}/benchmarks/dla_tables/tables.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Writing the layout analysis table (Table 3)"
    script:
        "../scripts/dla_tables.py"


# Further layout datasets of the paper preset (`dla.datasets[1:]`, PRImA: Table 13): the same page-set,
# training and efficiency steps and scripts, under results/<preset>/dla/<dataset>/; their table is written by
# dla_tables. No layout predictions: the DocVQA stage uses Table 3's models.
if DLA_EXTRA:

    wildcard_constraints:
        dla_extra="|".join(DLA_EXTRA),

    rule dla_split_extra:
        input:
            train="data/raw/{dla_extra}/layout/train.json",
            val="data/raw/{dla_extra}/layout/val.json",
        output:
            train=f"{DLA_RES}/{{dla_extra}}/data/train.json",
            val=f"{DLA_RES}/{{dla_extra}}/data/val.json",
        params:
            n_train=DLA.param("train_pages"),
            n_val=DLA.param("eval_pages"),
        log:
            f"{LOGS}/dla/{{dla_extra}}/split.log",
        benchmark:
            f"{LOGS}/benchmarks/dla_split_extra/{{dla_extra}}/split.tsv"
        threads: 1
        conda:
            ENV
        message:
            "Layout pages of {wildcards.dla_extra}: first {params.n_train} train / {params.n_val} val pages"
        script:
            "../scripts/dla_split.py"

    rule dla_train_extra:
        input:
            unpack(dla_train_inputs),
        output:
            metrics=f"{DLA_RES}/{{dla_extra}}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/metrics.json",
            model=f"{DLA_RES}/{{dla_extra}}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/model.pt",
        params:
            dla=dla_job_config,
            images_root="data/raw/{dla_extra}",
            seed=SEED,
        log:
            f"{LOGS}/dla/{{dla_extra}}/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
        benchmark:
            f"{LOGS}/benchmarks/dla_train_extra/{{dla_extra}}/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
        threads: 1
        resources:
            **train_resources(),
        conda:
            ENV
        message:
            "Layout model {wildcards.dla_role} on {wildcards.dla_extra} ({wildcards.dla_method}, teacher {wildcards.dla_teacher})"
        script:
            "../scripts/dla_train.py"

    rule dla_efficiency_extra:
        input:
            models=[f"{DLA_RES}/{{dla_extra}}/models/{m}/model.pt" for m in DLA_MODELS],
            val=f"{DLA_RES}/{{dla_extra}}/data/val.json",
        output:
            f"{DLA_RES}/{{dla_extra}}/efficiency.json",
        params:
            efficiency=DLA.param("efficiency"),
            images_root="data/raw/{dla_extra}",
        log:
            f"{LOGS}/dla/{{dla_extra}}/efficiency.log",
        benchmark:
            f"{LOGS}/benchmarks/dla_efficiency_extra/{{dla_extra}}/efficiency.tsv"
        threads: workflow.cores
        conda:
            ENV
        message:
            "Parameters, FLOPs and images/s of the {wildcards.dla_extra} layout models, measured side by side"
        script:
            "../scripts/dla_efficiency.py"


rule dla:
    input:
        rules.dla_tables.output,
        [f"{DLA_RES}/predictions/{m}.json" for m in DLA_MODELS],
        DLA_PLAN.publaynet_outputs().get("publaynet", []),


ALL_TARGETS.extend(rules.dla.input)
