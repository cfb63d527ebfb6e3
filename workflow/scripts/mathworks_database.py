"""Write one database's rows of MathWorks' ECGData.mat into resources/mathworks/{db}/ as WFDB records."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.data import write_mathworks_database  # noqa: E402

names = write_mathworks_database(
    snakemake.input.ecgdata,
    snakemake.wildcards.db,
    Path(snakemake.output.records).parent,
    snakemake.params.databases,
    records=snakemake.params.records,
    fs=snakemake.params.fs,
    pair_check=snakemake.params.pair_check,
)
log.info("wrote %d %s records from %s: %s", len(names), snakemake.wildcards.db, snakemake.input.ecgdata, names)
