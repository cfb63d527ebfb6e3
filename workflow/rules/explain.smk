# Grad-CAM attribution maps of a model whose kind explains (a cnn2d model): fold 0's model (of the first
# training seed) on its own test windows, mean per class on seconds x Hz, plus single right and wrong windows
# beside their scalogram and ECG trace; the CSV gives each class's attribution
# share per octave band.
rule explain:
    input:
        model=PATHS["explain_model_dir"] + "fold0/model.pt",
        predictions=PATHS["explain_model_dir"] + "fold0/predictions.csv",
        scalograms=file_of("scalograms"),
        segments=file_of("segments"),
    output:
        png=report(
            PATHS["explain_png"],
            caption="../report/attribution.rst",
            category="Explanation",
        ),
        csv=PATHS["explain_csv"],
    log:
        PATHS["explain_log"],
    benchmark:
        PATHS["explain_benchmark"]
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
