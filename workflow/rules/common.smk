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
from ecgcwt.errors import ConfigError, RecordError  # noqa: E402
from snakemake.logging import logger  # noqa: E402
from ecgcwt.data import (  # noqa: E402
    LOSO,
    check_config_record_names,
    check_subject_map,
    few_subjects_note,
    read_record_list,
    record_files,
    synthetic_record_names,
)
from ecgcwt.imaging import CACHE_FORMAT, DEFAULT_CODEC  # noqa: E402
from ecgcwt.config import (  # noqa: E402
    augment_signal_on,
    check_model_specs,
    expand_experiments,
    experiment_overrides,
    flat_settings,
    reference_experiment,
    stage_keys,
    leak_model,
    model_kind,
    names_of_rule,
    names_with,
    report_info,
    run_table,
    table_files,
    spec_for_seed,
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
# The scalogram cache's layout: a cache of another format or codec is rebuilt
# (a light import: ecgcwt/imaging/format.py, no torch or h5py at parse time)
CACHE_LAYOUT = {"format": CACHE_FORMAT, "codec": DEFAULT_CODEC}
# experiments: / experiment_grid: -> name -> that experiment's whole config,
# each validated here, before the first job; {} for a run without experiments
EXPERIMENTS = expand_experiments(config)
GRID = bool(EXPERIMENTS)
EXTERNAL = config["external"]["path"]


def database_dir(db):
    """Folder holding {db}/RECORDS and the WFDB files, for the configured source."""
    source = config["data"]["source"]
    if source == "local":
        return str(Path(config["data"]["path"]) / db)
    return f"resources/{source}/{db}"


def records_of(db):
    """Explicit record list of a database, or None for its RECORDS list."""
    records = config["data"]["records"]
    return records.get(db) if isinstance(records, dict) else None


def listed_records(db):
    """The record names of ``db`` known before any job: data.records, or a RECORDS file already there (local
    data, an earlier download); None otherwise. A RECORDS file with a bad line gives None too: the segment job
    reports it, one line in its log naming the file, the line and the fix."""
    names = records_of(db)
    if names is None and Path(database_dir(db), "RECORDS").is_file():
        try:
            names = read_record_list(
                database_dir(db), data_source=config["data"]["source"]
            )
        except RecordError:
            return None
    return names


def planned_subjects():
    """Class -> its subjects, from the records known before the first job; None while some are not known.

    Known: data.records, a RECORDS file already there (local data, an earlier download), or the names the
    synthetic generator will write. A subject is a record (both leads) or what data.subject_map makes it.
    """
    data = config["data"]
    known = {}
    for db in DATABASES:
        names = listed_records(db)
        if names is None and data["source"] == "synthetic":
            names = synthetic_record_names(data["synthetic"]["subjects_per_class"])
        if names is None:
            return None
        known[db] = names
    subjects = {}
    for db, names in known.items():
        for name in names:
            subject = data["subject_map"].get(f"{db}/{name}", f"{db}/{name}")
            subjects[subject] = data["databases"][db]["label"]
    return {
        label: sorted(s for s, lb in subjects.items() if lb == label)
        for label in sorted(set(subjects.values()))
    }


def n_folds_of(cfg, name=None):
    """folds.k, or for loso the number of subjects (one fold each); says what few subjects per class mean."""
    k = cfg["folds"]["k"]
    where = f"experiment {name!r}: " if name else ""
    if SUBJECTS is None:
        if k == LOSO:
            raise ConfigError(
                f"{where}folds.k loso makes one fold per subject, so the subjects must be known before the "
                "run: list data.records, or build the records first with folds.k set to a number "
                "(snakemake resources/physionet/{db}/RECORDS for each database), then set loso again"
            )
        return k
    note = few_subjects_note(
        {c: len(s) for c, s in SUBJECTS.items()}, k, cfg["folds"]["seed"]
    )
    if note:
        # said before the first job; with K folds the folds job then stops (every fold must test every class)
        logger.warning(f"{where}{note}")
    return sum(len(s) for s in SUBJECTS.values()) if k == LOSO else k


def loso_subjects(wildcards):
    """The subjects in fold order, for folds.k loso (one fold per subject); None otherwise."""
    if conf(wildcards)["folds"]["k"] != LOSO:
        return None
    return [s for label in sorted(SUBJECTS) for s in SUBJECTS[label]]


class Run:
    """One experiment (or, without experiments, the run itself): its models, seeds, folds and stage keys."""

    def __init__(self, name, cfg):
        self.name = name
        self.config = cfg
        # every model by name: training.backbones (named after the backbone)
        # plus the models: entries; spec = kind, backbone, merged training settings
        self.models = check_model_specs(cfg)
        self.seeds = training_seeds(cfg)
        self.folds = list(range(n_folds_of(cfg, name)))
        leak = leak_model(cfg, self.models)
        self.leak = [leak] if leak is not None else []
        self.keys = stage_keys(cfg, CACHE_LAYOUT) if GRID else None

    def names_of_rule(self, rule):
        """The models a training rule trains (a model kind names the rule in ecgcwt.config.MODEL_KINDS)."""
        return names_of_rule(self.models, rule)

    def names_with(self, capability):
        """The models whose kind has ``capability`` (explains, predicts, backbone)."""
        return names_with(self.models, capability)

    def values(self, model=None, seed=None):
        """The wildcard values of this run's paths (model, its key, seed), for fill()."""
        out = {"experiment": self.name or ""}
        if self.keys is not None:
            out.update(
                seg=self.keys["segments"],
                folds=self.keys["folds"],
                cwt=self.keys["scalograms"],
            )
            if model is not None:
                out["mkey"] = self.keys["models"][model]
        if model is not None:
            out["model"] = model
        # without a seed its field stays a field (a folder pattern of every seed)
        out["seed"] = "{seed}" if seed is None else seed
        return out

    def path(self, what, model=None, seed=None, **more):
        """A file of this run: PATHS[what] with this run's wildcard values."""
        return PATHS[what].format(**self.values(model, seed), **more)


# every subject by class, where known before the first job (None: not yet)
SUBJECTS = planned_subjects()
RUNS = (
    {name: Run(name, cfg) for name, cfg in EXPERIMENTS.items()}
    if GRID
    else {None: Run(None, config)}
)
# Without experiments: one run, the paths as always. With several training
# seeds each seed's models have their own folder (results/models/{model}/seed{s}/fold{k}/).
RUN = next(iter(RUNS.values()))
# all models, backbones and seeds of every run, for the rules' wildcards (a model
# name is one kind in every experiment: checked by expand_experiments)
MODELS = {m: spec for run in RUNS.values() for m, spec in run.models.items()}
CNN2D = list(dict.fromkeys(m for r in RUNS.values() for m in r.names_of_rule("train")))
CNN1D = list(
    dict.fromkeys(m for r in RUNS.values() for m in r.names_of_rule("train_cnn1d"))
)
WAVELET = list(
    dict.fromkeys(m for r in RUNS.values() for m in r.names_of_rule("train_wavelet"))
)
BACKBONES = sorted({MODELS[m]["backbone"] for m in names_with(MODELS, "backbone")})
# the models with Grad-CAM maps (rule explain), and those that classify new records (rule external)
EXPLAINED = list(
    dict.fromkeys(m for r in RUNS.values() for m in r.names_with("explains"))
)
PREDICTING = list(
    dict.fromkeys(m for r in RUNS.values() for m in r.names_with("predicts"))
)
SEEDS = sorted({s for run in RUNS.values() for s in run.seeds})
SEED_DIR = "seed{seed}/" if GRID or len(SEEDS) > 1 else ""
SEED_TAG = "seed{seed}_" if len(SEEDS) > 1 else ""
FIRST_SEED_DIR = SEED_DIR.format(seed=SEEDS[0]) if not GRID else SEED_DIR
if GRID:
    has_leak = {name: bool(run.leak) for name, run in RUNS.items()}
    if len(set(has_leak.values())) > 1:
        raise ConfigError(
            "leak_comparison: on in experiments "
            f"{[n for n, on in has_leak.items() if on]} and off in {[n for n, on in has_leak.items() if not on]}; "
            "the per-experiment reports have the same files, so set leak_comparison.model in the base "
            "configuration (null for none) or in every experiment"
        )
LEAK = RUN.leak
# The stage a job belongs to, by the key in its wildcards: with experiments each
# stage's files are keyed by a short hash of the settings that shape it (plus the
# keys of the stages before it), so experiments agreeing on those share the files.
STAGE_RUNS = {}
for _run in RUNS.values():
    if _run.keys is not None:
        STAGE_RUNS.setdefault(("seg", _run.keys["segments"]), _run)
        STAGE_RUNS.setdefault(("folds", _run.keys["folds"]), _run)
        STAGE_RUNS.setdefault(("cwt", _run.keys["scalograms"]), _run)
        for _model, _key in _run.keys["models"].items():
            STAGE_RUNS.setdefault(("mkey", _model, _key), _run)

# Every file of the workflow, by stage. Without experiments the paths of a
# one-run workflow; with experiments each stage's folder holds its key.
if GRID:
    PATHS = {
        "segments": "results/segments/{seg}/segments.h5",
        "segments_qc": "results/segments/{seg}/segments_qc.csv",
        "segment_log": "logs/segment/{seg}.log",
        "segment_benchmark": "results/benchmarks/segment/{seg}.tsv",
        "folds": "results/folds/{folds}/folds.csv",
        "folds_log": "logs/folds/{folds}.log",
        "scalograms": "results/scalograms/{cwt}/scalograms.h5",
        "scalograms_log": "logs/scalograms/{cwt}.log",
        "scalograms_benchmark": "results/benchmarks/scalograms/{cwt}.tsv",
        "gallery": "results/scalograms/{cwt}/gallery.png",
        "gallery_log": "logs/gallery/{cwt}.log",
        # + fold{fold}/ or all/ and the file
        "model_dir": "results/models/{model}/{mkey}/seed{seed}/",
        "train_log": "logs/train/{model}/{mkey}/seed{seed}/",
        "train_benchmark": "results/benchmarks/train/{model}/{mkey}/seed{seed}/",
        "leak_dir": "results/leak/{model}/{mkey}/seed{seed}/",
        "leak_log": "logs/leak/{model}/{mkey}/seed{seed}.log",
        "leak_benchmark": "results/benchmarks/leak/{model}/{mkey}/seed{seed}.tsv",
        # fold 0's model of the experiment's first training seed
        "explain_model_dir": "results/models/{model}/{mkey}/seed{seed}/",
        "explain_png": "results/explain/{model}/{mkey}/seed{seed}/attribution.png",
        "explain_csv": "results/explain/{model}/{mkey}/seed{seed}/attribution.csv",
        "explain_log": "logs/explain/{model}/{mkey}/seed{seed}.log",
        "explain_benchmark": "results/benchmarks/explain/{model}/{mkey}/seed{seed}.tsv",
        "external_dir": "results/experiments/{experiment}/external/{model}/",
        "external_log": "logs/external/{experiment}/{model}.log",
        "external_benchmark": "results/benchmarks/external/{experiment}/{model}.tsv",
        "report_dir": "results/experiments/{experiment}/report/",
        "evaluate_log": "logs/evaluate/{experiment}.log",
        "evaluate_benchmark": "results/benchmarks/evaluate/{experiment}.tsv",
    }
else:
    PATHS = {
        "segments": "results/data/segments.h5",
        "segments_qc": "results/data/segments_qc.csv",
        "segment_log": "logs/segment.log",
        "segment_benchmark": "results/benchmarks/segment.tsv",
        "folds": "results/data/folds.csv",
        "folds_log": "logs/folds.log",
        "scalograms": "results/scalograms/scalograms.h5",
        "scalograms_log": "logs/scalograms.log",
        "scalograms_benchmark": "results/benchmarks/scalograms.tsv",
        "gallery": "results/report/figures/scalogram_gallery.png",
        "gallery_log": "logs/gallery.log",
        "model_dir": f"results/models/{{model}}/{SEED_DIR}",
        "train_log": f"logs/train/{{model}}/{SEED_DIR}",
        "train_benchmark": f"results/benchmarks/train/{{model}}_{SEED_TAG}",
        "leak_dir": "results/leak/{model}/",
        "leak_log": "logs/leak/{model}.log",
        "leak_benchmark": "results/benchmarks/leak/{model}.tsv",
        "explain_model_dir": f"results/models/{{model}}/{FIRST_SEED_DIR}",
        "explain_png": "results/report/figures/attribution_{model}.png",
        "explain_csv": "results/report/attribution_{model}.csv",
        "explain_log": "logs/explain/{model}.log",
        "explain_benchmark": "results/benchmarks/explain/{model}.tsv",
        "external_dir": "results/external/{model}/",
        "external_log": "logs/external/{model}.log",
        "external_benchmark": "results/benchmarks/external/{model}.tsv",
        "report_dir": "results/report/",
        "evaluate_log": "logs/evaluate.log",
        "evaluate_benchmark": "results/benchmarks/evaluate.tsv",
    }


def one_of(names):
    """A wildcard pattern matching exactly these names (none: a pattern that never matches)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    db="|".join(DATABASES),
    backbone=one_of(BACKBONES),
    model=one_of(MODELS),
    fold=r"\d+",
    seed=one_of([str(s) for s in SEEDS]),
    experiment=one_of([n for n in RUNS if n is not None]),
    seg=one_of(sorted({k for kind, k, *_ in STAGE_RUNS if kind == "seg"})),
    folds=one_of(sorted({k for kind, k, *_ in STAGE_RUNS if kind == "folds"})),
    cwt=one_of(sorted({k for kind, k, *_ in STAGE_RUNS if kind == "cwt"})),
    mkey=one_of(sorted({key[-1] for key in STAGE_RUNS if key[0] == "mkey"})),


def run_of(wildcards):
    """The run a job belongs to: its experiment, or the first experiment with the stage key in its wildcards."""
    if not GRID:
        return RUN
    if "experiment" in wildcards.keys():
        return RUNS[wildcards.experiment]
    if "mkey" in wildcards.keys():
        return STAGE_RUNS[("mkey", wildcards.model, wildcards.mkey)]
    for kind in ("cwt", "folds", "seg"):
        if kind in wildcards.keys():
            return STAGE_RUNS[(kind, wildcards[kind])]
    raise ConfigError(f"no experiment for the job with wildcards {dict(wildcards)}")


def conf(wildcards):
    """The configuration a job's settings come from (its run's)."""
    return run_of(wildcards).config


def file_of(what):
    """An input function: the file ``what`` of the job's run (e.g. its segments or scalogram cache)."""

    def files(wildcards):
        return run_of(wildcards).path(what)

    files.__name__ = f"{what}_of"
    return files


