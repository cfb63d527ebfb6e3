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
        training_seeds(validate_config({"training": {"seed": 3, "seeds": [1, 2]}}))
    # validate_config checks the models too
    with pytest.raises(ConfigError, match=r"models.x.training: \['seeds'\] apply to the whole run"):
        validate_config({"models": {"x": {"kind": "cnn1d", "training": {"seeds": [1]}}}})
