rule train:
    input:
        scalograms=rules.scalograms.output.scalograms,
        folds=rules.folds.output.folds,
    output:
        model="results/models/{backbone}/fold{fold}/model.pt",
        metrics="results/models/{backbone}/fold{fold}/metrics.json",
        predictions="results/models/{backbone}/fold{fold}/predictions.csv",
        history="results/models/{backbone}/fold{fold}/history.csv",
    log:
        "logs/train/{backbone}/fold{fold}.log",
    benchmark:
        "results/benchmarks/train/{backbone}_fold{fold}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=240,
        # one training job per GPU; the default profile allows one at a time,
        # which also keeps CPU-only machines from running two trainings at once
        gpu=1,
    params:
        training={k: v for k, v in config["training"].items() if k != "backbones"},
    script:
        "../scripts/train.py"
