import os
import re
import sys
from pathlib import Path

# The library lives in src/ecgcwt beside this workflow; jobs (local, conda or
# SLURM) import it from there, so every deployment runs the same code.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
# (set, not required: the lint's envvars rule is about variables a user must provide)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
)

from ecgcwt.config import validate_config  # noqa: E402
from ecgcwt.errors import ConfigError  # noqa: E402
from ecgcwt.data import (  # noqa: E402
    check_config_record_names,
    check_subject_map,
    read_record_list,
    record_files,
)
from ecgcwt.config import (  # noqa: E402
    augment_signal_on,
    check_model_specs,
    files_by_model,
    leak_model,
    model_kind,
    names_of_rule,
    names_with,
    report_info,
    run_table,
    spec_for_seed,
    table_files,
    tracked_section,
    tracked_spec,
    training_seeds,
)

# Validate first: a bad value stops the run before any job starts, with the key
# named. Defaults from the schema are filled in place.
validate_config(config)
# Record names in data.records become paths below the database folder: one that
# could leave it (absolute, '..', ...) stops the run here too.
check_config_record_names(config["data"]["records"], error=ConfigError)

DATABASES = list(config["data"]["databases"])
CLASSES = sorted({v["label"] for v in config["data"]["databases"].values()})
# every model of the run by name: training.backbones (named after the backbone)
# plus the models: entries; spec = kind, backbone, merged training settings
MODELS = check_model_specs(config)
# the models each training rule trains (a model kind names the rule in ecgcwt.config.MODEL_KINDS)
CNN2D = names_of_rule(MODELS, "train")
CNN1D = names_of_rule(MODELS, "train_cnn1d")
WAVELET = names_of_rule(MODELS, "train_wavelet")
BACKBONES = sorted({MODELS[m]["backbone"] for m in names_with(MODELS, "backbone")})
# the models with Grad-CAM maps (rule explain), and those that classify new records (rule external)
EXPLAINED = names_with(MODELS, "explains")
PREDICTING = names_with(MODELS, "predicts")
FOLDS = list(range(config["folds"]["k"]))
LEAK = [m for m in [leak_model(config, MODELS)] if m is not None]
EXTERNAL = config["external"]["path"]
# training.seeds: one job per model x fold x seed. One seed keeps the paths of
# a one-seed run (results/models/{model}/fold{k}/); several put each seed's
# runs in their own folder (results/models/{model}/seed{s}/fold{k}/).
SEEDS = training_seeds(config)
SEED_DIR = "seed{seed}/" if len(SEEDS) > 1 else ""
SEED_TAG = "seed{seed}_" if len(SEEDS) > 1 else ""
FIRST_SEED_DIR = SEED_DIR.format(seed=SEEDS[0])


