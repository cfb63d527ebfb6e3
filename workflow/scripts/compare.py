"""Compare the experiments of a run: results/compare/ (comparison.csv, differences.csv, report.html)."""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.config import base_config, run_provenance  # noqa: E402
from ecgcwt.evaluate import ExperimentResult, ModelRuns, build_comparison  # noqa: E402

experiments = [
    ExperimentResult(
        name=name,
        summary=entry["summary"],
        calibration=entry["calibration"],
        models=[
            ModelRuns(
                name=m["name"],
                kind=m["kind"],
                predictions=[tuple(run) for run in next(iter(m["seeds"].values()))],
                seeds={int(s): [tuple(run) for run in runs] for s, runs in m["seeds"].items()},
            )
            for m in entry["models"]
        ],
        timings=entry["timings"],
        external=entry["external"],
        model_keys=entry["model_keys"],
    )
    for name, entry in snakemake.params.layout.items()
]
ev = snakemake.params.evaluate
_, differences = build_comparison(
    experiments,
    Path(snakemake.output.comparison).parent,
    reference=snakemake.params.reference,
    classes=snakemake.params.classes,
    n_boot=ev["bootstrap"],
    ci=ev["ci"],
    seed=ev["seed"],
    alpha=ev["alpha"],
    # the settings every experiment starts from and the checkout the workflow runs from
    provenance=run_provenance(base_config(snakemake.config), Path(snakemake.scriptdir).parent.parent),
    settings=snakemake.params.settings,
)
for sentence in differences["sentence"]:
    log.info("%s", sentence)
