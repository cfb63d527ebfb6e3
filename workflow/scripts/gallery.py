"""Example scalograms per class for the report."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.imaging import write_gallery  # noqa: E402

write_gallery(snakemake.input.scalograms, snakemake.output.png)
