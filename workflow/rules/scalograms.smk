rule scalograms:
    input:
        segments=file_of("segments"),
    output:
        scalograms=PATHS["scalograms"],
    log:
        PATHS["scalograms_log"],
    benchmark:
        PATHS["scalograms_benchmark"]
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
        cwt=lambda wc: tracked_section("cwt", conf(wc)["cwt"]),
        # the cache's layout: a cache of an older format (e.g. RGB images) or
        # codec is rebuilt by the same params trigger
        cache=CACHE_LAYOUT,
    script:
        "../scripts/scalograms.py"


rule gallery:
    input:
        scalograms=file_of("scalograms"),
    output:
        png=report(
            PATHS["gallery"],
            caption="../report/gallery.rst",
            category="Scalograms",
        ),
    log:
        PATHS["gallery_log"],
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/gallery.py"
