# Data stage: the embedded synthetic benchmark (smoke / default) or the real datasets (paper),
# the paper's RVL-CDIP_1k student subset, and a summary of what was produced.

# the `data` section as params.yaml writes it (plain values for the rules' params)
DATA_CFG = SETTINGS.data.as_dict()


wildcard_constraints:
    dataset="rvl|rvl_n|tobacco",
    split="train|val|test",


rule synthetic_split:
    output:
        images=directory(f"{SYN}/{{dataset}}/images/{{split}}"),
        labels=f"{SYN}/{{dataset}}/labels/{{split}}.txt",
        layout=f"{SYN}/{{dataset}}/layout/{{split}}.json",
        ocr=f"{SYN}/{{dataset}}/ocr/{{split}}.jsonl",
        qa=f"{SYN}/{{dataset}}/qa/{{split}}.json",
        manifest=f"{SYN}/{{dataset}}/manifest_{{split}}.json",
    params:
        n_per_class=lambda wc: DATA_CFG["synthetic"][wc.dataset][wc.split],
        page_size=DATA_CFG["synthetic"]["page_size"] if SYNTHETIC else None,
        max_questions=DATA_CFG["synthetic"]["max_questions"] if SYNTHETIC else None,
        # data.synthetic.inject_corrupt: a truncated PNG and an empty file in the rvl test split
        inject_corrupt=lambda wc: (SYNTHETIC and DATA_CFG["synthetic"].get("inject_corrupt", False)
                                   and (wc.dataset, wc.split) == ("rvl", "test")),
        seed=SEED,
    log:
        f"{LOGS}/data/synthetic_{{dataset}}_{{split}}.log",
    benchmark:
        f"{LOGS}/benchmarks/synthetic_split/synthetic_{{dataset}}_{{split}}.tsv"
    threads: 1
    message:
        "Rendering synthetic {wildcards.dataset}/{wildcards.split} ({params.n_per_class} pages per class)"
    conda:
        ENV
    script:
        "../scripts/generate_synthetic.py"


# RVL-CDIP label files: the synthetic ones, or the official ones inside the downloaded archive
RVL_LABELS = f"{SYN}/rvl/labels" if SYNTHETIC else "data/raw/rvl_cdip/labels"


rule student_subset:
    input:
        train=f"{RVL_LABELS}/train.txt",
        val=f"{RVL_LABELS}/val.txt",
    output:
        train=f"{DATA}/subsets/rvl_train.txt",
        val=f"{DATA}/subsets/rvl_val.txt",
    params:
        **DATA_CFG["student_subset"],
    log:
        f"{LOGS}/data/student_subset.log",
    benchmark:
        f"{LOGS}/benchmarks/student_subset/student_subset.tsv"
    threads: 1
    # seconds of work that gates every classification teacher: never queue it behind a long layout job
    priority: 20
    message:
        "Student subset: first {params.train_per_class}/{params.val_per_class} per class after a seed-{params.seed} shuffle"
    conda:
        ENV
    script:
        "../scripts/make_subset.py"


rule data_summary:
    input:
        manifests=[f"{SYN}/{ds}/manifest_{split}.json" for ds, split in PLAN.synthetic_splits()] if SYNTHETIC else [],
        subset=rules.student_subset.output.train,
    output:
        json=f"{RES}/data/summary.json",
        csv=f"{RES}/data/summary.csv",
        md=f"{RES}/data/summary.md",
        figure=f"{RES}/data/synthetic_pages.png",
    log:
        f"{LOGS}/data/summary.log",
    benchmark:
        f"{LOGS}/benchmarks/data_summary/summary.tsv"
    threads: 1
    message:
        "Summarising the {PRESET} datasets"
    conda:
        ENV
    script:
        "../scripts/data_summary.py"


if SYNTHETIC:
    DATA_TARGETS = rules.data_summary.output
