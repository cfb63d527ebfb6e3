"""Pool the test folds of every model into the evaluation report: results/report/.

The rule passes ``params.models`` (one mapping per model: name, kind, backbone,
pretrained, strategy), ``params.runs`` (one row per model x seed x fold with its
``predictions``/``metrics``/``history`` files, ``ecgcwt.config.run_table``) and
``params.attribution`` (model -> its explanation ``png``/``csv``); every file
named there is also an input of the rule. ``params.leak``: the model each leaky
random-split run mirrors -> its ``predictions`` file (empty without a leaky
comparison). ``params.external``: model -> its external validation's ``metrics.json`` (external.path set).
"""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

import json  # noqa: E402

from ecgcwt.config import check_declared, experiment_config, run_provenance, runs_by_model, table_files  # noqa: E402
from ecgcwt.errors import ConfigError  # noqa: E402
from ecgcwt.evaluate import LeakRun, ModelRuns, build_report  # noqa: E402

specs = [dict(m) for m in snakemake.params.models]
runs = [dict(r) for r in snakemake.params.runs]
attribution = {name: dict(files) for name, files in dict(snakemake.params.attribution).items()}
leak_runs = {name: dict(files) for name, files in dict(snakemake.params.get("leak", {})).items()}
# external.path set: model -> its external validation's metrics.json
external = {name: str(path) for name, path in dict(snakemake.params.get("external", {})).items()}
check_declared(
    [
        *(f for what in ("predictions", "metrics", "history") for f in table_files(runs, what)),
        *(f for files in [*attribution.values(), *leak_runs.values()] for f in files.values()),
        *external.values(),
    ],
    snakemake.input,
    "rule evaluate",
)
predictions = runs_by_model(runs, "predictions")
histories = runs_by_model(runs, "history")
missing = [spec["name"] for spec in specs if spec["name"] not in predictions]
if missing:
    raise ConfigError(f"rule evaluate: params.runs has no run of model(s) {missing}; build it with run_table()")


def curves(by_seed):
    """History files for the training curves: (fold, path), or ("s{seed}/{fold}", path) with several seeds."""
    if len(by_seed) <= 1:
        return [run for runs in by_seed.values() for run in runs]
    return [(f"s{s}/{fold}", path) for s, runs in by_seed.items() for fold, path in runs]


models = []
for spec in specs:
    preds = predictions[spec["name"]]
    models.append(
        ModelRuns(
            name=spec["name"],
            kind=spec["kind"],
            # the first training seed's runs: a one-seed run's report
            predictions=next(iter(preds.values())),
            histories=curves(histories[spec["name"]]),
            backbone=spec.get("backbone"),
            pretrained=spec.get("pretrained"),
            strategy=spec.get("strategy"),
            seeds=preds,
        )
    )

leak = [LeakRun(name=name, predictions=files["predictions"]) for name, files in leak_runs.items()]

ev = snakemake.params.evaluate
build_report(
    models,
    Path(snakemake.output.summary).parent,
    classes=snakemake.params.classes,
    n_boot=ev["bootstrap"],
    ci=ev["ci"],
    seed=ev["seed"],
    alpha=ev["alpha"],
    segments_qc=snakemake.input.segments_qc,
    leak=leak,
    # the effective configuration of this run (with experiments: this experiment's) and the checkout the
    # workflow runs from (git commit)
    provenance=run_provenance(
        experiment_config(snakemake.config, snakemake.wildcards.get("experiment")),
        Path(snakemake.scriptdir).parent.parent,
    ),
    environments=[json.loads(Path(p).read_text()).get("environment") or {} for p in table_files(runs, "metrics")],
    gallery=snakemake.input.gallery,
    attribution=[(name, files["png"], files["csv"]) for name, files in attribution.items()],
    external=external,
)
log.info("report of %d model(s)%s written", len(models), f" and {len(leak)} leaky run(s)" if leak else "")
