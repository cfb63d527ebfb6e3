"""Pool the test folds of every model into the evaluation report: results/report/.

The rule passes ``params.models`` (one mapping per model, in rule order: name,
kind, backbone, pretrained, strategy), ``params.folds``, and the
``predictions``/``history`` inputs as flat lists in model-major, seed-, fold-minor
order (``params.seeds``: the training seeds); optionally ``input.leak`` (one predictions.csv per leaky random-split
run) with ``params.leak_models`` naming the model each mirrors.
"""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

import json  # noqa: E402

from ecgcwt.config import run_provenance  # noqa: E402
from ecgcwt.errors import ConfigError  # noqa: E402
from ecgcwt.evaluate import LeakRun, ModelRuns, build_report  # noqa: E402


def per_model(files, what, models, seeds, folds):
    """Split a flat model-major, seed-, fold-minor list of files into one ``{seed: [(fold, path)]}`` per model."""
    files = list(files)
    n_seed, n_fold = len(seeds), len(folds)
    if len(files) != len(models) * n_seed * n_fold:
        raise ConfigError(
            f"rule evaluate: {len(files)} {what} files for {len(models)} models x {n_seed} seeds x {n_fold} folds; "
            "the rule's inputs and params.models are out of step"
        )
    out = []
    for i in range(len(models)):
        block = files[i * n_seed * n_fold : (i + 1) * n_seed * n_fold]
        out.append({s: list(zip(folds, block[j * n_fold : (j + 1) * n_fold])) for j, s in enumerate(seeds)})
    return out


specs = [dict(m) for m in snakemake.params.models]
folds = list(snakemake.params.folds)
# training.seeds: one seed gives the report of a one-seed run; several add the spread and the ensembles
seeds = [int(s) for s in snakemake.params.get("seeds", [0])]
predictions = per_model(snakemake.input.predictions, "predictions", specs, seeds, folds)
history_files = list(snakemake.input.get("history", []))
histories = per_model(history_files, "history", specs, seeds, folds) if history_files else [{} for _ in specs]


def curves(by_seed):
    """History files for the training curves: (fold, path), or ("s{seed}/{fold}", path) with several seeds."""
    if len(by_seed) <= 1:
        return [run for runs in by_seed.values() for run in runs]
    return [(f"s{s}/{fold}", path) for s, runs in by_seed.items() for fold, path in runs]


models = [
    ModelRuns(
        name=spec["name"],
        kind=spec["kind"],
        predictions=preds[seeds[0]],
        histories=curves(hists),
        backbone=spec.get("backbone"),
        pretrained=spec.get("pretrained"),
        strategy=spec.get("strategy"),
        seeds=preds,
    )
    for spec, preds, hists in zip(specs, predictions, histories)
]

leak_files = list(snakemake.input.get("leak", []))
leak_names = list(snakemake.params.get("leak_models", []))
if len(leak_files) != len(leak_names):
    raise ConfigError(
        f"rule evaluate: {len(leak_files)} leak predictions files but {len(leak_names)} names in params.leak_models"
    )
# the attribution inputs follow the cnn2d models in rule order
names_of_cnn2d = [spec["name"] for spec in specs if spec["kind"] == "cnn2d"]
leak = [LeakRun(name=name, predictions=path) for name, path in zip(leak_names, leak_files)]

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
    # the effective configuration of this run and the checkout the workflow runs from (git commit)
    provenance=run_provenance(snakemake.config, Path(snakemake.scriptdir).parent.parent),
    environments=[json.loads(Path(p).read_text()).get("environment") or {} for p in snakemake.input.metrics],
    gallery=snakemake.input.gallery,
    attribution=list(zip(names_of_cnn2d, snakemake.input.attribution_png, snakemake.input.attribution_csv)),
)
log.info("report of %d model(s)%s written", len(models), f" and {len(leak)} leaky run(s)" if leak else "")