else:
    # downloads whose inner files other rules read by name (the DocVQA sets' DUE OCR files, docvqa.datasets
    # [*].ocr.path under data/raw/<name>/) get their own rule below that declares those files as outputs
    DOWNLOAD_FILES = {}
    for _dv in SETTINGS.docvqa.datasets:
        if (_dv.ocr_path or "").startswith(f"data/raw/{_dv.name}/"):
            DOWNLOAD_FILES.setdefault(_dv.name, []).append(_dv.ocr_path)

    rule download:
        output:
            f"data/raw/{{name}}/.complete",
        wildcard_constraints:
            name="(?!(?:{})/)[^/]+".format("|".join(DOWNLOAD_FILES)) if DOWNLOAD_FILES else "[^/]+",
        params:
            name="{name}",
        log:
            "logs/download/{name}.log",
        threads: 1
        retries: 1
        message:
            "Downloading {wildcards.name} into data/raw/{wildcards.name}"
        conda:
            ENV
        script:
            "../scripts/download_dataset.py"

    # RVL-CDIP's official label files come out of its archive: its own rule declares them as outputs
    rule download_rvl_cdip:
        output:
            done="data/raw/rvl_cdip/.complete",
            train="data/raw/rvl_cdip/labels/train.txt",
            val="data/raw/rvl_cdip/labels/val.txt",
            test="data/raw/rvl_cdip/labels/test.txt",
        params:
            name="rvl_cdip",
        log:
            "logs/download/rvl_cdip.log",
        threads: 1
        retries: 1
        message:
            "Downloading RVL-CDIP (38.8 GB) into data/raw/rvl_cdip"
        conda:
            ENV
        script:
            "../scripts/download_dataset.py"

    ruleorder: download_rvl_cdip > download

    for _name, _files in DOWNLOAD_FILES.items():

        rule:
            name:
                f"download_{_name}"
            output:
                done=f"data/raw/{_name}/.complete",
                files=_files,
            params:
                name=_name,
            log:
                f"logs/download/{_name}.log",
            threads: 1
            retries: 1
            message:
                f"Downloading {_name} into data/raw/{_name} (with its DUE OCR file)"
            conda:
                ENV
            script:
                "../scripts/download_dataset.py"

    # RVL-CDIP-N: the hub's parquet shards (or the authors' folder-per-class release placed in
    # data/raw/rvl_cdip_n by hand) -> images in folder-per-class layout + label file with RVL-CDIP ids
    rule rvl_cdip_n_labels:
        input:
            raw="data/raw/rvl_cdip_n/.complete",
        output:
            images=directory(f"{DATA}/rvl_cdip_n"),
            labels=f"{DATA}/labels/rvl_n_test.txt",
        params:
            dataset="rvl_cdip_n",
        log:
            f"{LOGS}/data/labels_rvl_cdip_n.log",
        benchmark:
            f"{LOGS}/benchmarks/rvl_cdip_n_labels/labels_rvl_cdip_n.tsv"
        threads: 1
        message:
            "RVL-CDIP-N: images and label file (12 classes, RVL-CDIP ids)"
        conda:
            ENV
        script:
            "../scripts/real_labels.py"

    # Tobacco-3482: class folders -> the 800 / 200 / 2,482 split (80 / 20 / rest per class, seed 42;
    # data.real.tobacco_split changes it)
    rule tobacco3482_labels:
        input:
            raw="data/raw/tobacco3482/.complete",
        output:
            train=f"{DATA}/labels/tobacco_train.txt",
            val=f"{DATA}/labels/tobacco_val.txt",
            test=f"{DATA}/labels/tobacco_test.txt",
        params:
            dataset="tobacco3482",
            # data.real.tobacco_split (default: the common protocol, 80 / 20 / rest per class, seed 42)
            **DATA_CFG["real"].get("tobacco_split", {"train_per_class": 80, "val_per_class": 20, "seed": 42}),
        log:
            f"{LOGS}/data/labels_tobacco3482.log",
        benchmark:
            f"{LOGS}/benchmarks/tobacco3482_labels/labels_tobacco3482.tsv"
        threads: 1
        message:
            "Tobacco-3482: {params.train_per_class}/{params.val_per_class}/rest per class split (seed {params.seed})"
        conda:
            ENV
        script:
            "../scripts/real_labels.py"

    # layout datasets -> data/raw/<name>/layout/{train,val}.json, file names relative to data/raw/<name>:
    # DocLayNet core (COCO, precedence-0 annotations), PRImA (PAGE XML, seeded 80/20 page split, 20 % = val)
    LAYOUT_DATASETS = list(SETTINGS.dla.datasets)

    rule layout_convert:
        input:
            raw="data/raw/{layout_ds}/.complete",
        output:
            train="data/raw/{layout_ds}/layout/train.json",
            val="data/raw/{layout_ds}/layout/val.json",
        wildcard_constraints:
            layout_ds="doclaynet|prima",
        params:
            dataset="{layout_ds}",
            test_fraction=0.2,
            seed=42,
        log:
            f"{LOGS}/data/layout_{{layout_ds}}.log",
        benchmark:
            f"{LOGS}/benchmarks/layout_convert/layout_{{layout_ds}}.tsv"
        threads: 1
        message:
            "Layout files of {wildcards.layout_ds} (COCO train / val)"
        conda:
            ENV
        script:
            "../scripts/layout_convert.py"

    DATA_TARGETS = (
        expand("data/raw/{name}/.complete", name=DATA_CFG["real"]["datasets"])
        + list(rules.student_subset.output)
        + [rules.rvl_cdip_n_labels.output.labels]
        + list(rules.tobacco3482_labels.output)
        + expand("data/raw/{name}/layout/{split}.json", name=LAYOUT_DATASETS, split=("train", "val"))
    )


rule data:
    input:
        DATA_TARGETS,


ALL_TARGETS.extend(DATA_TARGETS)
