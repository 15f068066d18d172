# Document image classification (the paper's Tables 6, 9, 10-12, 15, 18-19): decode splits once,
# train teachers (each caches its outputs on the student splits), train students per (teacher,
# student) pair with every method of the grid, then write the tables.


wildcard_constraints:
    teacher=WILDCARDS["teacher"],
    pteacher=WILDCARDS["pteacher"],
    student=WILDCARDS["student"],
    dsname="rvl|tobacco",
    init="imagenet|random",
    seed=r"\d+",


# splits decoded together (DECODE_GROUPS: one process per group, importing torch costs more than decoding)
for _group in DECODE_GROUPS:

    rule:
        name:
            f"dic_decode_{_group}"
        input:
            **DIC_PLAN.decode_inputs(_group),
        output:
            DIC_PLAN.decode_outputs(_group),
        params:
            roots=DIC_PLAN.decode_roots(_group),
            size=SIZE,
        log:
            f"{LOGS}/dic/decode_{_group}.log",
        benchmark:
            f"{LOGS}/benchmarks/dic_decode/decode_{_group}.tsv"
        threads: 1
        priority: 20  # about a minute that gates the teachers (the DAG's longest chains start there)
        conda:
            ENV
        message:
            f"Decoding the {_group} splits once to uint8 {SIZE}x{SIZE}"
        script:
            "../scripts/dic_decode.py"


rule dic_train_teacher:
    input:
        unpack(lambda wc: DIC_PLAN.teacher_inputs(wc.dsname, wc.teacher)),
        student_splits=lambda wc: DIC_PLAN.student_split_paths(wc.dsname),
    output:
        metrics=f"{DIC_RES}/teachers/{{dsname}}/{{teacher}}/metrics.json",
        model=f"{DIC_RES}/teachers/{{dsname}}/{{teacher}}/model.safetensors",
        # the teacher's outputs on the student train / val splits, computed once, content-keyed
        cache_train=DIC_PLAN.subset_cache_path("{dsname}", "{teacher}", "train"),
        cache_val=DIC_PLAN.subset_cache_path("{dsname}", "{teacher}", "val"),
    params:
        # only what this teacher reads: editing a student recipe or the grid re-trains no teacher
        dic=lambda wc: DIC_PLAN.teacher_view(wc.dsname, wc.teacher),
    log:
        f"{LOGS}/dic/teacher_{{dsname}}_{{teacher}}.log",
    benchmark:
        f"{LOGS}/benchmarks/dic_train_teacher/teacher_{{dsname}}_{{teacher}}.tsv"
    threads: 1
    # the teachers head the DAG's longest chain (teacher -> its students -> tables): start them first
    priority: 10
    resources:
        **train_resources(),
    conda:
        ENV
    message:
        "Training teacher {wildcards.teacher} on {wildcards.dsname}; caching its outputs on the student splits"
    script:
        "../scripts/dic_train_teacher.py"


rule dic_teacher_cache_full:
    input:
        unpack(lambda wc: DIC_PLAN.full_cache_inputs(wc.dsname, wc.teacher)),
    output:
        cache_train=DIC_PLAN.full_cache_path("{dsname}", "{teacher}", "train"),
        cache_val=DIC_PLAN.full_cache_path("{dsname}", "{teacher}", "val"),
    params:
        dtype=DIC_PLAN.cfg.raw["cache_dtype"],
        batch_size=DIC_PLAN.cfg.raw["eval_batch_size"],
    log:
        f"{LOGS}/dic/teacher_cache_{{dsname}}_{{teacher}}_full.log",
    benchmark:
        f"{LOGS}/benchmarks/dic_teacher_cache_full/{{dsname}}_{{teacher}}.tsv"
    threads: 1
    priority: 10
    conda:
        ENV
    message:
        "Caching teacher {wildcards.teacher}'s outputs on its own {wildcards.dsname} train / val splits (dic.student_pages: full)"
    script:
        "../scripts/dic_teacher_cache.py"


rule dic_train_students:
    input:
        unpack(lambda wc: DIC_PLAN.student_inputs(wc.dsname, wc.pteacher, wc.student, wc.init)),
    output:
        # one run folder per method of this pair: <method>/{metrics.json, logits_*.npz, artefact}
        runs=directory(f"{DIC_RES}/runs/{{dsname}}/{{pteacher}}__{{student}}__{{init}}__s{{seed}}"),
    params:
        # only what this job reads: a teacher recipe or another cell's method re-runs no finished student
        dic=lambda wc: DIC_PLAN.student_view(*student_job(wc)),
        methods=lambda wc: DIC_PLAN.student_methods(*student_job(wc)),
    log:
        f"{LOGS}/dic/students_{{dsname}}_{{pteacher}}_{{student}}_{{init}}_s{{seed}}.log",
    benchmark:
        f"{LOGS}/benchmarks/dic_train_students/students_{{dsname}}_{{pteacher}}_{{student}}_{{init}}_s{{seed}}.tsv"
    threads: 1
    resources:
        **train_resources(),
    conda:
        ENV
    message:
        "Distilling {wildcards.pteacher} -> {wildcards.student} ({wildcards.dsname}, {wildcards.init} init, seed {wildcards.seed}): {params.methods}"
    script:
        "../scripts/dic_train_students.py"


rule dic_tables:
    input:
        # one per (dataset, teacher), however many grid blocks name the teacher
        teachers=DIC_PLAN.teacher_metrics(),
        runs=DIC_PLAN.pair_dirs(),
    output:
        runs_csv=f"{RES}/metrics/dic_runs.csv",
        summary=f"{RES}/metrics/dic.json",
        # KD vs the supervised student with Welch (seeds) and paired-bootstrap (pages) intervals, and the
        # knowledge gap (distildoc.report.dic_stats); their Markdown / LaTeX views go to tables/dic/
        kd_csv=f"{RES}/metrics/dic_kd_vs_supervised.csv",
        gap_csv=f"{RES}/metrics/dic_knowledge_gap.csv",
        tables=directory(f"{RES}/tables/dic"),
    log:
        f"{LOGS}/dic/tables.log",
    benchmark:
        f"{LOGS}/benchmarks/dic_tables/tables.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Writing the classification tables (6, 9, 10-12, 15, 18-19), KD vs supervised with intervals, knowledge gap"
    script:
        "../scripts/dic_tables.py"


rule dic:
    input:
        rules.dic_tables.output,


ALL_TARGETS.extend(rules.dic_tables.output)
