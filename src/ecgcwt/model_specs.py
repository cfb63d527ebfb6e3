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
backbone, named after it, exactly as before models existed.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

KINDS = ("cnn2d", "cnn1d", "wavelet")
#: Names that cannot be a model (they are fold or folder names of the workflow).
RESERVED = {"all"}
#: Settings of a wavelet model and their defaults.
WAVELET_DEFAULTS = {"wavelet": "db4", "level": 5, "classifier": "svm", "C": 1.0}


def _merged_training(config: dict, overrides: dict | None) -> dict:
    from .config import deep_update

    base = {k: v for k, v in config["training"].items() if k != "backbones"}
    return deep_update(base, dict(overrides or {}))


def model_specs(config: dict[str, Any]) -> dict[str, dict]:
    """``name -> spec`` of every model of a validated config, backbones first, then ``models`` in order."""
    specs: dict[str, dict] = {}
    for b in config["training"]["backbones"]:
        specs[b] = {"kind": "cnn2d", "backbone": b, "training": _merged_training(config, None)}
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
        spec: dict[str, Any] = {"kind": kind}
        wrong = [k for k in WAVELET_DEFAULTS if k in entry and kind != "wavelet"]
        if wrong:
            raise ConfigError(f"models.{name}: {wrong} apply to kind wavelet only (this model is {kind})")
        if kind == "cnn2d":
            if not entry.get("backbone"):
                raise ConfigError(f"models.{name}: kind cnn2d needs a backbone (a torchvision model name)")
            spec["backbone"] = entry["backbone"]
        elif entry.get("backbone"):
            raise ConfigError(f"models.{name}: backbone applies to kind cnn2d only (this model is {kind})")
        if kind in ("cnn2d", "cnn1d"):
            spec["training"] = _merged_training(config, entry.get("training"))
        else:
            if entry.get("training"):
                raise ConfigError(
                    f"models.{name}: training settings do not apply to kind wavelet (set wavelet, level, classifier, C)"
                )
            spec.update({k: entry.get(k, v) for k, v in WAVELET_DEFAULTS.items()})
            # the same seed and inner split as the CNNs: every model trains on the same subjects
            spec["seed"] = config["training"]["seed"]
            spec["val_fraction"] = config["training"]["val_fraction"]
        specs[name] = spec
    return specs


def check_model_specs(config: dict[str, Any]) -> dict[str, dict]:
    """:func:`model_specs` plus every check a spec needs (training overrides against the schema, names)."""
    from .config import check_backbones, validate_section

    specs = model_specs(config)
    for name, spec in specs.items():
        if "training" in spec:
            try:
                spec["training"] = validate_section("training", spec["training"])
            except ConfigError as exc:
                raise ConfigError(f"models.{name}.training: {exc}") from None
        # training.backbones themselves are checked with the rest of the config
        if spec["kind"] == "cnn2d" and name not in config["training"]["backbones"]:
            check_backbones([spec["backbone"]], key=f"models.{name}.backbone")
    leak = config.get("leak_comparison", {}).get("model")
    if leak not in (None, "auto") and (leak not in specs or specs[leak]["kind"] != "cnn2d"):
        cnn = [n for n, s in specs.items() if s["kind"] == "cnn2d"]
        raise ConfigError(f"leak_comparison.model {leak!r} is not a cnn2d model of this run; one of {cnn}")
    return specs


def names_of_kind(specs: dict[str, dict], kind: str) -> list[str]:
    return [n for n, s in specs.items() if s["kind"] == kind]


def report_info(name: str, spec: dict) -> dict:
    """What the report needs to know about a model (kind, backbone, weights, strategy)."""
    training = spec.get("training") or {}
    return {
        "name": name,
        "kind": spec["kind"],
        "backbone": spec.get("backbone"),
        "pretrained": str(training["pretrained"]) if spec["kind"] == "cnn2d" else None,
        "strategy": training.get("strategy") if spec["kind"] == "cnn2d" else None,
    }


def leak_model(config: dict[str, Any], specs: dict[str, dict]) -> str | None:
    """The model of the leaky comparison: the named one, the first cnn2d model for ``auto``, or None (off)."""
    name = config.get("leak_comparison", {}).get("model", "auto")
    if name == "auto":
        cnn = names_of_kind(specs, "cnn2d")
        return cnn[0] if cnn else None
    return name
