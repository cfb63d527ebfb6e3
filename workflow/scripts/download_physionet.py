"""Download one PhysioNet database (wfdb) into resources/physionet/{db}/."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.data import download_database  # noqa: E402

summary = download_database(
    snakemake.wildcards.db,
    snakemake.params.version,
    Path(snakemake.output.records).parent,
    records=snakemake.params.records or "all",
    max_duration_s=snakemake.params.max_duration_s,
    index_url=snakemake.params.url,
    verify=snakemake.params.verify,
    log=lambda line: (log.warning if "WARNING" in line else log.info)(line),
)
log.info("done: %s", summary)