def known_records():
    """db -> record names, for each database whose names are known before any job: data.records, or a
    RECORDS file already there (a local folder, an earlier download or generation)."""
    known = {}
    for db in DATABASES:
        names = listed_records(db)
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


# A data.subject_map key naming no record would silently leave a person split across folds: refused before
# the first job where the record names are known here, else by the segment job before it reads a record.
check_subject_map(config["data"]["subject_map"], known_records(), error=ConfigError)


def evaluation_runs(run=None):
    """Every model x seed x fold a run's report pools, one row each with its files by name.

    Rule evaluate declares these files as inputs and passes the same rows as a
    parameter, so the report finds a run's files by (model, seed, fold).
    """
    run = run or RUN
    return [
        row
        for model in run.models
        for row in run_table(
            [model], run.seeds, run.folds, f"{run.path('model_dir', model)}fold{{fold}}"
        )
    ]


def run_files(what):
    """An input function: the ``what`` file of every model x seed x fold of the job's run."""
    return lambda wildcards: table_files(evaluation_runs(run_of(wildcards)), what)


def model_spec(wildcards):
    """The spec of the job's model (with experiments: the model of that key)."""
    return run_of(wildcards).models[wildcards.model]


def job_spec(wildcards):
    """The model's spec with the job's training seed (the run's only seed when paths have no {seed}).

    Without the settings that cannot change a result (ecgcwt.config.RUN_SETTINGS, e.g.
    training.memory_budget_mb): params are a rerun trigger, and changing one of those
    must retrain nothing. The job reads them from its config (scripts/train.py).
    """
    seed = int(wildcards.get("seed", SEEDS[0]))
    return tracked_spec(spec_for_seed(model_spec(wildcards), seed))


