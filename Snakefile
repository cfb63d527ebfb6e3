# ecgcwt: ECG rhythm classification (ARR / CHF / NSR) from CWT scalograms with
# transfer-learned torchvision CNNs. See README.md; config keys are documented in
# workflow/schemas/config.schema.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/scalograms.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        rules.evaluate.output.summary,
        rules.evaluate.output.html,
        rules.gallery.output.png,
