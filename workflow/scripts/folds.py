"""Assign subjects to stratified, subject-grouped folds: results/data/folds.csv."""

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.atomic import write_csv  # noqa: E402
from ecgcwt.data import (
    assign_folds,  # noqa: E402
    read_table,  # noqa: E402
)

k = snakemake.params.k
# folds.k loso: {"loso": the subjects in the fold order the workflow planned}
planned = k.get("loso") if isinstance(k, dict) else None
folds = assign_folds(
    read_table(snakemake.input.segments), "loso" if planned is not None else k, snakemake.params.seed, planned=planned
)
log.info(
    "subjects per fold and class:\n%s",
    folds.groupby(["fold", "label"]).size().unstack(fill_value=0),
)
write_csv(folds, snakemake.output.folds)
