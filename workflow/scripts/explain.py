"""Grad-CAM attribution figure and band table of one cnn2d model (fold 0)."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

import torch  # noqa: E402

from ecgcwt.apply import attribution_figure  # noqa: E402

torch.set_num_threads(snakemake.threads)
bands = attribution_figure(
    snakemake.input.model,
    snakemake.input.predictions,
    snakemake.input.scalograms,
    snakemake.output.png,
    snakemake.output.csv,
    segments_h5=snakemake.input.segments,
)
log.info("attribution shares per band:\n%s", bands.to_string(index=False))
