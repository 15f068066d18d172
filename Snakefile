# DistilDoc reproduction: the whole paper as one Snakemake DAG.
#   snakemake --cores 8 all                      # the embedded default preset
#   snakemake --cores 2 all --config preset=smoke   (targets before --config: it takes every later word)
# The configuration (params.yaml) is validated against workflow/schemas/config.schema.yaml before
# any job runs. Outputs go to data/<preset>/ and results/<preset>/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/dic_common.smk"
include: "workflow/rules/dic.smk"
include: "workflow/rules/dla_common.smk"
include: "workflow/rules/dla.smk"
include: "workflow/rules/docvqa.smk"
include: "workflow/rules/report.smk"
# target `export` (not part of `all`): ONNX exports of the trained models and the deployment table
include: "workflow/rules/export.smk"
# opt-in (AGPL-3.0 teacher, `make real-teacher`): only presets with a `real_teacher` section
if SETTINGS.real_teacher is not None:

    include: "workflow/rules/real_teacher.smk"


rule all:
    input:
        ALL_TARGETS,
    default_target: True
