"""Experiments of one run: ``experiments:`` (named overrides) and ``experiment_grid:`` (a product of settings).

Each experiment is the base configuration with its overrides merged in key by
key (as ``snakemake --configfile`` merges files), validated as a whole config
before any job runs; a problem names the experiment and the key.

Every stage is keyed by the settings that shape it (:func:`stage_keys`): a
short hash of the stage's tracked settings and its upstream keys. Two
experiments that agree on every setting a stage depends on get the same key,
so the workflow builds that stage once for both (one segment store, one
scalogram cache, one trained model) and an experiment added to a finished grid
plans only its own new jobs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from typing import Any, Mapping

from ecgcwt.config.load import validate_config
from ecgcwt.config.models import MODEL_KINDS, RUN_SETTINGS, check_model_specs, tracked_section
from ecgcwt.config.validate import deep_update, schema_of
from ecgcwt.errors import ConfigError

#: The top-level keys that define experiments; the rest of the config is the base every experiment starts from.
GRID_KEYS = ("experiments", "experiment_grid", "compare")

#: A name usable as a folder and a wildcard value: letters, digits, ``.``, ``_``, ``+``, ``-``.
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
#: Experiment names that are folders of the run itself.
_RESERVED = {"compare"}
#: Hex digits of a stage key.
KEY_LENGTH = 10


def has_experiments(config: Mapping[str, Any]) -> bool:
    """Whether ``config`` defines experiments (a non-empty ``experiments:`` or ``experiment_grid:``)."""
    return bool(config.get("experiments")) or bool(config.get("experiment_grid"))


def base_config(config: Mapping[str, Any]) -> dict:
    """``config`` without the keys that define experiments (a deep copy): what every experiment overrides."""
    return {k: copy.deepcopy(v) for k, v in config.items() if k not in GRID_KEYS}


def _nested(overrides: Mapping[str, Any], where: str) -> dict:
    """Overrides with dotted keys (``cwt.image.size: 112``) turned into nested mappings."""
    out: dict = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: {key!r} is not a configuration key")
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{where}: {key} sets a key inside a value set elsewhere in the same entry")
        leaf = parts[-1]
        if isinstance(value, Mapping):
            node[leaf] = deep_update(
                node.get(leaf, {}) if isinstance(node.get(leaf), dict) else {}, _nested(value, f"{where}.{key}")
            )
        else:
            node[leaf] = copy.deepcopy(value)
    return out


def _check_key(key: str, where: str) -> None:
    """A dotted key of the schema (``cwt.image.size``), else a ConfigError naming it and where it was written."""
    try:
        schema_of(key)
    except (KeyError, TypeError):
        top = key.split(".")[0]
        hint = "" if top not in GRID_KEYS else f" ({top} cannot be varied by an experiment)"
        raise ConfigError(
            f"{where}: {key!r} is not a key of the configuration{hint}; see workflow/schemas/config.schema.yaml "
            "for every key (nested keys written with dots, e.g. cwt.image.size)"
        ) from None
    if key.split(".")[0] in GRID_KEYS:
        raise ConfigError(f"{where}: {key!r} cannot be set by an experiment")


def value_text(value: Any) -> str:
    """A grid value in a name: ``amor``, ``112``, ``0.0003``, ``true``, ``null``, ``0.5+40`` for a list."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "+".join(value_text(v) for v in value) or "empty"
    if isinstance(value, Mapping):
        return "+".join(f"{k}-{value_text(v)}" for k, v in value.items()) or "empty"
    text = re.sub(r"[^A-Za-z0-9.+-]+", "-", str(value)).strip("-.")
    return text or "x"


def _labels(keys: list[str]) -> dict[str, str]:
    """The words naming each grid key: its last part, or more of it where two keys would read alike."""
    labels = {}
    for key in keys:
        parts = key.split(".")
        n = 1
        while n < len(parts) and sum(k.split(".")[-n:] == parts[-n:] for k in keys) > 1:
            n += 1
        labels[key] = "-".join(parts[-n:])
    return labels


