"""The models of a run, by name: ``training.backbones`` plus the ``models:`` entries of the config.

Every model is one entry ``name -> spec``; a spec is a plain dict (it travels
into Snakemake params and metrics.json):

``{"kind": "cnn2d", "backbone": ..., "training": {...}}``
    a torchvision backbone on the scalograms; ``training`` is the training
    section with the entry's overrides merged in (e.g. ``pretrained: none``).
``{"kind": "cnn1d", "training": {...}}``
    the 1D CNN baseline on the resampled segments.
``{"kind": "wavelet", "wavelet": ..., "level": ..., "classifier": ..., "C": ..., "seed": ...}``
    wavelet sub-band statistics with a scikit-learn classifier.

A config that lists only ``training.backbones`` gets one cnn2d model per
backbone, named after it, so a run of 2D CNNs alone needs no ``models:`` section.

What a kind can do (epochs, explanation maps, new records, its model file, how
the report draws it) is its :data:`MODEL_KINDS` entry: code elsewhere asks the
entry, never the kind's name.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from ecgcwt.config.provenance import RUN_SETTINGS  # noqa: F401  (defined there: no heavy imports)
from ecgcwt.config.validate import (
    check_augment,
    check_backbones,
    check_wavelet_name,
    check_weights_file,
    deep_update,
    validate_section,
)
from ecgcwt.errors import ConfigError


class ModelKind(NamedTuple):
    """One kind of model: everything the config check, the workflow, the trainer and the report need.

    Adding a kind is a learner module (the fold runner's ``Learner`` protocol,
    ``ecgcwt.learn.runner``) plus one entry of :data:`MODEL_KINDS`.
    """

    #: ``"module:Class"`` of the learner, built as ``Class(settings, seed=, device=, threads=)``
    learner: str
    #: the file it learns from: ``"scalograms"`` (scalograms.h5) or ``"segments"`` (segments.h5)
    reads: str
    #: the workflow rule that trains it (its environment and resources): ``train`` (torch on the
    #: scalograms, a GPU), ``train_cnn1d`` (torch on the segments, a GPU), ``train_wavelet`` (CPU)
    rule: str
    #: the report's words for it
    text: str
    #: a baseline for the scalogram CNNs (the report says so)
    baseline: bool
    #: the report's colour, marker and line style
    style: tuple[str, str, str]
    #: the file its learner saves in a run's folder (``Learner.model_file``)
    model_file: str = "model.pt"
    #: takes the ``training:`` section (merged with the entry's ``training:`` overrides)
    training: bool = True
    #: its own keys (``models.<name>.<key>``) and their defaults
    settings: Mapping[str, Any] = {}
    #: a torchvision backbone (``models.<name>.backbone``) started from pretrained weights or from scratch:
    #: the report pairs pretrained against scratch of one backbone, the leaky comparison trains one
    backbone: bool = False
    #: trains in epochs (``history.csv`` has one row per epoch): the report draws its training curves
    has_epochs: bool = True
    #: Grad-CAM maps of its fold-0 model (workflow rule ``explain``), shown in the report
    explains: bool = False
    #: ``"module:function"`` loading its model file to classify new records (``ecgcwt predict``, external
    #: validation), called as ``function(path, saved, device)`` with the file's loaded content; None: it cannot
    predictor: str | None = None

    @property
    def predicts(self) -> bool:
        """It classifies new records (``ecgcwt predict``, ``external.path``)."""
        return self.predictor is not None

    @property
    def report_label(self) -> str:
        """The report's legend entry: its words, marked when it is a baseline."""
        return self.text + (" (baseline)" if self.baseline else "")


MODEL_KINDS: dict[str, ModelKind] = {
    "cnn2d": ModelKind(
        learner="ecgcwt.learn.cnn2d.learner:Cnn2dLearner",
        reads="scalograms",
        rule="train",
        text="2D CNN on CWT scalograms",
        baseline=False,
        style=("#1f77b4", "o", "-"),
        backbone=True,
        explains=True,
        predictor="ecgcwt.apply.predict:scalogram_predictor",
    ),
    "cnn1d": ModelKind(
        learner="ecgcwt.learn.baselines.cnn1d:Cnn1dLearner",
        reads="segments",
        rule="train_cnn1d",
        text="1D CNN on the raw signal",
        baseline=True,
        style=("#ff7f0e", "s", "--"),
        predictor="ecgcwt.apply.signal_models:cnn1d_predictor",
    ),
    "wavelet": ModelKind(
        learner="ecgcwt.learn.baselines.wavelet:WaveletLearner",
        reads="segments",
        rule="train_wavelet",
        text="wavelet features + classifier",
        baseline=True,
        style=("#2ca02c", "D", ":"),
        model_file="model.joblib",
        training=False,
        has_epochs=False,
        predictor="ecgcwt.apply.signal_models:wavelet_predictor",
        settings={"wavelet": "db4", "level": 5, "classifier": "svm", "C": 1.0},
    ),
}
#: The kind of each ``training.backbones`` entry.
BACKBONES_KIND = "cnn2d"
#: Names that cannot be a model (they are fold or folder names of the workflow).
RESERVED = {"all"}
#: The kind of a model file whose metadata names none: cnn2d files were written before ``meta["kind"]`` existed.
UNNAMED_KIND = "cnn2d"


