localrules:
    weights,


# ImageNet weights, fetched once per backbone before any training job. A local
# rule: on SLURM it runs on the submit host, which has internet when compute
# nodes do not. ECGCWT_WEIGHTS_URL may name a mirror; a file placed here by hand
# is used as is (see docs/cluster.md, "ImageNet weights offline").
rule weights:
    output:
        weights="resources/weights/{backbone}.pth",
    log:
        "logs/weights/{backbone}.log",
    conda:
        "../../envs/train.yaml"
    script:
        "../scripts/weights.py"


# A cnn2d model (a torchvision backbone on the scalograms) on one subject-grouped fold.
rule train:
    input:
        unpack(weights_input),
        unpack(augment_input),
        scalograms=file_of("scalograms"),
        folds=file_of("folds"),
    # update(): Snakemake backs up a fold's earlier outputs before the job and
    # puts them back if it fails, instead of deleting them first; the job
    # itself replaces each file atomically, so none is ever half-written.
    output:
        model=update(PATHS["model_dir"] + "fold{fold}/model.pt"),
        metrics=update(PATHS["model_dir"] + "fold{fold}/metrics.json"),
        predictions=update(PATHS["model_dir"] + "fold{fold}/predictions.csv"),
        history=update(PATHS["model_dir"] + "fold{fold}/history.csv"),
    log:
        PATHS["train_log"] + "fold{fold}.log",
    benchmark:
        PATHS["train_benchmark"] + "fold{fold}.tsv"
    wildcard_constraints:
        model=one_of(CNN2D),
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
        spec=job_spec,
        n_folds=n_folds,
        split="subject",
    script:
        "../scripts/train.py"


# The same cnn2d model trained on every subject (early stopping on an inner
# subject split, no test set): the model external validation applies. Needs no
# folds.csv, so it builds even where K-fold cross-validation cannot.
use rule train as train_all with:
    input:
        unpack(weights_input),
        unpack(augment_input),
        scalograms=file_of("scalograms"),
    output:
        model=update(PATHS["model_dir"] + "all/model.pt"),
        metrics=update(PATHS["model_dir"] + "all/metrics.json"),
        history=update(PATHS["model_dir"] + "all/history.csv"),
    log:
        PATHS["train_log"] + "all.log",
    benchmark:
        PATHS["train_benchmark"] + "all.tsv"


# The labelled leaky comparison: one cnn2d model trained and tested on windows
# split at random, ignoring subjects. Only the report's leak section reads it.
use rule train as leak with:
    input:
        unpack(weights_input),
        unpack(augment_input),
        scalograms=file_of("scalograms"),
    output:
        model=update(PATHS["leak_dir"] + "model.pt"),
        metrics=update(PATHS["leak_dir"] + "metrics.json"),
        predictions=update(PATHS["leak_dir"] + "predictions.csv"),
        history=update(PATHS["leak_dir"] + "history.csv"),
    log:
        PATHS["leak_log"],
    benchmark:
        PATHS["leak_benchmark"]
    params:
        spec=leak_spec,
        n_folds=n_folds,
        split="random_windows",


# The 1D CNN baseline on the resampled segments (no scalogram), same folds.
rule train_cnn1d:
    input:
        segments=file_of("segments"),
        folds=file_of("folds"),
    output:
        model=update(PATHS["model_dir"] + "fold{fold}/model.pt"),
        metrics=update(PATHS["model_dir"] + "fold{fold}/metrics.json"),
        predictions=update(PATHS["model_dir"] + "fold{fold}/predictions.csv"),
        history=update(PATHS["model_dir"] + "fold{fold}/history.csv"),
    log:
        PATHS["train_log"] + "fold{fold}.log",
    benchmark:
        PATHS["train_benchmark"] + "fold{fold}.tsv"
    wildcard_constraints:
        model=one_of(CNN1D),
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
        # a torch training like the 2D CNNs: on a CPU-only machine the default
        # profile's gpu=1 keeps it from competing with them for the cores
        gpu=1,
    params:
        spec=job_spec,
        n_folds=n_folds,
        split="subject",
    script:
        "../scripts/train.py"


# The 1D CNN trained on every subject: the model external validation applies.
use rule train_cnn1d as train_cnn1d_all with:
    input:
        segments=file_of("segments"),
    output:
        model=update(PATHS["model_dir"] + "all/model.pt"),
        metrics=update(PATHS["model_dir"] + "all/metrics.json"),
        history=update(PATHS["model_dir"] + "all/history.csv"),
    log:
        PATHS["train_log"] + "all.log",
    benchmark:
        PATHS["train_benchmark"] + "all.tsv"


# Wavelet sub-band features with a scikit-learn classifier, same folds.
rule train_wavelet:
    input:
        segments=file_of("segments"),
        folds=file_of("folds"),
    output:
        model=update(PATHS["model_dir"] + "fold{fold}/model.joblib"),
        metrics=update(PATHS["model_dir"] + "fold{fold}/metrics.json"),
        predictions=update(PATHS["model_dir"] + "fold{fold}/predictions.csv"),
        history=update(PATHS["model_dir"] + "fold{fold}/history.csv"),
    log:
        PATHS["train_log"] + "fold{fold}.log",
    benchmark:
        PATHS["train_benchmark"] + "fold{fold}.tsv"
    wildcard_constraints:
        model=one_of(WAVELET),
    conda:
        "../../envs/wavelet.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        spec=job_spec,
        n_folds=n_folds,
        split="subject",
    script:
        "../scripts/train.py"


# The wavelet baseline trained on every subject: the model external validation applies.
use rule train_wavelet as train_wavelet_all with:
    input:
        segments=file_of("segments"),
    output:
        model=update(PATHS["model_dir"] + "all/model.joblib"),
        metrics=update(PATHS["model_dir"] + "all/metrics.json"),
        history=update(PATHS["model_dir"] + "all/history.csv"),
    log:
        PATHS["train_log"] + "all.log",
    benchmark:
        PATHS["train_benchmark"] + "all.tsv"


# External validation: the model trained on every subject predicts every record
# of external.path (one row per record; records too short are listed with why),
# for every model whose kind classifies new records (cnn2d, cnn1d, wavelet).
rule external:
    input:
        # one model per training seed; several: their mean probability (the ensemble)
        model=all_model_files,
    output:
        predictions=PATHS["external_dir"] + "predictions.csv",
        metrics=PATHS["external_dir"] + "metrics.json",
    log:
        PATHS["external_log"],
    benchmark:
        PATHS["external_benchmark"]
    wildcard_constraints:
        model=one_of(PREDICTING),
    conda:
        "../../envs/train.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        path=lambda wc: conf(wc)["external"]["path"],
        databases={db: v["label"] for db, v in config["data"]["databases"].items()},
        max_duration_s=lambda wc: conf(wc)["external"]["max_duration_s"],
        max_windows=lambda wc: conf(wc)["external"]["max_windows"],
        bootstrap=lambda wc: conf(wc)["evaluate"]["bootstrap"],
        seed=lambda wc: conf(wc)["evaluate"]["seed"],
    script:
        "../scripts/external.py"