def grid_entries(grid: Mapping[str, Any]) -> list[tuple[str, dict]]:
    """``(name, {dotted key: value})`` of every point of ``experiment_grid`` in order (first key slowest).

    Names read ``wavelet-amor_size-112``: each key's last part and its value, joined by ``_``.
    """
    if not isinstance(grid, Mapping):
        raise ConfigError("experiment_grid must map dotted keys to lists of values, e.g. cwt.wavelet: [morse, amor]")
    keys = list(grid)
    for key in keys:
        _check_key(str(key), f"experiment_grid.{key}")
        values = grid[key]
        if not isinstance(values, list) or not values:
            raise ConfigError(f"experiment_grid.{key}: give a non-empty list of values, got {values!r}")
    labels = _labels([str(k) for k in keys])
    out = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        name = "_".join(f"{labels[str(k)]}-{value_text(v)}" for k, v in zip(keys, combo))
        out.append((name, {str(k): v for k, v in zip(keys, combo)}))
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"experiment_grid: two points would share the name {dupes[0]!r} (a key lists one value twice, or two "
            "values read alike in a file name); list each value once"
        )
    return out


def experiment_overrides(config: Mapping[str, Any]) -> dict[str, dict]:
    """``name -> nested overrides`` of every experiment: ``experiments:`` in order, then the grid's points."""
    out: dict[str, dict] = {}
    named = config.get("experiments") or {}
    if not isinstance(named, Mapping):
        raise ConfigError("experiments must map experiment names to overrides of the configuration")
    for name, overrides in named.items():
        where = f"experiments.{name}"
        if not isinstance(name, str) or not _SAFE.match(name) or name in _RESERVED:
            raise ConfigError(
                f"{where}: {name!r} cannot name an experiment (a folder results/experiments/{{name}}/): use letters, "
                "digits, '.', '_', '+' and '-', starting with a letter or digit"
                + (", not 'compare'" if name in _RESERVED else "")
            )
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"{where}: give a mapping of settings to override (e.g. cwt: {{wavelet: amor}})")
        for key in overrides:
            if isinstance(key, str) and "." in key:
                _check_key(key, f"{where}.{key}")
            elif key in GRID_KEYS:
                raise ConfigError(f"{where}: {key!r} cannot be set by an experiment")
        out[name] = _nested(overrides, where)
    for name, point in grid_entries(config.get("experiment_grid") or {}):
        if name in out:
            raise ConfigError(
                f"experiment_grid: the point {name!r} has the name of an experiments entry; rename that entry"
            )
        out[name] = _nested(point, f"experiment_grid ({name})")
    return out


def _data_differences(base: dict, cfg: dict, prefix: str = "data") -> list[str]:
    if isinstance(base, dict) and isinstance(cfg, dict):
        keys = list(dict.fromkeys([*base, *cfg]))
        return [d for k in keys for d in _data_differences(base.get(k), cfg.get(k), f"{prefix}.{k}")]
    return [] if base == cfg else [prefix]


def expand_experiments(config: Mapping[str, Any]) -> dict[str, dict]:
    """``name -> validated config`` of every experiment of ``config`` (empty without experiments).

    Each experiment is checked as a whole config (:func:`~ecgcwt.config.validate_config`, defaults
    filled in); its error is re-raised naming it. Every experiment reads the same records (the comparison
    pairs them subject by subject), so an override of a ``data`` setting is refused.
    """
    if not has_experiments(config):
        return {}
    base = validate_config(base_config(config))
    out: dict[str, dict] = {}
    for name, overrides in experiment_overrides(config).items():
        try:
            cfg = validate_config(deep_update(base_config(config), overrides))
        except ConfigError as exc:
            raise ConfigError(f"experiment {name!r}: {exc}") from None
        differ = _data_differences(base["data"], cfg["data"])
        if differ:
            raise ConfigError(
                f"experiment {name!r}: {differ[0]} differs from the base configuration. Every experiment is "
                "compared on the same records and subjects: set data in the base configuration, not in an experiment"
            )
        out[name] = cfg
    kinds: dict[str, tuple[str, str]] = {}
    for name, cfg in out.items():
        for model, spec in check_model_specs(cfg).items():
            seen = kinds.setdefault(model, (spec["kind"], name))
            if seen[0] != spec["kind"]:
                raise ConfigError(
                    f"experiment {name!r}: model {model!r} is kind {spec['kind']} here but {seen[0]} in experiment "
                    f"{seen[1]!r}; give the two models different names"
                )
    reference = (config.get("compare") or {}).get("reference")
    if reference is not None and reference not in out:
        raise ConfigError(f"compare.reference: {reference!r} is not an experiment of this run; one of {list(out)}")
    return out