def model_kind(kind: str) -> ModelKind:
    """The registry entry of ``kind``; :class:`ConfigError` naming the known kinds otherwise.

    Read at call time, so a kind registered later (a plug-in, a test) counts.
    """
    try:
        return MODEL_KINDS[kind]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model kind {kind!r}; one of {', '.join(MODEL_KINDS)}") from None


def kind_of_meta(meta: Mapping[str, Any]) -> str:
    """The kind of a saved model from its metadata (``meta["kind"]``; older cnn2d files have none)."""
    return str(meta.get("kind") or UNNAMED_KIND)


def names_with(specs: dict[str, dict], capability: str) -> list[str]:
    """The models whose kind has ``capability`` (a true :class:`ModelKind` field or property), in order."""
    return [n for n, s in specs.items() if getattr(model_kind(s["kind"]), capability)]


def training_seeds(config: dict[str, Any]) -> list[int]:
    """The run's training seeds: ``training.seeds``, or ``[training.seed]`` when seeds is unset (null).

    ``seed`` is kept so that a config written for one seed keeps its meaning
    (``seed: 5`` alone is the run ``seeds: [5]``). With both set they must
    agree: ``seed`` is then 0 (unset) or the first seed; ``seed: 3`` beside
    ``seeds: [0]`` is refused, not resolved one way or the other.
    """
    training = config["training"]
    seed = int(training.get("seed") or 0)
    given = training.get("seeds")
    if given is None:
        return [seed]
    seeds = [int(s) for s in given]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"training.seeds: {seeds} must be distinct non-negative integers, at least one")
    if seed not in (0, seeds[0]):
        raise ConfigError(
            f"training.seed {seed} and training.seeds {seeds} disagree; set one of them: training.seeds lists "
            "every seed (training.seed may only repeat the first of them), training.seed alone is seeds: [seed]"
        )
    return seeds


def _merged_training(config: dict, overrides: dict | None, name: str | None = None) -> dict:
    own = sorted({"seed", "seeds"} & set(overrides or {}))
    if own:
        # seeds name the run's folders and make the ensembles: every model trains with the same ones,
        # so the paired tests compare models trained alike
        raise ConfigError(f"models.{name}.training: {own} apply to the whole run; set training.seeds instead")
    seeds = training_seeds(config)
    base = {k: v for k, v in config["training"].items() if k != "backbones"}
    base.update(seed=seeds[0], seeds=seeds)
    return deep_update(base, dict(overrides or {}))


def model_specs(config: dict[str, Any]) -> dict[str, dict]:
    """``name -> spec`` of every model of a validated config, backbones first, then ``models`` in order."""
    specs: dict[str, dict] = {}
    for b in config["training"]["backbones"]:
        specs[b] = {"kind": BACKBONES_KIND, "backbone": b, "training": _merged_training(config, None)}
    for name, entry in (config.get("models") or {}).items():
        if entry is None:  # removed by a later config file
            continue
        if name in specs:
            raise ConfigError(
                f"models.{name}: the name is already a training.backbones entry; give the model another name"
            )
        if name in RESERVED:
            raise ConfigError(f"models.{name}: {name!r} is reserved; give the model another name")
        kind = entry["kind"]
        if kind not in MODEL_KINDS:
            raise ConfigError(f"models.{name}.kind: unknown kind {kind!r}; one of {', '.join(MODEL_KINDS)}")
        spec: dict[str, Any] = {"kind": kind}
        own = MODEL_KINDS[kind].settings
        wrong = [k for k in entry if k not in ("kind", "backbone", "training") and k not in own]
        if wrong:
            owners = [k for k, v in MODEL_KINDS.items() if set(wrong) & set(v.settings)]
            raise ConfigError(
                f"models.{name}: {wrong} apply to kind {', '.join(owners) or '(none)'} only (this model is {kind})"
            )
        if MODEL_KINDS[kind].backbone:
            if not entry.get("backbone"):
                raise ConfigError(f"models.{name}: kind {kind} needs a backbone (a torchvision model name)")
            spec["backbone"] = entry["backbone"]
        elif entry.get("backbone"):
            with_backbone = [k for k, v in MODEL_KINDS.items() if v.backbone]
            raise ConfigError(
                f"models.{name}: backbone applies to kind {', '.join(with_backbone)} only (this model is {kind})"
            )
        if MODEL_KINDS[kind].training:
            spec["training"] = _merged_training(config, entry.get("training"), name)
        else:
            if entry.get("training"):
                raise ConfigError(
                    f"models.{name}: training settings do not apply to kind {kind} (set {', '.join(own)})"
                )
            spec.update({k: entry.get(k, v) for k, v in own.items()})
            # the same seed and inner split as the CNNs: every model trains on the same subjects
            spec["seed"] = training_seeds(config)[0]
            spec["val_fraction"] = config["training"]["val_fraction"]
        specs[name] = spec
    return specs


