# Names the classification rules (dic.smk) and later stages use, from the plan (distildoc.workflow.plan.DicPlan).

from distildoc.workflow.plan import DECODE_GROUPS, DIC_DATA

DIC = SETTINGS.dic
DIC_PLAN = PLAN.dic
DIC_RES = DIC_PLAN.res
SIZE = DIC_PLAN.size
DIC_JOBS = DIC_PLAN.jobs
tensor_path = DIC_PLAN.tensor_path
pair_dir = DIC_PLAN.pair_dir


def student_job(wc):
    """(dataset, teacher or none, student, init, seed) of a student job's wildcards (a key of DIC_JOBS)."""
    return wc.dsname, wc.pteacher, wc.student, wc.init, wc.seed
