# Names the DocVQA rules (docvqa.smk) and the report use, from the plan (distildoc.workflow.plan.DocvqaPlan:
# question sets, the layout models whose tags are tried, the grid's cells and their files).

DOCVQA = SETTINGS.docvqa
DV_PLAN = PLAN.docvqa
DOCVQA_RES = DV_PLAN.res
QA_ROOT = DV_PLAN.qa_root
DV_DATASETS = DV_PLAN.datasets
DV_PRIMARY = DV_PLAN.primary
DV_DLA_MODELS = list(DV_PLAN.dla_models)
DV_REALFIXTURE_ON = DV_PLAN.realfixture_on
dv_cell_files = DV_PLAN.cell_files


wildcard_constraints:
    dv_dataset="|".join(DV_DATASETS),
    dv_reader="|".join(DV_PLAN.readers) if DV_PLAN.readers else "$^",
    dv_extra="|".join(DV_PLAN.extra) if DV_PLAN.extra else "$^",