def experiment_config(config: Mapping[str, Any], name: str | None) -> dict:
    """The whole config of experiment ``name``; ``config`` itself for ``None`` or ``""`` (a run without experiments)."""
    if not name:
        return dict(config)
    experiments = expand_experiments(config)
    if name not in experiments:
        raise ConfigError(f"experiment {name!r} is not one of this run's: {list(experiments)}")
    return experiments[name]


def reference_experiment(config: Mapping[str, Any], experiments: Mapping[str, dict]) -> str:
    """``compare.reference``, or the first experiment."""
    return (config.get("compare") or {}).get("reference") or next(iter(experiments))


# --------------------------------------------------------------------------- stage keys


def settings_key(*parts: Any) -> str:
    """A short hash of ``parts`` as canonical JSON: equal settings, equal key."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def _model_settings(spec: dict) -> dict:
    """A model's spec as it shapes a trained model, without the seeds (each seed has its own folder)."""
    out = copy.deepcopy(spec)
    out.pop("seed", None)
    if "training" in out:
        out["training"] = {
            k: v for k, v in out["training"].items() if k not in ("seed", "seeds", *RUN_SETTINGS["training"])
        }
    return out


def stage_keys(config: Mapping[str, Any], cache_layout: Mapping[str, Any]) -> dict:
    """The key of every stage of one experiment's ``config``.

    ``{"segments": k, "folds": k, "scalograms": k, "models": {name: k}}``. ``cache_layout`` is what the
    scalogram rule tracks besides the cwt settings (cache format and codec). A model's key holds the
    key of the file it learns from (:attr:`ModelKind.reads`) and of its folds.
    """
    seg = settings_key("segments", config["data"], config["segments"])
    folds = settings_key("folds", seg, config["folds"])
    cwt = settings_key("scalograms", seg, tracked_section("cwt", config["cwt"]), dict(cache_layout))
    models = {}
    for name, spec in check_model_specs(dict(config)).items():
        upstream = cwt if MODEL_KINDS[spec["kind"]].reads == "scalograms" else seg
        models[name] = settings_key("model", name, _model_settings(spec), upstream, folds)
    return {"segments": seg, "folds": folds, "scalograms": cwt, "models": models}


def job_config(config: Mapping[str, Any], wildcards: Mapping[str, str], cache_layout: Mapping[str, Any]) -> dict:
    """The configuration of the experiment a workflow job belongs to; ``config`` itself without experiments.

    Found by the job's wildcards: ``experiment``, or the stage key it builds (``mkey`` with ``model``,
    ``cwt``, ``folds``, ``seg``; :func:`stage_keys` with the workflow's ``cache_layout``). A stage shared
    by several experiments is the same for each, so the first that has the key stands for all.
    """
    if not has_experiments(config):
        return dict(config)
    if wildcards.get("experiment"):
        return experiment_config(config, wildcards["experiment"])
    stage = {"cwt": "scalograms", "folds": "folds", "seg": "segments"}
    for cfg in expand_experiments(config).values():
        keys = stage_keys(cfg, cache_layout)
        if "mkey" in wildcards:
            if keys["models"].get(wildcards.get("model")) == wildcards["mkey"]:
                return cfg
        elif any(keys[name] == wildcards[w] for w, name in stage.items() if w in wildcards):
            return cfg
    raise ConfigError(f"no experiment of this run has the stage of the job with wildcards {dict(wildcards)}")
