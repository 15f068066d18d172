# The paper, regenerated: the stage tables gathered, comparison views with the published numbers
# (data/published), the paper's claims checked, the figures; `make report-html` (`snakemake --report`) shows them.

from distildoc.report.paper import PUBLISHED

REPORT = f"{RES}/report"
FIGURES = f"{RES}/figures"
PUBLISHED_ROOT = "data/published"
# paper table -> this preset's DocVQA dataset feeding it (None: the preset has no such set)
REPORT_DOCVQA_TABLES = {t: next((d.name for d in DOCVQA.datasets if d.table == t), None)
                        for t in ("table16", "table17")}
REPORT_STAGE_TABLES = [f"dic_{t}" for t in ("table6", "table9", "table10_r101", "table11_vitb", "table12_ditb",
                                            "table15", "table18", "table19", "kd_vs_supervised", "knowledge_gap")] + \
                      ["dla_table3"] + (["dla_table13"] if "prima" in DLA_EXTRA else []) + \
                      [f"docvqa_{t}" for t in ("table4", "table16", "table17")] + \
                      (["docvqa_table16_readers"] if DV_PLAN.readers else [])
REPORT_TEACHERS = list(dict.fromkeys(b.teacher for b in DIC.grid))
REPORT_RUN_TABLES = {
    "dic_runs": rules.dic_tables.output.runs_csv,
    "dla_runs": rules.dla_tables.output.runs_csv,
    "docvqa_runs": rules.docvqa_tables.output.runs_csv,
    # Table 13 (PRImA), where the preset trains on it (dla.datasets)
    **({"dla_prima_runs": rules.dla_tables.output.runs_csv_prima} if "prima" in DLA_EXTRA else {}),
}


report: "../report/workflow.rst"


rule report_tables:
    input:
        dic_tables=rules.dic_tables.output.tables,
        dla_tables=rules.dla_tables.output.tables,
        docvqa_tables=rules.docvqa_tables.output.tables,
    output:
        [f"{REPORT}/tables/{t}.csv" for t in REPORT_STAGE_TABLES],
    log:
        f"{LOGS}/report/tables.log",
    benchmark:
        f"{LOGS}/benchmarks/report_tables/tables.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Gathering the regenerated paper tables for the report"
    script:
        "../scripts/report_tables.py"


rule report_compare:
    input:
        **REPORT_RUN_TABLES,
        published=[f"{PUBLISHED_ROOT}/{t}.csv" for t in PUBLISHED],
    output:
        tables=[f"{REPORT}/compare/{t}.csv" for t in PUBLISHED]
        + [f"{REPORT}/compare/{t}.{ext}" for t in PUBLISHED for ext in ("md", "tex")],
        summary=f"{REPORT}/compare.json",
    params:
        docvqa_tables=REPORT_DOCVQA_TABLES,
        published_root=lambda wc, input: str(Path(input.published[0]).parent),
    log:
        f"{LOGS}/report/compare.log",
    benchmark:
        f"{LOGS}/benchmarks/report_compare/compare.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Comparing {n} published tables with this run's values".format(n=len(PUBLISHED))
    script:
        "../scripts/report_compare.py"


rule report_claims:
    input:
        **REPORT_RUN_TABLES,
        published=[f"{PUBLISHED_ROOT}/{t}.csv" for t in PUBLISHED],
        # the intervals the claims are judged on (distildoc.report.claims): KD vs supervised (dic_tables), the
        # runs' RVL-CDIP-N logits (Table 15), the layout models' per-page detections (saved beside their
        # metrics.json, when saved) and validation ground truth (Table 3), the DocVQA cells' answers (Table 4)
        kd_vs_supervised=rules.dic_tables.output.kd_csv,
        dic_run_dirs=rules.dic_tables.input.runs,
        dla_models=[f"{DLA_RES}/models/{m}/metrics.json" for m in DLA_MODELS],
        dla_val=rules.dla_split.output.val,
        docvqa_predictions=DV_PLAN.all_cell_files("predictions.jsonl"),
    output:
        csv=f"{REPORT}/claims.csv",
        md=f"{REPORT}/claims.md",
        json=f"{REPORT}/claims.json",
        # the claims' interval frames (distildoc.report.dic_stats.table15_intervals, layout_stats.*)
        intervals_table15=f"{REPORT}/claim_intervals/table15.csv",
        intervals_dla=f"{REPORT}/claim_intervals/dla.csv",
        intervals_docvqa=f"{REPORT}/claim_intervals/docvqa.csv",
    params:
        published_root=lambda wc, input: str(Path(input.published[0]).parent),
        table4_dla_model=DOCVQA.param("table4_dla_model"),
        preset=PRESET,
        # paired bootstrap resamples: accuracy / ANLS differences; ECE (recomputed per resample and run); COCO
        # mAP (recomputed per resample and model); one seed for all draws
        n_resamples=2000,
        ece_resamples=200,
        map_resamples=200,
        bootstrap_seed=0,
    log:
        f"{LOGS}/report/claims.log",
    benchmark:
        f"{LOGS}/benchmarks/report_claims/claims.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Checking the paper's five claims on this run (intervals: seeds, test pages, questions)"
    script:
        "../scripts/report_claims.py"


