"""Train one backbone on one subject-grouped fold; writes results/models/{backbone}/fold{fold}/."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.training import train_fold  # noqa: E402

train_fold(
    snakemake.input.scalograms,
    snakemake.input.folds,
    backbone=snakemake.wildcards.backbone,
    fold=int(snakemake.wildcards.fold),
    cfg=snakemake.params.training,
    out_dir=Path(snakemake.output.model).parent,
    threads=snakemake.threads,
    # resources/weights/{backbone}.pth when training starts from ImageNet weights
    weights_file=snakemake.input.get("weights"),
    n_folds=snakemake.params.n_folds,
    log=log.info,
)