def one_of(names):
    """A wildcard pattern matching exactly these names (none: a pattern that never matches)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    db="|".join(DATABASES),
    backbone=one_of(BACKBONES),
    model=one_of(MODELS),
    fold=r"\d+",
    seed=one_of([str(s) for s in SEEDS]),


def database_dir(db):
    """Folder holding {db}/RECORDS and the WFDB files, for the configured source."""
    source = config["data"]["source"]
    if source == "local":
        return str(Path(config["data"]["path"]) / db)
    return f"resources/{source}/{db}"


def known_records():
    """db -> record names, for each database whose names are known before any job: data.records, or a
    RECORDS file already there (a local folder, an earlier download or generation)."""
    known = {}
    for db in DATABASES:
        names = records_of(db)
        if names is None and Path(database_dir(db), "RECORDS").is_file():
            names = read_record_list(
                database_dir(db), data_source=config["data"]["source"]
            )
        if names is not None:
            known[db] = names
    return known


def records_files(wildcards=None):
    return [f"{database_dir(db)}/RECORDS" for db in DATABASES]


def segment_inputs(wildcards=None):
    """The RECORDS files and, for local data (data.path), every record file they name.

    A changed, replaced or repaired .hea or signal file is then newer than the
    segments (or changes the set of inputs), so the segment step and everything
    after it rerun; an untouched tree reruns nothing. Downloaded and synthetic
    records are written by their own rule, whose declared output is RECORDS:
    listing their files too would change the set of inputs after the first
    download and rerun the segments once for nothing (measured); such a folder
    changes only through its rule, which rewrites RECORDS.
    """
    files = records_files()
    if config["data"]["source"] == "local":
        for db in DATABASES:
            files += record_files(database_dir(db), records_of(db))
    return files


def records_of(db):
    """Explicit record list of a database, or None for its RECORDS list."""
    records = config["data"]["records"]
    return records.get(db) if isinstance(records, dict) else None


# A data.subject_map key naming no record would silently leave a person split across folds: refused before
# the first job where the record names are known here, else by the segment job before it reads a record.
check_subject_map(config["data"]["subject_map"], known_records(), error=ConfigError)


def evaluation_runs():
    """Every model x seed x fold the report pools, one row each with its files by name.

    Rule evaluate declares these files as inputs and passes the same rows as a
    parameter, so the report finds a run's files by (model, seed, fold).
    """
    return run_table(
        MODELS, SEEDS, FOLDS, f"results/models/{{model}}/{SEED_DIR}fold{{fold}}"
    )


def job_spec(wildcards):
    """The model's spec with the job's training seed (the run's only seed when paths have no {seed}).

    Without the settings that cannot change a result (ecgcwt.config.RUN_SETTINGS, e.g.
    training.memory_budget_mb): params are a rerun trigger, and changing one of those
    must retrain nothing. The job reads them from its config (scripts/train.py).
    """
    seed = int(wildcards.get("seed", SEEDS[0]))
    return tracked_spec(spec_for_seed(MODELS[wildcards.model], seed))


def leak_spec(wildcards):
    """The leaky comparison's spec (the run's first seed), without the run settings."""
    return tracked_spec(MODELS[wildcards.model])


def model_file(model):
    """The file a model's learner saves (model.pt, model.joblib: its kind's registry entry)."""
    return model_kind(MODELS[model]["kind"]).model_file


def all_model_files(wildcards):
    """The model trained on every subject, once per seed: external validation averages them."""
    return expand(
        f"results/models/{wildcards.model}/{SEED_DIR}all/{model_file(wildcards.model)}",
        seed=SEEDS,
    )


def report_models():
    """Name, kind, backbone, weights and strategy of every model, in the order of the config."""
    return [report_info(name, spec) for name, spec in MODELS.items()]


def weights_input(wildcards):
    """The model's ImageNet weights file (rule weights) when its training starts from them, else nothing.

    ancient(): the file's content is fixed (checked against torchvision's hash),
    so a re-fetched or hand-placed copy with a newer time does not retrain.
    """
    spec = MODELS[wildcards.model]
    training = spec["training"]
    if training["pretrained"] == "imagenet" and training["strategy"] != "scratch":
        return {"weights": ancient(f"resources/weights/{spec['backbone']}.pth")}
    return {}


def augment_input(wildcards):
    """The segment store too when the model's training.augment turns a signal augmentation on.

    The job then computes its training images per batch from the augmented
    windows (validation and test images still come from the scalogram cache).
    """
    if augment_signal_on(MODELS[wildcards.model]["training"]["augment"]):
        return {"segments": rules.segment.output.segments}
    return {}


def external_metrics():
    """model -> its external validation's metrics.json, for every model that classifies new records
    (none without external.path): the report's "External validation" section."""
    if EXTERNAL is None:
        return {}
    return {
        m: files["metrics"]
        for m, files in files_by_model(
            PREDICTING, {"metrics": "results/external/{model}/metrics.json"}
        ).items()
    }


def external_targets():
    """External predictions of every model that classifies new records, when external.path is set."""
    if EXTERNAL is None:
        return []
    return expand("results/external/{model}/predictions.csv", model=PREDICTING)


def leak_report_output():
    """The report's leak table, an output of rule evaluate only when a leaky comparison runs."""
    if not LEAK:
        return {}
    return {
        "leak": report(
            "results/report/leak.csv",
            caption="../report/leak.rst",
            category="Evaluation",
        )
    }
