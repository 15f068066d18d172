# ONNX exports of a preset's trained models and the deployment table (docs/deploy.md); not part of `all`:
#   snakemake --cores 2 export --config preset=smoke
# One export job per classification teacher, per student method run of the dataset's first seed (`dic.seeds`)
# and per layout model: results/<preset>/export/dic/<run id>/ (the run's path under results/<preset>/dic/) and
# results/<preset>/export/dla/<model>/ (model.onnx [+ model.int8.onnx], parity.json, config.json, README.md).
# Then one job times them all side by side: results/<preset>/tables/deploy/deploy.{csv,md,tex}.

import re

from distildoc.export.deploy import dic_export_runs, dla_export_models, export_files, export_settings

EXPORT = export_settings(SETTINGS.as_dict().get("export"))
EXPORT_RES = f"{RES}/export"
# what export_deploy's timing uses of the `export` section (the export jobs use int8 / parity_pages)
EXPORT_TIMING = {k: EXPORT[k] for k in ("batch_sizes", "pages", "warmup", "iters", "rounds")}
EXPORT_DIC_RUNS = dic_export_runs(DIC)
# what export_deploy times and tabulates, one entry per export: the model's folder (`source`) and its export
EXPORT_ENTRIES = [
    {**{k: r[k] for k in ("id", "dataset", "role", "method", "teacher")}, "task": "dic",
     "source": f"{DIC_RES}/{r['id']}", "export": f"{EXPORT_RES}/dic/{r['id']}"}
    for r in EXPORT_DIC_RUNS
] + [
    {**m, "task": "dla", "source": f"{DLA_RES}/models/{m['id']}", "export": f"{EXPORT_RES}/dla/{m['id']}"}
    for m in dla_export_models(DLA)
]


rule export_dic_teacher:
    input:
        metrics=f"{DIC_RES}/teachers/{{dsname}}/{{teacher}}/metrics.json",
        model=f"{DIC_RES}/teachers/{{dsname}}/{{teacher}}/model.safetensors",
        # the dataset's test split (parity, accuracy of each variant) and validation split (int8 calibration)
        test=lambda wc: tensor_path(DIC_DATA[wc.dsname]["eval"]["test"]),
        calib=lambda wc: tensor_path(DIC_DATA[wc.dsname]["teacher"][1]),
    output:
        **export_files(f"{EXPORT_RES}/dic/teachers/{{dsname}}/{{teacher}}", EXPORT["int8"]),
    params:
        quantization="auto" if EXPORT["int8"] else "none",
        parity_pages=EXPORT["parity_pages"],
    log:
        f"{LOGS}/export/dic_teacher_{{dsname}}_{{teacher}}.log",
    benchmark:
        f"{LOGS}/benchmarks/export_dic_teacher/dic_teacher_{{dsname}}_{{teacher}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "ONNX export of teacher {wildcards.teacher} ({wildcards.dsname}): fp32, int8, parity on the test split, model card"
    script:
        "../scripts/export_classifier.py"


rule export_dic_student:
    input:
        runs=lambda wc: pair_dir(wc.dsname, wc.pteacher, wc.student, wc.init, wc.seed),
        test=lambda wc: tensor_path(DIC_DATA[wc.dsname]["eval"]["test"]),
        calib=lambda wc: tensor_path(DIC_DATA[wc.dsname]["teacher"][1]),
    output:
        **export_files(
            f"{EXPORT_RES}/dic/runs/{{dsname}}/{{pteacher}}__{{student}}__{{init}}__s{{seed}}/{{method}}",
            EXPORT["int8"],
        ),
    params:
        quantization="auto" if EXPORT["int8"] else "none",
        parity_pages=EXPORT["parity_pages"],
    log:
        f"{LOGS}/export/dic_{{dsname}}_{{pteacher}}__{{student}}__{{init}}__s{{seed}}_{{method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/export_dic_student/dic_{{dsname}}_{{pteacher}}__{{student}}__{{init}}__s{{seed}}_{{method}}.tsv"
    wildcard_constraints:
        method="|".join(map(re.escape, DIC.methods)),
    threads: 1
    conda:
        ENV
    message:
        "ONNX export of {wildcards.pteacher} -> {wildcards.student} {wildcards.method} ({wildcards.dsname}, {wildcards.init} init, seed {wildcards.seed})"
    script:
        "../scripts/export_classifier.py"


rule export_dla:
    input:
        model=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/model.pt",
        metrics=f"{DLA_RES}/models/{{dla_teacher}}__{{dla_role}}__{{dla_method}}/metrics.json",
        pages=rules.dla_split.output.val,  # the parity check runs on its first readable pages
    output:
        **export_files(f"{EXPORT_RES}/dla/{{dla_teacher}}__{{dla_role}}__{{dla_method}}", False),
    params:
        images_root=DLA_DATA_ROOT,
    log:
        f"{LOGS}/export/dla_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.log",
    benchmark:
        f"{LOGS}/benchmarks/export_dla/dla_{{dla_teacher}}__{{dla_role}}__{{dla_method}}.tsv"
    threads: 1
    conda:
        ENV
    message:
        "ONNX export of layout model {wildcards.dla_role} ({wildcards.dla_method}, teacher {wildcards.dla_teacher}): boxes graph, parity, model card"
    script:
        "../scripts/export_detector.py"


rule export_deploy:
    input:
        exports=[f"{e['export']}/parity.json" for e in EXPORT_ENTRIES],
        # the PyTorch models timed beside their exports
        dic_runs=[f"{DIC_RES}/{r['id']}/model.safetensors" for r in EXPORT_DIC_RUNS if r["role"] == "teacher"]
        + sorted({pair_dir(*r["pair"]) for r in EXPORT_DIC_RUNS if r["role"] == "student"}),
        dla_models=[f"{DLA_RES}/models/{m}/model.pt" for m in DLA_MODELS],
        # classifiers are timed on the first dataset's test pages, detectors on the layout evaluation pages
        test=tensor_path(DIC_DATA[DIC.datasets[0]]["eval"]["test"]),
        pages=rules.dla_split.output.val,
    output:
        timings=f"{EXPORT_RES}/deploy.json",
        csv=f"{RES}/tables/deploy/deploy.csv",
        md=f"{RES}/tables/deploy/deploy.md",
        tex=f"{RES}/tables/deploy/deploy.tex",
    params:
        models=EXPORT_ENTRIES,
        timing=EXPORT_TIMING,
        images_root=DLA_DATA_ROOT,
    log:
        f"{LOGS}/export/deploy.log",
    benchmark:
        f"{LOGS}/benchmarks/export_deploy/deploy.tsv"
    # all cores: nothing else runs while the models are timed (they run with export.threads intra-op threads)
    threads: workflow.cores
    conda:
        ENV
    message:
        "Deployment table: images/s of {n} exported models as PyTorch fp32, ONNX fp32 and ONNX int8, side by side".format(
            n=len(EXPORT_ENTRIES)
        )
    script:
        "../scripts/export_deploy.py"


rule export:
    input:
        rules.export_deploy.output,
