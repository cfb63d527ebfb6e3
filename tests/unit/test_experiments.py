"""Experiments in the config: named overrides and a grid, each validated whole; stage keys shared by settings."""

from __future__ import annotations

import pytest

from ecgcwt.config import default_config, validate_config
from ecgcwt.config.experiments import (
    expand_experiments,
    grid_entries,
    has_experiments,
    reference_experiment,
    stage_keys,
)
from ecgcwt.errors import ConfigError

CACHE = {"format": 3, "codec": "rowdelta-zstd-3"}


def base(**extra):
    config = default_config()
    config["data"]["source"] = "synthetic"
    config.update(extra)
    return config


def keys(config):
    return {name: stage_keys(cfg, CACHE) for name, cfg in expand_experiments(config).items()}


def test_without_experiments_nothing_is_expanded_and_the_config_validates():
    config = base()
    assert not has_experiments(config)
    assert expand_experiments(config) == {}
    validate_config(config)


def test_grid_expands_to_the_product_with_readable_names_in_order():
    config = base(experiment_grid={"cwt.wavelet": ["morse", "amor"], "cwt.image.size": [112, 224]})
    experiments = expand_experiments(config)
    assert list(experiments) == [
        "wavelet-morse_size-112",
        "wavelet-morse_size-224",
        "wavelet-amor_size-112",
        "wavelet-amor_size-224",
    ]
    assert experiments["wavelet-amor_size-112"]["cwt"]["wavelet"] == "amor"
    assert experiments["wavelet-amor_size-112"]["cwt"]["image"]["size"] == 112
    # the rest of the section is the base's (a deep merge, as --configfile)
    assert experiments["wavelet-amor_size-112"]["cwt"]["image"]["mode"] == "jet"
    assert reference_experiment(config, experiments) == "wavelet-morse_size-112"


def test_names_are_filesystem_safe_and_keys_that_read_alike_get_their_section():
    points = grid_entries({"training.seed": [1], "folds.seed": [2], "cwt.freq_limits": [[0.5, 40], None]})
    names = [n for n, _ in points]
    assert names == ["training-seed-1_folds-seed-2_freq_limits-0.5+40", "training-seed-1_folds-seed-2_freq_limits-null"]
    assert all("/" not in n and " " not in n for n in names)


def test_named_experiments_merge_nested_or_dotted_overrides_beside_the_grid():
    config = base(
        experiments={"amor": {"cwt": {"wavelet": "amor"}}, "small": {"cwt.image.size": 96}},
        experiment_grid={"training.lr": [0.001]},
        compare={"reference": "small"},
    )
    experiments = expand_experiments(config)
    assert list(experiments) == ["amor", "small", "lr-0.001"]
    assert experiments["small"]["cwt"]["image"]["size"] == 96
    assert experiments["lr-0.001"]["training"]["lr"] == 0.001
    assert reference_experiment(config, experiments) == "small"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"experiments": {"bad": {"cwt": {"wavelet": "mexh"}}}}, ["experiment 'bad'", "cwt.wavelet", "mexh"]),
        ({"experiment_grid": {"cwt.image.size": [64, 0]}}, ["experiment 'size-0'", "cwt.image.size"]),
        ({"experiment_grid": {"cwt.wavlet": ["amor"]}}, ["experiment_grid.cwt.wavlet", "not a key"]),
        ({"experiments": {"x": {"training.lr": 0.1, "trainig.epochs": 2}}}, ["experiments.x.trainig.epochs"]),
        ({"experiments": {"a/b": {}}}, ["experiments.a/b", "cannot name an experiment"]),
        ({"experiments": {"x": {"data": {"synthetic": {"seed": 3}}}}}, ["experiment 'x'", "data.synthetic.seed"]),
        ({"experiment_grid": {"training.lr": []}}, ["experiment_grid.training.lr", "non-empty list"]),
        ({"experiments": {"a": {}}, "compare": {"reference": "b"}}, ["compare.reference", "'b'"]),
        (
            {"experiments": {"a": {"models": {"m": {"kind": "cnn1d"}}}, "b": {"models": {"m": {"kind": "wavelet"}}}}},
            ["model 'm'", "experiment 'b'", "different names"],
        ),
    ],
)
def test_a_bad_experiment_is_refused_naming_the_experiment_and_the_key(extra, words):
    with pytest.raises(ConfigError) as err:
        expand_experiments(base(**extra))
    for word in words:
        assert word in str(err.value)


def test_stages_share_keys_exactly_where_their_settings_agree():
    k = keys(base(experiment_grid={"cwt.wavelet": ["morse", "amor"], "training.lr": [0.001, 0.0003]}))
    seg = {v["segments"] for v in k.values()}
    folds = {v["folds"] for v in k.values()}
    cwt = {v["scalograms"] for v in k.values()}
    assert len(seg) == 1 and len(folds) == 1 and len(cwt) == 2
    a, b = k["wavelet-morse_lr-0.001"], k["wavelet-morse_lr-0.0003"]
    assert a["scalograms"] == b["scalograms"]
    # the CNNs differ by lr; the wavelet-feature model does not read lr or the scalograms: one model for all
    assert a["models"]["resnet18"] != b["models"]["resnet18"]
    assert len({v["models"]["wavelet_svm"] for v in k.values()}) == 1
    # a run setting (bit-identical results) changes no key
    assert (
        keys(base(experiments={"x": {"cwt": {"batch_size": 7}}, "y": {}}))["x"]
        == keys(base(experiments={"y": {}, "x": {}}))["x"]
    )


def test_a_segment_setting_changes_every_key_downstream():
    k = keys(base(experiment_grid={"segments.window": [512, 1024]}))
    a, b = k["window-512"], k["window-1024"]
    assert a["segments"] != b["segments"] and a["folds"] != b["folds"] and a["scalograms"] != b["scalograms"]
    assert set(a["models"].values()).isdisjoint(b["models"].values())


def test_a_job_finds_its_experiment_s_config_by_the_stage_key_in_its_wildcards():
    from ecgcwt.config import job_config

    plain = base()
    assert job_config(plain, {"model": "resnet18", "fold": "0"}, CACHE) == plain
    config = base(experiment_grid={"cwt.wavelet": ["morse", "amor"], "training.lr": [0.001]})
    k = keys(config)
    amor = k["wavelet-amor_lr-0.001"]
    job = {"model": "resnet18", "mkey": amor["models"]["resnet18"], "seed": "0", "fold": "1"}
    assert job_config(config, job, CACHE)["cwt"]["wavelet"] == "amor"
    assert job_config(config, {"cwt": amor["scalograms"]}, CACHE)["cwt"]["wavelet"] == "amor"
    assert job_config(config, {"experiment": "wavelet-morse_lr-0.001"}, CACHE)["cwt"]["wavelet"] == "morse"
    with pytest.raises(ConfigError, match="no experiment of this run"):
        job_config(config, {"cwt": "0000000000"}, CACHE)
