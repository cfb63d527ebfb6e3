# a light import: ecgcwt/imaging/format.py, no torch or h5py at parse time
from ecgcwt.imaging import CACHE_FORMAT, DEFAULT_CODEC


rule scalograms:
    input:
        segments=rules.segment.output.segments,
    output:
        scalograms="results/scalograms/scalograms.h5",
    log:
        "logs/scalograms.log",
    benchmark:
        "results/benchmarks/scalograms.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 4
    resources:
        mem_mb=2000,
    params:
        # every CWT and image setting: changing one reruns this rule (params
        # rerun trigger), changing a training setting does not; cwt.batch_size
        # only batches the work (bit-identical images), so it is left out and
        # the job reads it from its config
        cwt=tracked_section("cwt", config["cwt"]),
        # the cache's layout: a cache of an older format (e.g. RGB images) or
        # codec is rebuilt by the same params trigger
        cache={"format": CACHE_FORMAT, "codec": DEFAULT_CODEC},
    script:
        "../scripts/scalograms.py"


rule gallery:
    input:
        scalograms=rules.scalograms.output.scalograms,
    output:
        png=report(
            "results/report/figures/scalogram_gallery.png",
            caption="../report/gallery.rst",
            category="Scalograms",
        ),
    log:
        "logs/gallery.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/gallery.py"
