"""Pool the test folds of every model into the evaluation report: results/report/.

The rule passes ``params.models`` (one mapping per model, in rule order: name,
kind, backbone, pretrained, strategy), ``params.folds``, and the
``predictions``/``history`` inputs as flat lists in model-major, fold-minor
order; optionally ``input.leak`` (one predictions.csv per leaky random-split
run) with ``params.leak_models`` naming the model each mirrors.
"""

from pathlib import Path

from ecgcwt.logs import log_to

log = log_to(snakemake.log[0])

from ecgcwt.errors import ConfigError  # noqa: E402
from ecgcwt.evaluate import LeakRun, ModelRuns, build_report  # noqa: E402


def per_model(files, what, models, folds):
    """Split a flat model-major, fold-minor list of files into one ``(fold, path)`` list per model."""
    files = list(files)
    if len(files) != len(models) * len(folds):
        raise ConfigError(
            f"rule evaluate: {len(files)} {what} files for {len(models)} models x {len(folds)} folds; "
            "the rule's inputs and params.models are out of step"
        )
    n = len(folds)
    return [list(zip(folds, files[i * n : (i + 1) * n])) for i in range(len(models))]


specs = [dict(m) for m in snakemake.params.models]
folds = list(snakemake.params.folds)
predictions = per_model(snakemake.input.predictions, "predictions", specs, folds)
history_files = list(snakemake.input.get("history", []))
histories = per_model(history_files, "history", specs, folds) if history_files else [[] for _ in specs]
models = [
    ModelRuns(
        name=spec["name"],
        kind=spec["kind"],
        predictions=preds,
        histories=hists,
        backbone=spec.get("backbone"),
        pretrained=spec.get("pretrained"),
        strategy=spec.get("strategy"),
    )
    for spec, preds, hists in zip(specs, predictions, histories)
]

leak_files = list(snakemake.input.get("leak", []))
leak_names = list(snakemake.params.get("leak_models", []))
if len(leak_files) != len(leak_names):
    raise ConfigError(
        f"rule evaluate: {len(leak_files)} leak predictions files but {len(leak_names)} names in params.leak_models"
    )
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
)
log.info("report of %d model(s)%s written", len(models), f" and {len(leak)} leaky run(s)" if leak else "")
