# Document layout analysis (the paper's Table 3; Table 13 on PRImA in the paper preset): supervised
# teachers and students, students distilled with SimKD on the FPN levels and ReviewKD, COCO mAP,
# FLOPs, parameters, images/s, and the layout predictions the DocVQA stage reads.


wildcard_constraints:
    dla_role="R101-FPN|R50-FPN|ViT-B-FPN|ViT-T-FPN",
    dla_method="supervised|simkd_fpn|reviewkd",
    dla_teacher="R101-FPN|ViT-B-FPN|none",


rule dla_split:
    input:
        train=f"{DLA_DATA_ROOT}/layout/train.json",
        val=f"{DLA_DATA_ROOT}/layout/val.json",
    output:
        train=f"{DLA_RES}/data/train.json",
        val=f"{DLA_RES}/data/val.json",
    params:
        n_train=DLA["train_pages"],
        n_val=DLA["eval_pages"],
    log:
        f"{LOGS}/dla/split.log",
    threads: 1
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
    threads: 1
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
        questions=DOCVQA_PAGES_INPUT,
    output:
        f"{DLA_RES}/predictions/{{dla_teacher}}__{{dla_role}}__{{dla_method}}.json",
    params:
        score_thresh=DLA["export_score_thresh"],
    log:
        f"{LOGS}/dla/predict_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    threads: 1
    conda:
        ENV
    message:
        "Layout predictions of {wildcards.dla_role} ({wildcards.dla_method}) on the DocVQA pages"
    script:
        "../scripts/dla_predict.py"


rule dla_efficiency:
    input:
        models=[f"{DLA_RES}/models/{m}/model.pt" for m in DLA_MODELS],
    output:
        f"{DLA_RES}/efficiency.json",
    params:
        efficiency=DLA["efficiency"],
    log:
        f"{LOGS}/dla/efficiency.log",
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
    output:
        runs_csv=f"{RES}/metrics/dla_runs.csv",
        summary=f"{RES}/metrics/dla.json",
        tables=directory(f"{RES}/tables/dla"),
    log:
        f"{LOGS}/dla/tables.log",
    threads: 1
    conda:
        ENV
    message:
        "Writing the layout analysis table (Table 3)"
    script:
        "../scripts/dla_tables.py"


rule dla:
    input:
        rules.dla_tables.output,
        [f"{DLA_RES}/predictions/{m}.json" for m in DLA_MODELS],


ALL_TARGETS.extend(rules.dla.input)
