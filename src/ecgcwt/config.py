"""Configuration: JSON-Schema validation with defaults, then checks across keys.

The schema (``workflow/schemas/config.schema.yaml``) gives every key a
description and a default; :func:`validate_config` fills the defaults in place
(as ``snakemake.utils.validate(..., set_default=True)`` does) and turns a
schema violation into a :class:`ConfigError` that names the key, the bad value
and what is allowed. :func:`check_config` adds the rules a schema cannot say.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError

#: The schema beside the workflow (this package is used from a checkout of the workflow).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


@functools.lru_cache(maxsize=4)
def _read_schema(path: str) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def load_schema(path: str | os.PathLike | None = None) -> dict:
    return copy.deepcopy(_read_schema(str(path or SCHEMA_PATH)))


def _check_against(schema: dict, instance, prefix: str = "") -> None:
    """Fill defaults into ``instance`` and raise one ConfigError listing every violation."""
    errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            where = ".".join([*([prefix] if prefix else []), *(str(p) for p in e.absolute_path)]) or "(top level)"
            lines.append(f"  {where}: {e.message}")
        raise ConfigError(
            "invalid configuration:\n" + "\n".join(lines) + "\nSee workflow/schemas/config.schema.yaml for every "
            "key, its allowed values and default."
        )


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Fill defaults into ``config`` (in place) and validate it; returns it."""
    _check_against(schema or load_schema(), config)
    check_config(config)
    return config


def validate_section(name: str, section: dict | None) -> dict:
    """Validate one top-level section (e.g. ``training``) alone; returns a copy with defaults.

    Library entry points (``train_fold``, ``build_report``, ...) call this, so
    that the schema is the one place where keys, allowed values and defaults
    are defined, with or without Snakemake.
    """
    out = copy.deepcopy(dict(section or {}))
    _check_against(load_schema()["properties"][name], out, prefix=name)
    return out


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    if overrides:
        config = deep_update(config, overrides)
    return validate_config(config)


def deep_update(base: dict, new: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in new.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_config(config: dict[str, Any]) -> None:
    """Rules across keys that JSON Schema cannot express."""
    data, seg, cwt = config["data"], config["segments"], config["cwt"]
    dbs = data["databases"]
    labels = {v["label"] for v in dbs.values()}
    if len(labels) < 2:
        raise ConfigError(f"data.databases maps every database to {labels}: a classifier needs at least two classes.")
    if data["source"] == "local":
        if not data.get("path"):
            raise ConfigError("data.source is local but data.path is not set: set it to a folder with {db}/RECORDS.")
        root = Path(data["path"])
        missing = [db for db in dbs if not (root / db / "RECORDS").is_file()]
        if missing:
            raise ConfigError(
                f"data.path {root} lacks {', '.join(f'{db}/RECORDS' for db in missing)}: each database in "
                f"data.databases needs a folder with a RECORDS file there (or remove it from data.databases)."
            )
    if isinstance(data["records"], dict):
        unknown = [db for db in data["records"] if db not in dbs]
        if unknown:
            raise ConfigError(f"data.records names database(s) {unknown} that are not in data.databases ({list(dbs)}).")
    if data["source"] == "synthetic":
        from .synthetic import PROFILES

        bad = {db: v["label"] for db, v in dbs.items() if v["label"] not in PROFILES}
        if bad:
            raise ConfigError(
                f"data.source synthetic generates the classes {sorted(PROFILES)}; data.databases has {bad}."
            )
        n = data["synthetic"]["subjects_per_class"]
        if n < config["folds"]["k"]:
            raise ConfigError(
                f"data.synthetic.subjects_per_class is {n} but folds.k is {config['folds']['k']}: every class needs "
                f"at least k subjects. Raise subjects_per_class or lower folds.k."
            )
        if data["synthetic"]["duration_s"] * seg["fs"] < seg["window"]:
            raise ConfigError("data.synthetic.duration_s is shorter than one window (segments.window / segments.fs).")
    if data["max_duration_s"] is not None and data["max_duration_s"] * seg["fs"] < seg["window"]:
        raise ConfigError(
            f"data.max_duration_s ({data['max_duration_s']} s) is shorter than one window "
            f"({seg['window']} samples at {seg['fs']} Hz): raise it or lower segments.window."
        )
    if cwt["freq_limits"] is not None:
        fmin, fmax = cwt["freq_limits"]
        if fmin >= fmax:
            raise ConfigError(f"cwt.freq_limits [{fmin}, {fmax}]: the minimum must be below the maximum.")
        if fmax > seg["fs"] / 2:
            raise ConfigError(
                f"cwt.freq_limits maximum {fmax} Hz is above the Nyquist frequency {seg['fs'] / 2} Hz of segments.fs."
            )
    check_backbones(config["training"]["backbones"])
    from .model_specs import check_model_specs

    check_model_specs(config)
    ext = config.get("external", {}).get("path")
    if ext is not None and not Path(ext).is_dir():
        raise ConfigError(
            f"external.path {ext} is not a folder: give a folder laid out as {{db}}/RECORDS + WFDB files, or null."
        )
    pre = config["training"]["pretrained"]
    if pre not in ("imagenet", "none") and not Path(pre).is_file():
        raise ConfigError(
            f"training.pretrained is {pre!r}: neither 'imagenet', 'none' nor an existing weights file. "
            "Give the path of a torchvision state_dict "
            "(e.g. a file written by the weights rule into resources/weights/)."
        )


def check_backbones(names, key: str = "training.backbones") -> None:
    # names from a static list, not torchvision: every Snakemake process (each SLURM job's too) runs this check,
    # and the data rules' environments have no torch
    from .backbone_names import supported_backbones, unknown_backbone_hint

    known = set(supported_backbones())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"{key}: unknown backbone(s) {unknown}. torchvision classification models are: "
            f"{', '.join(sorted(known))}.{unknown_backbone_hint(unknown)}"
        )