def leak_spec(wildcards):
    """The leaky comparison's spec (the run's first seed), without the run settings."""
    spec = model_spec(wildcards)
    if "seed" in wildcards.keys():
        spec = spec_for_seed(spec, int(wildcards.seed))
    return tracked_spec(spec)


def n_folds(wildcards):
    """The number of folds of the job's run (folds.k, or one per subject for loso)."""
    return len(run_of(wildcards).folds)


def model_file(model):
    """The file a model's learner saves (model.pt, model.joblib: its kind's registry entry)."""
    return model_kind(MODELS[model]["kind"]).model_file


def all_model_files(wildcards):
    """The model trained on every subject, once per seed: external validation averages them."""
    run = run_of(wildcards)
    return [
        f"{run.path('model_dir', wildcards.model, seed)}all/{model_file(wildcards.model)}"
        for seed in run.seeds
    ]


def report_models(run=None):
    """Name, kind, backbone, weights and strategy of every model, in the order of the config."""
    run = run or RUN
    return [report_info(name, spec) for name, spec in run.models.items()]


def weights_input(wildcards):
    """The model's ImageNet weights file (rule weights) when its training starts from them, else nothing.

    ancient(): the file's content is fixed (checked against torchvision's hash),
    so a re-fetched or hand-placed copy with a newer time does not retrain.
    """
    spec = model_spec(wildcards)
    training = spec["training"]
    if training["pretrained"] == "imagenet" and training["strategy"] != "scratch":
        return {"weights": ancient(f"resources/weights/{spec['backbone']}.pth")}
    return {}


