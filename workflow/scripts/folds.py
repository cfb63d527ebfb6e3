"""Assign subjects to stratified, subject-grouped folds: results/data/folds.csv."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.atomic import write_csv  # noqa: E402
from ecgcwt.data import (
    assign_folds,  # noqa: E402
    read_table,  # noqa: E402
)

folds = assign_folds(read_table(snakemake.input.segments), snakemake.params.k, snakemake.params.seed)
log.info(
    "subjects per fold and class:\n%s",
    folds.groupby(["fold", "label"]).size().unstack(fill_value=0),
)
write_csv(folds, snakemake.output.folds)
