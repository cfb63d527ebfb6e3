# Grad-CAM attribution maps of a model whose kind explains (a cnn2d model): fold 0's model (of the first
# training seed) on its own test windows, mean per class on seconds x Hz, plus single right and wrong windows
# beside their scalogram and ECG trace; the CSV gives each class's attribution
# share per octave band.
rule explain:
    input:
        model=f"results/models/{{model}}/{FIRST_SEED_DIR}fold0/model.pt",
        predictions=f"results/models/{{model}}/{FIRST_SEED_DIR}fold0/predictions.csv",
        scalograms=rules.scalograms.output.scalograms,
        segments=rules.segment.output.segments,
    output:
        png=report(
            "results/report/figures/attribution_{model}.png",
            caption="../report/attribution.rst",
            category="Explanation",
        ),
        csv="results/report/attribution_{model}.csv",
    log:
        "logs/explain/{model}.log",
    benchmark:
        "results/benchmarks/explain/{model}.tsv"
    wildcard_constraints:
        model=one_of(EXPLAINED),
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/explain.py"
