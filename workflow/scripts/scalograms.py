"""Turn every segment into a CWT scalogram image: results/scalograms/scalograms.h5."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.imaging import build_scalogram_cache  # noqa: E402

build_scalogram_cache(
    snakemake.input.segments,
    snakemake.output.scalograms,
    snakemake.params.cwt,
    # not a tracked param: it cannot change the images (ecgcwt.config.RUN_SETTINGS)
    batch_size=snakemake.config["cwt"]["batch_size"],
    threads=snakemake.threads,
)
