"""Write seeded synthetic WFDB records of one class into resources/synthetic/{db}/."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.data import generate_database  # noqa: E402

names = generate_database(
    snakemake.wildcards.db,
    snakemake.params.label,
    Path(snakemake.output.records).parent,
    subjects=snakemake.params.subjects,
    duration_s=snakemake.params.duration_s,
    seed=snakemake.params.seed,
)
log.info("wrote %d synthetic %s records: %s", len(names), snakemake.params.label, names)
