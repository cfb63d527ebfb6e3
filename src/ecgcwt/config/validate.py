"""The schema and the checks every part of the package shares: defaults, one section, backbone names.

The schema ships inside the package (``ecgcwt/config/schema.yaml``, read with
:mod:`importlib.resources`), so a wheel installed outside a checkout validates
configs too; ``workflow/schemas/config.schema.yaml`` is the same file for
Snakemake users (a test keeps them identical).
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
from importlib import resources

import jsonschema
import yaml

from ecgcwt.errors import ConfigError

SCHEMA_RESOURCE = "schema.yaml"


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
def _read_schema(path: str | None) -> dict:
    if path is None:
        return yaml.safe_load(resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8"))
    with open(path) as fh:
        return yaml.safe_load(fh)


def load_schema(path: str | os.PathLike | None = None) -> dict:
    """The config schema (the packaged one unless ``path`` names another file); a copy the caller may change."""
    return copy.deepcopy(_read_schema(None if path is None else str(path)))


def _check_against(schema: dict, instance, prefix: str = "") -> None:
    """Fill defaults into ``instance`` and raise one ConfigError listing every violation."""
    errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            where = ".".join([*([prefix] if prefix else []), *(str(p) for p in e.absolute_path)]) or "(top level)"
            lines.append(f"  {where}: {e.message}")
        error = ConfigError(
            "invalid configuration:\n" + "\n".join(lines) + "\nSee workflow/schemas/config.schema.yaml for every "
            "key, its allowed values and default."
        )
        error.problems = [line.strip() for line in lines]  # "key: message" each, for one-line reports (the CLI)
        raise error


def validate_section(name: str, section: dict | None) -> dict:
    """Validate one top-level section (e.g. ``training``) alone; returns a copy with defaults.

    Library entry points (``train_fold``, ``build_report``, ...) call this, so
    that the schema is the one place where keys, allowed values and defaults
    are defined, with or without Snakemake.
    """
    out = copy.deepcopy(dict(section or {}))
    _check_against(load_schema()["properties"][name], out, prefix=name)
    return out


def deep_update(base: dict, new: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in new.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_backbones(names, key: str = "training.backbones") -> None:
    # names from a static list, not torchvision: every Snakemake process (each SLURM job's too) runs this check,
    # and the data rules' environments have no torch
    from ecgcwt.config.backbones import supported_backbones, unknown_backbone_hint

    known = sorted(supported_backbones())
    unknown = [n for n in names if n not in known]
    if unknown:
        # the closest names, not all ~80: a typo wants its correction, not a list to read
        close = {n: difflib.get_close_matches(str(n), known, n=3, cutoff=0.6) for n in unknown}
        advice = "; ".join(f"{n!r}: did you mean {' or '.join(c)}?" for n, c in close.items() if c)
        raise ConfigError(
            f"{key}: unknown backbone(s) {unknown}. {advice + ' ' if advice else ''}"
            f"Any of the {len(known)} torchvision classification models works (torchvision.models.list_models()"
            f", e.g. resnet18, googlenet, squeezenet1_1, efficientnet_b0).{unknown_backbone_hint(unknown)}"
        )