rule report_results:
    input:
        dic_runs=REPORT_RUN_TABLES["dic_runs"],
        kd_vs_supervised=rules.dic_tables.output.kd_csv,
        knowledge_gap=rules.dic_tables.output.gap_csv,
        claims=rules.report_claims.output.csv,
        dla_tables=rules.dla_tables.output.tables,
        dic_tables=rules.dic_tables.output.tables,  # calibration_gap.csv
    output:
        f"{REPORT}/results.md",
    params:
        preset=PRESET,
    log:
        f"{LOGS}/report/results.log",
    benchmark:
        f"{LOGS}/benchmarks/report_results/results.tsv"
    threads: 1
    conda:
        ENV
    message:
        "The generated results page (teachers, knowledge gap, KD vs supervised intervals, calibration, claims, Table 3)"
    script:
        "../scripts/report_results.py"


rule report_figures_dic:
    input:
        dic_runs=REPORT_RUN_TABLES["dic_runs"],
        # the reliability diagrams read the runs' logits next to their metrics.json
        runs=rules.dic_tables.input.runs,
        teachers=rules.dic_tables.input.teachers,
    output:
        report(f"{FIGURES}/id_vs_ood.png", caption="../report/fig_id_vs_ood.rst", category="3. Figures",
               subcategory="Classification", labels={"figure": "ID vs OOD"}),
        [report(f"{FIGURES}/ood_box_{by}.png", caption="../report/fig_ood_box.rst", category="3. Figures",
                subcategory="Classification", labels={"figure": f"RVL-CDIP-N by {by}"})
         for by in ("approach", "teacher", "student")],
        [report(f"{FIGURES}/reliability_{t}.png", caption="../report/fig_reliability.rst", category="3. Figures",
                subcategory="Classification", labels={"figure": f"reliability {t}"}) for t in REPORT_TEACHERS],
        [f"{FIGURES}/{n}.pdf" for n in ["id_vs_ood", "ood_box_approach", "ood_box_teacher", "ood_box_student"]
         + [f"reliability_{t}" for t in REPORT_TEACHERS]],
    params:
        group="dic",
        teachers=REPORT_TEACHERS,
        out_dir=lambda wc, output: str(Path(output[0]).parent),
    log:
        f"{LOGS}/report/figures_dic.log",
    benchmark:
        f"{LOGS}/benchmarks/report_figures_dic/figures_dic.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Classification figures: ID vs OOD, RVL-CDIP-N box plots, reliability diagrams"
    script:
        "../scripts/report_figures.py"


rule report_figures_dla:
    input:
        dla_runs=REPORT_RUN_TABLES["dla_runs"],
        docvqa_runs=REPORT_RUN_TABLES["docvqa_runs"],
    output:
        report(f"{FIGURES}/dla_efficiency.png", caption="../report/fig_dla_efficiency.rst", category="3. Figures",
               subcategory="Layout and DocVQA", labels={"figure": "layout mAP vs cost"}),
        report(f"{FIGURES}/anls_vs_map.png", caption="../report/fig_anls_vs_map.rst", category="3. Figures",
               subcategory="Layout and DocVQA", labels={"figure": "ANLS vs layout mAP"}),
        f"{FIGURES}/dla_efficiency.pdf",
        f"{FIGURES}/anls_vs_map.pdf",
    params:
        group="dla",
        out_dir=lambda wc, output: str(Path(output[0]).parent),
    log:
        f"{LOGS}/report/figures_dla.log",
    benchmark:
        f"{LOGS}/benchmarks/report_figures_dla/figures_dla.tsv"
    threads: 1
    conda:
        ENV
    message:
        "Layout figures: mAP vs GFLOPs and images/s; ANLS vs layout mAP per prompt type"
    script:
        "../scripts/report_figures.py"


# The report's tables as pages (distildoc.report.html_table): Snakemake's HTML report renders an HTML result in the
# page but offers a CSV only as a download, so each table is registered as this page of it (with the CSV linked).
# name under REPORT (without .csv) -> (title, category, caption, labels)
REPORT_TABLE_PAGES = {
    "claims": ("The paper's five claims, checked on this run", "0. Claims", "../report/claims.rst", None),
    **{f"tables/{t}": (f"{t} (this run)", "1. Tables", "../report/tables.rst", {"table": t})
       for t in REPORT_STAGE_TABLES},
    **{f"compare/{t}": (f"{t}: paper vs this run", "2. Paper vs this run", "../report/compare.rst", {"table": t})
       for t in PUBLISHED},
}


rule report_html_tables:
    input:
        tables=[f"{REPORT}/{name}.csv" for name in REPORT_TABLE_PAGES],
    output:
        [report(f"{REPORT}/html/{name}.html", caption=caption, category=category, labels=labels)
         for name, (title, category, caption, labels) in REPORT_TABLE_PAGES.items()],
    params:
        titles=[title for title, *_ in REPORT_TABLE_PAGES.values()],
    log:
        f"{LOGS}/report/html_tables.log",
    benchmark:
        f"{LOGS}/benchmarks/report_html_tables/html_tables.tsv"
    threads: 1
    conda:
        ENV
    message:
        "The report's {n} tables as HTML pages".format(n=len(REPORT_TABLE_PAGES))
    script:
        "../scripts/report_html_tables.py"


rule report:
    input:
        rules.report_tables.output,
        rules.report_compare.output,
        rules.report_claims.output,
        rules.report_html_tables.output,
        rules.report_results.output,
        rules.report_figures_dic.output,
        rules.report_figures_dla.output,


ALL_TARGETS.extend(rules.report.input)
