# ecgcwt: ECG rhythm classification (ARR / CHF / NSR) from CWT scalograms with
# transfer-learned torchvision CNNs. See README.md; config keys are documented in
# workflow/schemas/config.schema.yaml (and, generated from it, docs/configuration.md).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# Software of every job under `--software-deployment-method apptainer`: one image
# of the pinned stack, built from containers/ecgcwt.def into containers/ecgcwt.sif
# (docs/cluster.md, "Software on the compute nodes"). Ignored otherwise; with
# `--software-deployment-method conda` each rule uses its envs/*.yaml instead.
container: f"{workflow.basedir}/containers/ecgcwt.sif"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/scalograms.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/explain.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/cluster.smk"


rule all:
    default_target: True
    input:
        # the report (with experiments: each experiment's, and results/compare/)
        report_targets(),
        # external.path set: every cnn2d model trained on all subjects predicts its records
        [f for run in RUNS.values() for f in external_targets(run)],