def check_model_specs(config: dict[str, Any]) -> dict[str, dict]:
    """:func:`model_specs` plus every check a spec needs (training overrides against the schema, names)."""
    specs = model_specs(config)
    for name, spec in specs.items():
        if "training" in spec:
            # a models entry's overrides are named where the user wrote them
            where = "training" if name in config["training"]["backbones"] else f"models.{name}.training"
            spec["training"] = validate_section("training", spec["training"], prefix=where)
            check_augment(spec["training"]["augment"], key=f"{where}.augment", fs=config["segments"]["fs"])
            if where != "training":  # (training.pretrained itself is checked with the rest of the config)
                check_weights_file(spec["training"]["pretrained"], key=f"{where}.pretrained")
        if "wavelet" in MODEL_KINDS[spec["kind"]].settings:  # a discrete wavelet of PyWavelets
            check_wavelet_name(spec["wavelet"], key=f"models.{name}.wavelet")
        # training.backbones themselves are checked with the rest of the config
        if MODEL_KINDS[spec["kind"]].backbone and name not in config["training"]["backbones"]:
            check_backbones([spec["backbone"]], key=f"models.{name}.backbone")
    leak = config.get("leak_comparison", {}).get("model")
    if leak not in (None, "auto") and leak not in names_with(specs, "backbone"):
        cnn = names_with(specs, "backbone")
        raise ConfigError(f"leak_comparison.model {leak!r} is not a cnn2d model of this run; one of {cnn}")
    return specs


def tracked_section(section: str, values: dict) -> dict:
    """``values`` (the config's ``section``) without its :data:`RUN_SETTINGS`: what a rule's params carry."""
    drop = RUN_SETTINGS.get(section, ())
    return {k: v for k, v in values.items() if k not in drop}


def tracked_spec(spec: dict) -> dict:
    """A model's spec without the :data:`RUN_SETTINGS` of its training section (what a train rule tracks)."""
    out = {**spec}
    if "training" in out:
        out["training"] = tracked_section("training", out["training"])
    return out


def with_run_settings(spec: dict, config: dict, name: str) -> dict:
    """``spec`` (a :func:`tracked_spec`) with model ``name``'s run settings from ``config`` put back.

    ``config`` is the run's configuration as the job sees it (``snakemake.config``, not tracked by
    Snakemake): a model's own ``models.{name}.training`` override of a run setting is kept.
    """
    if "training" not in spec:
        return dict(spec)
    specs = model_specs(config)
    # a model of an experiment that the base configuration lacks takes the base's run settings
    own = specs[name]["training"] if "training" in specs.get(name, {}) else config["training"]
    training = validate_section("training", {k: v for k, v in own.items() if k != "backbones"})
    return {
        **spec,
        "training": {**spec["training"], **{k: training[k] for k in RUN_SETTINGS["training"] if k in training}},
    }


def spec_for_seed(spec: dict, seed: int) -> dict:
    """A copy of ``spec`` trained with ``seed`` (one of the run's training seeds): one job of model x fold x seed."""
    out = {**spec}
    if "training" in out:
        out["training"] = {**out["training"], "seed": int(seed)}
    else:  # a kind without a training section (wavelet) carries its seed itself
        out["seed"] = int(seed)
    return out


def names_of_kind(specs: dict[str, dict], kind: str) -> list[str]:
    return [n for n, s in specs.items() if s["kind"] == kind]


def names_of_rule(specs: dict[str, dict], rule: str) -> list[str]:
    """The models a workflow rule trains (:attr:`ModelKind.rule`)."""
    return [n for n, s in specs.items() if MODEL_KINDS[s["kind"]].rule == rule]


def report_info(name: str, spec: dict) -> dict:
    """What the report needs to know about a model (kind, backbone, weights, strategy)."""
    training = spec.get("training") or {}
    return {
        "name": name,
        "kind": spec["kind"],
        "backbone": spec.get("backbone"),
        "pretrained": str(training["pretrained"]) if MODEL_KINDS[spec["kind"]].backbone else None,
        "strategy": training.get("strategy") if MODEL_KINDS[spec["kind"]].backbone else None,
    }


def leak_model(config: dict[str, Any], specs: dict[str, dict]) -> str | None:
    """The model of the leaky comparison: the named one, the first cnn2d model for ``auto``, or None (off)."""
    name = config.get("leak_comparison", {}).get("model", "auto")
    if name == "auto":
        cnn = names_with(specs, "backbone")
        return cnn[0] if cnn else None
    return name
