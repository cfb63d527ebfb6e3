"""Configuration: JSON-Schema validation with defaults, then checks across keys.

The schema (shipped as ``ecgcwt/config/schema.yaml``; the same file as the
workflow's ``workflow/schemas/config.schema.yaml``) gives every key a
description and a default; :func:`validate_config` fills the defaults in place
(as ``snakemake.utils.validate(..., set_default=True)`` does) and turns a
schema violation into a :class:`ConfigError` that names the key, the bad value
and what is allowed. :func:`check_config` adds the rules a schema cannot say.
:func:`merge_config_files` reads several files the way ``snakemake
--configfile A B`` does (later files update earlier ones, key by key).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, Sequence

import yaml

from ecgcwt.config.models import check_model_specs, training_seeds
from ecgcwt.config.validate import _check_against, check_backbones, check_weights_file, deep_update, load_schema
from ecgcwt.errors import ConfigError, broken_link

#: The rhythm classes the synthetic generator (``ecgcwt.data.synthetic``) draws; a test keeps them equal.
SYNTHETIC_CLASSES = ("ARR", "CHF", "NSR")


#: Most entries ``data.subject_map`` may hold: one per record that shares a person with another, and the
#: databases this workflow reads hold at most tens of thousands of records. Checked before anything else,
#: so a map of millions of entries is refused at once, not after minutes of validation.
SUBJECT_MAP_MAX = 100_000


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Fill defaults into ``config`` (in place) and validate it; returns it."""
    data = config.get("data") if isinstance(config, dict) else None
    subject_map = data.get("subject_map") if isinstance(data, dict) else None
    if isinstance(subject_map, dict) and len(subject_map) > SUBJECT_MAP_MAX:
        raise ConfigError(
            f"data.subject_map has {len(subject_map):,} entries, more than the {SUBJECT_MAP_MAX:,} allowed: list "
            "only the records that are the same person as another record (every other record is its own subject)."
        )
    _check_against(schema or load_schema(), config)
    check_config(config)
    return config


def read_config_file(path: str | os.PathLike) -> dict:
    """One YAML config file as a mapping, or a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, found {type(data).__name__}")
    return data


def merge_config_files(paths: Sequence[str | os.PathLike], overrides: dict | None = None) -> dict:
    """Merge config files over the defaults in order (later files update earlier ones key by key), then validate.

    The same merge as the workflow's: Snakemake reads ``config.yaml`` (the
    schema's defaults, a test keeps them equal) and updates it with
    ``--configfile A B`` key by key, so a file's ``models:`` or
    ``data.databases:`` adds to the default entries rather than replacing
    them. The workflow's and ``ecgcwt config A B``'s effective configurations
    are the same mapping.
    """
    config = default_config()
    for path in paths:
        config = deep_update(config, read_config_file(path))
    if overrides:
        config = deep_update(config, overrides)
    return validate_config(config)


def default_config() -> dict:
    """The package's default configuration: every schema default, unchecked (equal to ``config.yaml``)."""
    config: dict = {}
    _check_against(load_schema(), config)  # fills the defaults; the defaults themselves are valid
    return config


def effective_config_yaml(config: dict, sources: Sequence[str | os.PathLike] = ()) -> str:
    """``config`` as YAML in the schema's key order, headed by a comment naming the files merged."""
    head = "# effective configuration: package defaults"
    head += "".join(f" <- {source}" for source in sources)
    return head + "\n" + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> dict:
    return merge_config_files([path], overrides)


#: Characters a configured path or name may not hold: ``<`` and ``>`` (Snakemake's report embeds rule
#: parameters in its page as they are, where they would be markup) and control characters (a terminal
#: or log reader would act on them).
_UNSAFE_IN_PATHS = re.compile(r"[<>\x00-\x1f\x7f-\x9f]")


def _configured_paths(config: dict) -> list[tuple[str, Any]]:
    """(key, value) of every configured path and of every name that becomes part of one."""
    out = [("data.path", config["data"].get("path")), ("external.path", config.get("external", {}).get("path"))]
    out.append(("training.pretrained", config["training"].get("pretrained")))
    out += [(f"data.databases.{db}", db) for db in config["data"]["databases"]]
    for name, spec in (config.get("models") or {}).items():
        out.append((f"models.{name}", name))
        if isinstance(spec, dict) and isinstance(spec.get("training"), dict):
            out.append((f"models.{name}.training.pretrained", spec["training"].get("pretrained")))
    return out


