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
import math
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
            if e.validator in ("oneOf", "anyOf") and e.context:
                # "is not valid under any of the given schemas" names no key: report the error of the branch
                # of the value's own type (a mapping's bad key, not "is not of type 'boolean'")
                own = [c for c in e.context if not (c.validator == "type" and not c.relative_path)]
                e = jsonschema.exceptions.best_match(own or e.context)
            where = ".".join([*([prefix] if prefix else []), *(str(p) for p in e.absolute_path)]) or "(top level)"
            lines.append(f"  {where}: {e.message}")
        error = ConfigError(
            "invalid configuration:\n" + "\n".join(lines) + "\nSee workflow/schemas/config.schema.yaml for every "
            "key, its allowed values and default."
        )
        error.problems = [line.strip() for line in lines]  # "key: message" each, for one-line reports (the CLI)
        raise error
    problems = list(_number_problems(schema, instance, [prefix] if prefix else []))
    if problems:
        error = ConfigError("invalid configuration:\n" + "\n".join(f"  {msg}" for _, msg in problems[:10]))
        error.problems = [msg for _, msg in problems[:10]]
        raise error


def schema_of(key: str) -> dict:
    """The schema of one dotted key (``"cwt.image.size"``), so code checking a value uses the schema's bounds."""
    sub = _read_schema(None)
    for name in key.split("."):
        if name not in sub.get("properties", {}):
            # a value-or-mapping key (training.augment: true/false or a mapping): its mapping branch
            sub = next(
                (b for b in (*sub.get("oneOf", ()), *sub.get("anyOf", ())) if name in b.get("properties", {})), sub
            )
        sub = sub["properties"][name]
    return copy.deepcopy(sub)


def schema_range(key: str) -> tuple[float | None, float | None]:
    """``(minimum, maximum)`` of a numeric key (either None where the schema has no bound)."""
    sub = schema_of(key)
    return sub.get("minimum", sub.get("exclusiveMinimum")), sub.get("maximum", sub.get("exclusiveMaximum"))


def _types(schema: dict) -> set[str]:
    t = schema.get("type", ())
    return {t} if isinstance(t, str) else set(t)


