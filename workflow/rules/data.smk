# Data stage: the embedded synthetic benchmark (smoke / default) or the real datasets (paper),
# the paper's RVL-CDIP_1k student subset, and a summary of what was produced.

SYN = f"{DATA}/synthetic"


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
        n_per_class=lambda wc: CFG["data"]["synthetic"][wc.dataset][wc.split],
        page_size=CFG["data"]["synthetic"]["page_size"] if SYNTHETIC else None,
        max_questions=CFG["data"]["synthetic"]["max_questions"] if SYNTHETIC else None,
        # data.synthetic.inject_corrupt: a truncated PNG and an empty file in the rvl test split
        inject_corrupt=lambda wc: (SYNTHETIC and CFG["data"]["synthetic"].get("inject_corrupt", False)
                                   and (wc.dataset, wc.split) == ("rvl", "test")),
        seed=SEED,
    log:
        f"{LOGS}/data/synthetic_{{dataset}}_{{split}}.log",
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
        **CFG["data"]["student_subset"],
    log:
        f"{LOGS}/data/student_subset.log",
    threads: 1
    message:
        "Student subset: first {params.train_per_class}/{params.val_per_class} per class after a seed-{params.seed} shuffle"
    conda:
        ENV
    script:
        "../scripts/make_subset.py"


rule data_summary:
    input:
        manifests=[f"{SYN}/{ds}/manifest_{split}.json" for ds, split in synthetic_splits()] if SYNTHETIC else [],
        subset=rules.student_subset.output.train,
    output:
        json=f"{RES}/data/summary.json",
        csv=f"{RES}/data/summary.csv",
        md=f"{RES}/data/summary.md",
        figure=f"{RES}/data/synthetic_pages.png",
    log:
        f"{LOGS}/data/summary.log",
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
    rule download:
        output:
            f"data/raw/{{name}}/.complete",
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

    DATA_TARGETS = expand("data/raw/{name}/.complete", name=CFG["data"]["real"]["datasets"]) + list(
        rules.student_subset.output
    )


rule data:
    input:
        DATA_TARGETS,


ALL_TARGETS.extend(DATA_TARGETS)
