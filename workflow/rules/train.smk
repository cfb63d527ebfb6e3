localrules:
    weights,


# ImageNet weights, fetched once per backbone before any training job. A local
# rule: on SLURM it runs on the submit host, which has internet when compute
# nodes do not. ECGCWT_WEIGHTS_URL may name a mirror; a file placed here by hand
# is used as is (see README, "ImageNet weights offline").
rule weights:
    output:
        weights="resources/weights/{backbone}.pth",
    log:
        "logs/weights/{backbone}.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/weights.py"


rule train:
    input:
        unpack(weights_input),
        scalograms=rules.scalograms.output.scalograms,
        folds=rules.folds.output.folds,
    # update(): Snakemake backs up a fold's earlier outputs before the job and
    # puts them back if it fails, instead of deleting them first; the job
    # itself replaces each file atomically, so none is ever half-written.
    output:
        model=update("results/models/{backbone}/fold{fold}/model.pt"),
        metrics=update("results/models/{backbone}/fold{fold}/metrics.json"),
        predictions=update("results/models/{backbone}/fold{fold}/predictions.csv"),
        history=update("results/models/{backbone}/fold{fold}/history.csv"),
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
        n_folds=config["folds"]["k"],
    script:
        "../scripts/train.py"
