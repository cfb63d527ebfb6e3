"""Pool the test folds of every backbone into the evaluation report: results/report/."""

from itertools import product
from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.report import build_report  # noqa: E402

# model_files() expands backbone-major, fold-minor: the same order as product()
runs = list(product(snakemake.params.backbones, snakemake.params.folds))
ev = snakemake.params.evaluate
build_report(
    [(b, f, p) for (b, f), p in zip(runs, snakemake.input.predictions)],
    Path(snakemake.output.summary).parent,
    classes=snakemake.params.classes,
    n_boot=ev["bootstrap"],
    ci=ev["ci"],
    seed=ev["seed"],
    histories=[(b, f, p) for (b, f), p in zip(runs, snakemake.input.history)],
    segments_qc=snakemake.input.segments_qc,
)
