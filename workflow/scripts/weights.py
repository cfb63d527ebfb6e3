"""Fetch the ImageNet weights of one backbone into resources/weights/{backbone}.pth (no training job downloads)."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.learn import fetch_imagenet_weights  # noqa: E402

fetch_imagenet_weights(snakemake.wildcards.backbone, snakemake.output.weights, log=log.info)