def augment_input(wildcards):
    """The segment store too when the model's training.augment turns a signal augmentation on.

    The job then computes its training images per batch from the augmented
    windows (validation and test images still come from the scalogram cache).
    """
    if augment_signal_on(model_spec(wildcards)["training"]["augment"]):
        return {"segments": run_of(wildcards).path("segments")}
    return {}


def predicting(run):
    """The models of a run that classify external.path (none when it is not set)."""
    return run.names_with("predicts") if run.config["external"]["path"] else []


def external_metrics(run=None):
    """model -> its external validation's metrics.json, for every model of a run that classifies new
    records (none without external.path): the report's "External validation" section."""
    run = run or RUN
    return {m: f"{run.path('external_dir', m)}metrics.json" for m in predicting(run)}


def external_targets(run=None):
    """External predictions of every model that classifies new records, when external.path is set."""
    run = run or RUN
    return [
        f"{run.path('external_dir', model)}predictions.csv" for model in predicting(run)
    ]


def leak_runs(run):
    """Model -> the predictions file of its leaky run (the run's first seed), when the run has one."""
    return {
        model: {
            "predictions": f"{run.path('leak_dir', model, run.seeds[0])}predictions.csv"
        }
        for model in run.leak
    }


def explanations(run):
    """Model -> its Grad-CAM png and csv (fold 0, the run's first seed), for every model that explains."""
    return {
        model: {
            what: run.path(f"explain_{what}", model, run.seeds[0])
            for what in ("png", "csv")
        }
        for model in run.names_with("explains")
    }