def _number_problems(schema: dict, instance, where: list[str]):
    """``(key, message)`` of every integer key holding a float and every non-finite number.

    JSON Schema counts 2.0 as an integer and inf/nan as numbers (nan even passes
    ``minimum``), so both pass validation and fail later: ``range(2.0)`` at plan
    time, an inf learning rate deep inside a training job. Walking the schema
    beside the instance finds them all, whatever key they are under.
    """
    key = ".".join(where) or "(top level)"
    if isinstance(instance, float):
        if not math.isfinite(instance):
            yield key, f"{key} must be a finite number, got {instance!r}"
        elif "integer" in _types(schema) and "number" not in _types(schema):
            yield key, f"{key} must be a whole number, got {instance!r} (write it without a decimal point)"
        return
    for branch in (*schema.get("oneOf", ()), *schema.get("anyOf", ()), *schema.get("allOf", ())):
        # only the branch that holds the value: its problems are the value's
        if _Validator(branch).is_valid(copy.deepcopy(instance)):
            yield from _number_problems(branch, instance, where)
            return
    if isinstance(instance, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for name, value in instance.items():
            sub = props.get(name, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from _number_problems(sub, value, [*where, str(name)])
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(instance):
            yield from _number_problems(schema["items"], value, [*where, str(i)])


def validate_section(name: str, section: dict | None, prefix: str | None = None) -> dict:
    """Validate one top-level section (e.g. ``training``) alone; returns a copy with defaults.

    Library entry points (``train_fold``, ``build_report``, ...) call this, so
    that the schema is the one place where keys, allowed values and defaults
    are defined, with or without Snakemake. ``prefix`` is where the section
    sits in the user's config (e.g. ``models.<name>.training``), for messages.
    """
    out = copy.deepcopy(dict(section or {}))
    _check_against(load_schema()["properties"][name], out, prefix=prefix or name)
    return out


def deep_update(base: dict, new: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in new.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


#: How a file written by ``torch.save`` begins: a zip archive (torch >= 1.6) or a pickle (the legacy format).
_ZIP_MAGIC, _PICKLE_PROTOCOLS = b"PK\x03\x04", tuple(bytes([0x80, p]) for p in range(2, 6))


def check_weights_file(pretrained: str, key: str = "training.pretrained") -> None:
    """A ``pretrained`` value is ``imagenet``, ``none`` or a file that looks like a ``torch.save`` state_dict.

    Cheap on purpose (no torch: the Snakemake process on a login node and the
    data rules' environments have none): the first bytes must be a zip archive
    holding a ``data.pkl`` (what ``torch.save`` writes) or a pickle. That stops
    a wrong path (a scalogram cache, a CSV, a text file) before any job runs;
    whether the tensors fit the backbone is checked where torch is, when the
    training job builds the model (``torch.load(weights_only=True)``, then the
    architecture's keys and shapes).
    """
    import zipfile

    if pretrained in ("imagenet", "none"):
        return
    path = os.fspath(pretrained)
    if not os.path.isfile(path):
        raise ConfigError(
            f"{key} is {pretrained!r}: neither 'imagenet', 'none' nor an existing weights file. "
            "Give the path of a torchvision state_dict "
            "(e.g. a file written by the weights rule into resources/weights/)."
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        ok = head[:2] in _PICKLE_PROTOCOLS
        if head == _ZIP_MAGIC:
            with zipfile.ZipFile(path) as zf:
                ok = any(n == "data.pkl" or n.endswith("/data.pkl") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{key}: weights file {path!r} cannot be read ({exc})") from None
    if not ok:
        raise ConfigError(
            f"{key}: {path!r} is not a file written by torch.save (neither a torch zip archive nor a pickle). "
            "Give a torchvision state_dict saved with torch.save(model.state_dict(), path), 'imagenet' or 'none'."
        )


def check_wavelet_name(name: str, key: str) -> None:
    """A discrete PyWavelets wavelet name (pywt imports in ~0.1 s and needs no torch), else a ConfigError."""
    try:
        import pywt
    except ImportError:  # the environment running Snakemake lacks it: the wavelet job checks the name itself
        return
    if name not in pywt.wavelist(kind="discrete"):
        raise ConfigError(
            f"{key}: {name!r} is not a discrete wavelet of PyWavelets; use one of pywt.wavelist(kind='discrete'), "
            "e.g. db4, sym8, coif3"
        )


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


#: The [low, high] settings of each signal augmentation (training.augment), checked for low <= high.
_AUGMENT_RANGES = {
    "amplitude": ("range",),
    "baseline_wander": ("amplitude", "hz"),
    "gaussian_noise": ("snr_db",),
    "powerline": ("snr_db",),
    "time_stretch": ("range",),
}


def check_augment(value, key: str = "training.augment", fs: float | None = None) -> dict:
    """``training.augment`` as a full mapping (``true``/``false``: the time shift alone), checked.

    The schema's checks, then what it cannot say: every ``[low, high]`` has
    ``low <= high``, and (given the segments' rate ``fs``) a powerline
    frequency in use lies below the Nyquist frequency. Raises
    :class:`ConfigError` naming the key.
    """
    if isinstance(value, bool):
        value = {"shift": value}
    elif not isinstance(value, dict):
        raise ConfigError(f"{key} must be true, false or a mapping of augmentations, got {value!r}")
    prefix = key.rsplit(".", 1)[0] if "." in key else None
    full = validate_section("training", {"augment": dict(value)}, prefix=prefix)["augment"]
    for name, ranges in _AUGMENT_RANGES.items():
        for r in ranges:
            lo, hi = full[name][r]
            if lo > hi:
                raise ConfigError(f"{key}.{name}.{r}: [low, high] needs low <= high, got {[lo, hi]}")
    pl = full["powerline"]
    bad = [f for f in pl["hz"] if fs is not None and f >= fs / 2]
    if pl["p"] > 0 and bad:
        raise ConfigError(
            f"{key}.powerline.hz {bad} Hz is at or above the Nyquist frequency {fs / 2:g} Hz of the segments "
            f"(segments.fs {fs:g} Hz): a mains hum there cannot be represented; raise segments.fs above "
            f"{2 * max(bad):g} Hz or set {key}.powerline.p to 0"
        )
    return full


def augment_signal_on(value) -> bool:
    """Whether ``training.augment`` turns on a signal augmentation (some p > 0).

    A cnn2d model's training then computes its images per batch from the
    segment store (the workflow gives its job the segments too).
    """
    if not isinstance(value, dict):
        return False
    return any(isinstance(v, dict) and float(v.get("p", 0) or 0) > 0 for v in value.values())
