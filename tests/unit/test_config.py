"""Config schema: defaults, descriptions, and clear errors for bad values."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from ecgcwt.config.load import deep_update, load_config, load_schema, validate_config
from ecgcwt.errors import ConfigError

from ..conftest import REPO


def _walk(schema, path=""):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}{name}", sub
        yield from _walk(sub, f"{path}{name}.")


def test_every_key_has_description_and_default():
    schema = load_schema()
    keys = list(_walk(schema))
    assert len(keys) > 40
    for key, sub in keys:
        assert sub.get("description"), f"{key} has no description"
        assert "default" in sub, f"{key} has no default"


def test_the_schema_says_which_keys_cannot_change_results():
    from ecgcwt.config import RUN_SETTINGS

    schema = load_schema()
    descriptions = dict((key, sub["description"]) for key, sub in _walk(schema))
    run_only = [f"{section}.{key}" for section, keys in RUN_SETTINGS.items() for key in keys]
    assert sorted(run_only) == ["cwt.batch_size", "training.checkpoint_interval_s", "training.memory_budget_mb"]
    top = " ".join(schema["description"].split())
    assert "Every key can change results" in top
    for key in run_only:
        assert key in top
        assert "Cannot change results" in descriptions[key] and "nothing" in descriptions[key]
    others = [k for k, d in descriptions.items() if "Cannot change results" in d]
    assert sorted(others) == sorted(run_only)


def test_schema_defaults_are_valid_and_match_config_yaml():
    # An empty config takes every default; config.yaml spells the same values out.
    from_defaults = validate_config({})
    from_file = load_config(REPO / "config.yaml")
    assert from_defaults == from_file


def test_demo_config_is_valid():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    merged = validate_config(deep_update(cfg, demo))
    assert merged["data"]["source"] == "synthetic"
    assert merged["training"]["pretrained"] == "none"


@pytest.mark.parametrize(
    "override, key, words",
    [
        ({"segments": {"window": "long"}}, "segments.window", "not of type 'integer'"),
        ({"data": {"source": "ftp"}}, "data.source", "is not one of"),
        ({"cwt": {"wavelet": "mexh"}}, "cwt.wavelet", "is not one of"),
        ({"folds": {"k": 1}}, "folds.k", "less than the minimum"),
        ({"training": {"epochs": 0}}, "training.epochs", "less than the minimum"),
        ({"training": {"lr": -1}}, "training.lr", "less than or equal to the minimum"),
        ({"segments": {"windw": 3}}, "segments", "Additional properties are not allowed ('windw'"),
    ],
)
def test_schema_violation_names_the_key(override, key, words):
    with pytest.raises(ConfigError) as err:
        validate_config(copy.deepcopy(override))
    msg = str(err.value)
    assert f"  {key}: " in msg and words in msg
    assert "config.schema.yaml" in msg


def test_unknown_backbone_suggests_the_closest_names_not_all_of_them():
    with pytest.raises(
        ConfigError, match=r"unknown backbone\(s\) \['resnet19'\]. 'resnet19': did you mean resnet18"
    ) as err:
        validate_config({"training": {"backbones": ["resnet18", "resnet19"]}})
    assert "wide_resnet101_2" not in str(err.value) and re.search(
        r"\d+ torchvision classification models", str(err.value)
    )


def test_local_source_needs_a_folder_with_records(tmp_path):
    with pytest.raises(ConfigError, match="data.path is not set"):
        validate_config({"data": {"source": "local"}})
    (tmp_path / "mitdb").mkdir()
    (tmp_path / "mitdb" / "RECORDS").write_text("100\n")
    with pytest.raises(ConfigError, match=r"lacks chfdb/RECORDS, nsrdb/RECORDS"):
        validate_config({"data": {"source": "local", "path": str(tmp_path)}})


def test_cross_key_rules():
    with pytest.raises(ConfigError, match="minimum must be below the maximum"):
        validate_config({"cwt": {"freq_limits": [30, 2]}})
    with pytest.raises(ConfigError, match="above the Nyquist frequency 64"):
        validate_config({"cwt": {"freq_limits": [1, 100]}})
    with pytest.raises(ConfigError, match="subjects_per_class is 3 but folds.k is 5"):
        validate_config({"data": {"source": "synthetic", "synthetic": {"subjects_per_class": 3}}})
    with pytest.raises(ConfigError, match="shorter than one window"):
        validate_config({"data": {"max_duration_s": 4}, "segments": {"window": 1024}})
    with pytest.raises(ConfigError, match="at least two classes"):
        validate_config({"data": {"databases": {"a": {"label": "X"}, "b": {"label": "X"}}}})
    with pytest.raises(ConfigError, match="neither 'imagenet', 'none' nor an existing weights file"):
        validate_config({"training": {"pretrained": "/nonexistent/weights.pth"}})
    with pytest.raises(ConfigError, match=r"data.records names database\(s\) \['ptbdb'\]"):
        validate_config({"data": {"records": {"ptbdb": ["1"]}}})


def test_database_map_can_merge_and_add_classes():
    cfg = validate_config(
        {"data": {"databases": {"mitdb": {"label": "ARR"}, "nsrdb": {"label": "NSR"}, "nsr2db": {"label": "NSR"}}}}
    )
    assert cfg["data"]["databases"]["nsr2db"] == {"label": "NSR", "version": "1.0.0"}


@pytest.mark.parametrize(
    "seeds, words",
    [
        ([0, 0], "has non-unique elements"),
        ([-1], "less than the minimum"),
        ([], "should be non-empty"),
    ],
)
def test_training_seeds_must_be_distinct_non_negative_and_at_least_one(seeds, words):
    with pytest.raises(ConfigError) as err:
        validate_config({"training": {"seeds": seeds}})
    assert "training.seeds" in str(err.value) and words in str(err.value)


def test_seed_and_seeds_relate():
    from ecgcwt.config import check_model_specs, spec_for_seed, training_seeds

    assert training_seeds(validate_config({})) == [0]
    # a config written for one seed keeps its meaning
    assert training_seeds(validate_config({"training": {"seed": 5}})) == [5]
    cfg = validate_config({"training": {"seeds": [2, 0, 7]}, "models": {"w": {"kind": "wavelet"}}})
    assert training_seeds(cfg) == [2, 0, 7]
    specs = check_model_specs(cfg)
    # seed is the first seed; each job trains with its own
    assert specs["resnet18"]["training"]["seed"] == 2 and specs["w"]["seed"] == 2
    assert spec_for_seed(specs["resnet18"], 7)["training"]["seed"] == 7 and spec_for_seed(specs["w"], 7)["seed"] == 7
    assert specs["resnet18"]["training"]["seed"] == 2  # the run's spec is not changed
    with pytest.raises(ConfigError, match=r"training.seed 3 and training.seeds \[1, 2\] disagree"):
        validate_config({"training": {"seed": 3, "seeds": [1, 2]}})
    # validate_config checks the models too
    with pytest.raises(ConfigError, match=r"models.x.training: \['seeds'\] apply to the whole run"):
        validate_config({"models": {"x": {"kind": "cnn1d", "training": {"seeds": [1]}}}})


def test_seed_beside_seeds_0_is_refused_and_the_config_lists_the_seeds_in_use():
    from ecgcwt.config import merge_config_files

    # seeds: [0] written out beside seed: 3 is a contradiction, not a run with seed 3 printed as seeds: [0]
    with pytest.raises(ConfigError, match=r"training.seed 3 and training.seeds \[0\] disagree"):
        validate_config({"training": {"seed": 3, "seeds": [0]}})
    # seed alone over config.yaml (as `snakemake --configfile` merges it): the effective config says seeds: [3]
    cfg = merge_config_files([REPO / "config.yaml"], {"training": {"seed": 3}})
    assert cfg["training"]["seeds"] == [3] and cfg["training"]["seed"] == 3
    assert validate_config({"training": {"seeds": [4, 1]}})["training"]["seed"] == 4


@pytest.mark.parametrize(
    "training, key",
    [
        ({"seed": 99999999999999999999999}, "training.seed"),
        ({"seed": 2**32}, "training.seed"),
        ({"seeds": [0, 2**32]}, "training.seeds.1"),
        ({"seeds": list(range(101))}, "training.seeds"),
    ],
)
def test_seeds_beyond_torch_limits_or_too_many_are_refused_by_the_config(training, key):
    with pytest.raises(ConfigError) as err:
        validate_config({"training": training})
    assert f"{key}:" in str(err.value)
    # the largest allowed seed and count pass
    validate_config({"training": {"seed": 2**32 - 1}})
    validate_config({"training": {"seeds": list(range(100))}})


@pytest.mark.parametrize(
    "subject_map, words",
    [
        ({"mitbd/201": "x"}, "names database 'mitbd', which is not in data.databases"),
        ({"mitdb201": "x"}, "must be '{db}/{record}'"),
    ],
)
def test_subject_map_keys_of_unknown_databases_are_refused(subject_map, words):
    with pytest.raises(ConfigError) as err:
        validate_config({"data": {"subject_map": subject_map}})
    assert words in str(err.value) and repr(next(iter(subject_map))) in str(err.value)


def test_a_huge_subject_map_is_refused_at_once():
    import time

    huge = {f"mitdb/x{i}": f"s{i}" for i in range(100_001)}
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"data.subject_map has 100,001 entries, more than the 100,000 allowed"):
        validate_config({"data": {"subject_map": huge}})
    assert time.perf_counter() - start < 1


def _integer_keys(schema, path=()):
    """Every ``type: integer`` key of the schema with a valid whole value for it."""
    for name, sub in schema.get("properties", {}).items():
        types = {sub["type"]} if isinstance(sub.get("type"), str) else set(sub.get("type", ()))
        if "integer" in types:
            value = sub["default"] if isinstance(sub.get("default"), int) else sub.get("minimum", 1)
            yield (*path, name), value
        yield from _integer_keys(sub, (*path, name))


def _nested(path, value):
    out = value
    for name in reversed(path):
        out = {name: out}
    return out


INTEGER_KEYS = list(_integer_keys(load_schema()))


def test_the_schema_has_the_integer_keys_the_issue_names():
    names = {".".join(p) for p, _ in INTEGER_KEYS}
    assert {"folds.k", "training.batch_size", "cwt.image.size", "segments.window", "training.seed"} <= names
    assert len(names) >= 15


@pytest.mark.parametrize("path, value", INTEGER_KEYS, ids=[".".join(p) for p, _ in INTEGER_KEYS])
def test_every_integer_key_refuses_a_float(path, value):
    key = ".".join(path)
    with pytest.raises(ConfigError, match=rf"{key} must be a whole number, got {float(value)!r}"):
        validate_config(_nested(path, float(value)))
    validate_config(_nested(path, value))  # the same value as an integer is fine


@pytest.mark.parametrize(
    "override, key",
    [
        ({"segments": {"leads": [0, 1.0]}}, "segments.leads.1"),  # inside an array (under oneOf)
        ({"models": {"m": {"kind": "cnn1d", "training": {"epochs": 2.0}}}}, "models.m.training.epochs"),
        ({"models": {"w": {"kind": "wavelet", "level": 3.0}}}, "models.w.level"),
    ],
)
def test_floats_in_arrays_and_model_entries_are_refused(override, key):
    with pytest.raises(ConfigError, match=rf"{key} must be a whole number"):
        validate_config(override)


def test_a_float_integer_in_a_yaml_file_is_refused_naming_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("folds:\n  k: 2.0\ntraining:\n  lr: 1.0e+400\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "folds.k must be a whole number, got 2.0" in str(err.value)
    assert "training.lr must be a finite number, got inf" in str(err.value)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])  # (-inf: below the schema's minimum)
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ConfigError, match="training.lr must be a finite number"):
        validate_config({"training": {"lr": value}})


# ---------------------------------------------------------------- every value checkable before the first job


def _torch_like_zip(path, inner="archive/data.pkl"):
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(inner, b"\x80\x02}q\x00.")
    return path


def test_pretrained_that_is_not_a_torch_file_is_refused_at_load(tmp_path):
    text = tmp_path / "weights.pth"
    text.write_text("these are not weights\n")
    plain_zip = _torch_like_zip(tmp_path / "other.zip", inner="notes.txt")
    for path in (text, plain_zip):
        with pytest.raises(ConfigError, match=r"training.pretrained: .* is not a file written by torch.save"):
            validate_config({"training": {"pretrained": str(path)}})


def test_pretrained_torch_files_pass_the_cheap_check(tmp_path):
    import torch

    real = tmp_path / "real.pth"
    torch.save({"w": torch.zeros(2)}, real)
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)
    for path in (real, legacy, _torch_like_zip(tmp_path / "z.pth")):
        assert validate_config({"training": {"pretrained": str(path)}})["training"]["pretrained"] == str(path)


def test_a_models_entrys_pretrained_override_is_checked_naming_its_key(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 64)
    cfg = {"models": {"r18": {"kind": "cnn2d", "backbone": "resnet18", "training": {"pretrained": str(bad)}}}}
    with pytest.raises(ConfigError, match=r"models.r18.training.pretrained: .* not a file written by torch.save"):
        validate_config(cfg)


def test_unknown_wavelet_of_the_wavelet_baseline_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"models.w.wavelet: 'db99' is not a discrete wavelet"):
        validate_config({"models": {"w": {"kind": "wavelet", "wavelet": "db99"}}})
    validate_config({"models": {"w": {"kind": "wavelet", "wavelet": "sym8"}}})


@pytest.mark.parametrize(
    "override, key",
    [
        ({"data": {"max_duration_s": 1e308}}, "data.max_duration_s"),
        ({"external": {"max_duration_s": 1e308}}, "external.max_duration_s"),
        ({"data": {"synthetic": {"subjects_per_class": 100_000}}}, "data.synthetic.subjects_per_class"),
        ({"segments": {"fs": 1e308}}, "segments.fs"),
        ({"training": {"dropout": 1.0}}, "training.dropout"),  # the model's check: [0, 1)
        ({"cwt": {"amor_omega0": 2.0}}, "cwt.amor_omega0"),  # the CWT's check: >= 3
        ({"cwt": {"morse_gamma": 0.5}}, "cwt.morse_gamma"),  # the CWT's check: >= 1
    ],
)
def test_values_that_fail_inside_a_job_are_refused_at_load(override, key):
    with pytest.raises(ConfigError, match=rf"{key}: .* (greater|less) than"):
        validate_config(override)


def test_morse_time_bandwidth_below_gamma_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"cwt.morse_time_bandwidth \(2\) must be at least cwt.morse_gamma \(3\)"):
        validate_config({"cwt": {"morse_gamma": 3, "morse_time_bandwidth": 2}})


def test_predict_max_duration_overflow_is_a_usage_error(capsys):
    from ecgcwt.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["predict", "--model", "m.pt", "--max-duration-s", "1e308", "rec"])
    assert exit_.value.code == 2
    assert "--max-duration-s: expected a number of seconds > 0 and at most 3.1536e+07" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["cwt.image.size", "cwt.image.colors", "cwt.voices_per_octave"])
def test_code_and_schema_accept_the_same_range(key):
    """A job's own check refuses exactly what the schema refuses: one below the minimum, one above the maximum."""
    from ecgcwt.config import schema_range
    from ecgcwt.imaging import CwtParams, validate_image_config

    lo, hi = schema_range(key)

    def job_check(value):
        if key == "cwt.voices_per_octave":
            CwtParams(voices_per_octave=value)
        else:
            size, colors = (value, 128) if key == "cwt.image.size" else (224, value)
            validate_image_config(size, "jet", colors, False)

    for ok in (lo, hi):
        job_check(ok)
        validate_config(_nested(key.split("."), ok))
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ConfigError, match=rf"{key} must be an integer in {lo}\.\.{hi}"):
            job_check(bad)
        with pytest.raises(ConfigError, match=key):
            validate_config(_nested(key.split("."), bad))


@pytest.mark.parametrize(
    "config, key",
    [
        ({"data": {"source": "local", "path": "/data/</script x><img src=x onerror=alert(1)>"}}, "data.path"),
        ({"external": {"path": "ecg\x1b]0;pwned\x07"}}, "external.path"),
        ({"training": {"pretrained": "w<b>.pth"}}, "training.pretrained"),
        ({"models": {"m": {"kind": "cnn1d", "training": {"pretrained": "a\nb"}}}}, "models.m.training.pretrained"),
    ],
)
def test_paths_that_could_become_markup_or_terminal_commands_are_refused_naming_the_key(config, key):
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    msg = str(err.value)
    assert msg.startswith(f"{key} ") and "may not contain '<', '>' or control characters" in msg