def leak_report_output():
    """The report's leak table, an output of rule evaluate only when a leaky comparison runs."""
    if not LEAK:
        return {}
    return {
        "leak": report(
            PATHS["report_dir"] + "leak.csv",
            caption="../report/leak.rst",
            category="Evaluation",
        )
    }


def report_targets():
    """The run's report and scalogram gallery; with experiments every experiment's report and the comparison."""
    files = [
        run.path("report_dir") + name
        for run in RUNS.values()
        for name in ("summary.csv", "report.html")
    ]
    if not GRID:
        return [*files, RUN.path("gallery")]
    return [*files, *COMPARE_OUTPUTS.values()]


COMPARE_OUTPUTS = {
    "comparison": "results/compare/comparison.csv",
    "differences": "results/compare/differences.csv",
    "forest": "results/compare/figures/forest.png",
    "markdown": "results/compare/report.md",
    "html": "results/compare/report.html",
}


def compare_layout():
    """Every experiment's files the comparison reads: report tables, predictions by model and seed, timings."""
    out = {}
    for name, run in RUNS.items():
        report_dir = run.path("report_dir")
        out[name] = {
            "summary": f"{report_dir}summary.csv",
            "calibration": f"{report_dir}calibration.csv",
            "models": [
                {
                    "name": model,
                    "kind": spec["kind"],
                    "seeds": {
                        seed: [
                            [
                                fold,
                                run.path("model_dir", model, seed)
                                + f"fold{fold}/predictions.csv",
                            ]
                            for fold in run.folds
                        ]
                        for seed in run.seeds
                    },
                }
                for model, spec in run.models.items()
            ],
            # the Snakemake benchmark file of every training job of the model
            "timings": {
                model: [
                    run.path("train_benchmark", model, seed) + f"fold{fold}.tsv"
                    for seed in run.seeds
                    for fold in run.folds
                ]
                for model in run.models
            },
            "external": {
                model: f"{run.path('external_dir', model)}metrics.json"
                for model in predicting(run)
            },
            "model_keys": run.keys["models"],
        }
    return out


def compare_inputs():
    """The files of compare_layout(), flat: the comparison's inputs."""
    files = []
    for entry in compare_layout().values():
        files += [entry["summary"], entry["calibration"], *entry["external"].values()]
        for model in entry["models"]:
            files += [path for runs in model["seeds"].values() for _, path in runs]
        files += [f for paths in entry["timings"].values() for f in paths]
    return list(dict.fromkeys(files))


def experiment_settings():
    """Each experiment's own settings (dotted key -> value as text), for the comparison report."""
    return {
        name: flat_settings(overrides)
        for name, overrides in experiment_overrides(config).items()
    }
