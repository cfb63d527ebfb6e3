"""Turn every segment into a CWT scalogram image: results/scalograms/scalograms.h5."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.imaging import build_scalogram_cache  # noqa: E402

build_scalogram_cache(
    snakemake.input.segments,
    snakemake.output.scalograms,
    snakemake.params.cwt,
    batch_size=snakemake.params.cwt["batch_size"],
    threads=snakemake.threads,
)