def check_config_paths(config: dict) -> None:
    """A ConfigError naming the key of a configured path or name holding ``<``, ``>`` or a control character."""
    for key, value in _configured_paths(config):
        if isinstance(value, str) and _UNSAFE_IN_PATHS.search(value):
            bad = sorted(set(_UNSAFE_IN_PATHS.findall(value)))
            raise ConfigError(
                f"{key} {value!r} holds {', '.join(repr(c) for c in bad)}: paths and names in the configuration "
                "may not contain '<', '>' or control characters (they would reach the reports and logs as "
                "markup or terminal commands); rename the folder or file."
            )


def check_config(config: dict[str, Any]) -> None:
    """Rules across keys that JSON Schema cannot express."""
    check_config_paths(config)
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
        broken = [b for b in (broken_link(root / db / "RECORDS") for db in missing) if b]
        if broken:
            raise ConfigError(f"data.path {root}: {'; '.join(broken)}. Fix the link(s) or point data.path elsewhere.")
        if missing:
            raise ConfigError(
                f"data.path {root} lacks {', '.join(f'{db}/RECORDS' for db in missing)}: each database in "
                f"data.databases needs a folder with a RECORDS file there (or remove it from data.databases)."
            )
    _check_subject_map_keys(data["subject_map"], dbs)
    if data["source"] == "mathworks":
        path = data.get("path")
        if not path:
            raise ConfigError("data.source is mathworks but data.path is not set: set it to MathWorks' ECGData.mat.")
        if not Path(path).is_file():
            raise ConfigError(
                f"data.path {path} is not a file: with data.source mathworks it names MathWorks' ECGData.mat."
            )
        listed = data["mathworks"]["records"] or []
        unknown = sorted({name.split("/", 1)[0] for name in listed} - set(dbs))
        if unknown:
            raise ConfigError(
                f"data.mathworks.records names database(s) {unknown} that are not in data.databases ({list(dbs)})."
            )
    if isinstance(data["records"], dict):
        unknown = [db for db in data["records"] if db not in dbs]
        if unknown:
            raise ConfigError(f"data.records names database(s) {unknown} that are not in data.databases ({list(dbs)}).")
    if data["source"] == "synthetic":
        bad = {db: v["label"] for db, v in dbs.items() if v["label"] not in SYNTHETIC_CLASSES}
        if bad:
            raise ConfigError(
                f"data.source synthetic generates the classes {sorted(SYNTHETIC_CLASSES)}; data.databases has {bad}."
            )
        n = data["synthetic"]["subjects_per_class"]
        if config["folds"]["k"] != "loso" and n < config["folds"]["k"]:
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
    if cwt["morse_time_bandwidth"] < cwt["morse_gamma"]:
        raise ConfigError(
            f"cwt.morse_time_bandwidth ({cwt['morse_time_bandwidth']}) must be at least cwt.morse_gamma "
            f"({cwt['morse_gamma']}): P^2 = beta * gamma with beta >= 1."
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
    # the seeds in use, written back: the effective configuration (and the report quoting it) shows what runs
    seeds = training_seeds(config)
    config["training"].update(seeds=seeds, seed=seeds[0])
    check_model_specs(config)
    ext = config.get("external", {}).get("path")
    if ext is not None and not Path(ext).is_dir():
        raise ConfigError(
            f"external.path {ext} is not a folder: give a folder laid out as {{db}}/RECORDS + WFDB files, or null."
        )
    check_weights_file(config["training"]["pretrained"])


def _check_subject_map_keys(subject_map: dict, dbs) -> None:
    """Every ``data.subject_map`` key is ``{db}/{record}`` of a database of the run (the defaults excepted).

    Whether the record exists is checked where the record names are known
    (:func:`ecgcwt.data.check_subject_map`).
    """
    from ecgcwt.config.validate import schema_of

    default = schema_of("data.subject_map").get("default") or {}
    for key, value in subject_map.items():
        if default.get(key) == value:
            continue
        db, _, name = key.partition("/")
        if not name:
            raise ConfigError(f"data.subject_map key {key!r} must be '{{db}}/{{record}}', e.g. mitdb/202.")
        if db not in dbs:
            close = difflib.get_close_matches(db, list(dbs), n=1)
            hint = f" (did you mean {close[0]}/{name}?)" if close else ""
            raise ConfigError(
                f"data.subject_map key {key!r} names database {db!r}, which is not in data.databases "
                f"({', '.join(dbs)}){hint}; fix or remove the key."
            )
