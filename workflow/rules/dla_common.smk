# Names the layout rules (dla.smk) and later stages use, from the plan (distildoc.workflow.plan.DlaPlan: Table 3's
# models, further layout datasets such as PRImA (Table 13), the ViT backbones' dic -> dla edge, real-page scoring).

import re

DLA = SETTINGS.dla
DLA_PLAN = PLAN.dla
DLA_RES = DLA_PLAN.res
DLA_DATA_ROOT = DLA_PLAN.data_root
DLA_EXTRA = DLA_PLAN.extra
# model folder names `<teacher or none>__<role>__<method>` of Table 3
DLA_MODELS = list(DLA_PLAN.models)
DLA_PUBLAYNET_ON = DLA_PLAN.publaynet_on
DLA_PUBLAYNET_RES = DLA_PLAN.publaynet_res
if DLA_PLAN.warnings:
    from snakemake.logging import logger

    for _warning in DLA_PLAN.warnings:
        logger.warning(_warning)


def dla_job_config(wc):
    """What one layout training job depends on (its params; distildoc.train.dla.job_config)."""
    return DLA_PLAN.job_config(wc.dla_role, wc.dla_method, wc.get("dla_extra"))


def dla_train_inputs(wc):
    return DLA_PLAN.train_inputs(wc.dla_teacher, wc.dla_role, wc.get("dla_extra"))
