"""Experiments side by side: a grid of settings in one run, each stage built once per distinct input.

Dry runs count the planned jobs (cheap); one tiny real grid run checks the comparison, that a rerun
plans nothing, that a fifth experiment plans only its own jobs, and that experiments agreeing on the
CWT settings read one scalogram cache.
"""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from ecgcwt.config import expand_experiments, merge_config_files, stage_keys
from ecgcwt.imaging import CACHE_FORMAT, DEFAULT_CODEC

from .runner import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

#: tiny synthetic data, one small CNN, two folds: the grid's jobs are what this test is about
TINY = {
    "data": {"source": "synthetic", "max_duration_s": None, "synthetic": {"subjects_per_class": 3, "duration_s": 16}},
    "segments": {"window": 256, "hop": 256, "max_per_recording": 2},
    "folds": {"k": 2},
    "cwt": {"image": {"size": 32}},
    "training": {"backbones": ["resnet18"], "pretrained": "none", "epochs": 1, "batch_size": 8, "precision": "fp32"},
    "evaluate": {"bootstrap": 20},
    "models": {"cnn1d": None, "wavelet_svm": None},
    "leak_comparison": {"model": None},
}
GRID = {"experiment_grid": {"cwt.wavelet": ["morse", "amor"], "training.lr": [0.001, 0.0003]}}
NAMES = ["wavelet-morse_lr-0.001", "wavelet-morse_lr-0.0003", "wavelet-amor_lr-0.001", "wavelet-amor_lr-0.0003"]


def grid_config(tmp_path, **extra):
    return write_config(tmp_path / "grid.yaml", {**copy.deepcopy(TINY), **GRID, **extra})


def test_the_grid_builds_segments_once_and_the_cache_once_per_cwt_setting(tmp_path):
    r = snakemake(tmp_path, "-n", configfiles=[grid_config(tmp_path)])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert jobs["segment"] == 1 and jobs["folds"] == 1 and jobs["synthetic_database"] == 3
    assert jobs["scalograms"] == 2 and jobs["gallery"] == 2
    # every experiment's CNN differs (wavelet or lr): 4 x 2 folds; one report each and one comparison
    assert jobs["train"] == 8 and jobs["explain"] == 4 and jobs["evaluate"] == 4 and jobs["compare"] == 1
    for name in NAMES:
        assert f"results/experiments/{name}/report/report.html" in r.stdout
    # the same four experiments run one by one, each in its own folder: every stage once per experiment
    separate = {}
    for name, overrides in zip(NAMES, [(w, lr) for w in ("morse", "amor") for lr in (0.001, 0.0003)]):
        one = copy.deepcopy(TINY)
        one["cwt"]["wavelet"], one["training"]["lr"] = overrides
        work = tmp_path / name
        work.mkdir()
        s = snakemake(work, "-n", configfiles=[write_config(tmp_path / f"{name}.yaml", one)])
        assert s.returncode == 0, s.output
        for rule, n in planned_jobs(s).items():
            separate[rule] = separate.get(rule, 0) + n
    print(f"grid with sharing: {jobs}")
    print(f"four separate runs: {separate}")
    assert separate["segment"] == 4 and separate["scalograms"] == 4 and separate["synthetic_database"] == 12
    assert jobs["total"] < separate["total"]


def test_a_bad_grid_value_stops_before_any_job_naming_experiment_and_key(tmp_path):
    bad = grid_config(tmp_path, experiment_grid={"cwt.wavelet": ["morse", "mexh"]})
    r = snakemake(tmp_path, "-n", configfiles=[bad])
    assert r.returncode != 0
    assert "experiment 'wavelet-mexh'" in r.output and "cwt.wavelet: 'mexh' is not one of" in r.output
    assert "Job stats" not in r.output


def _model_key(config_files, experiment, model="resnet18"):
    config = merge_config_files(config_files)
    cfg = expand_experiments(config)[experiment]
    return stage_keys(cfg, {"format": CACHE_FORMAT, "codec": DEFAULT_CODEC})["models"][model]


def test_a_tiny_grid_runs_compares_reruns_nothing_and_grows_by_one_experiment(tmp_path):
    cfg = grid_config(tmp_path)
    work = tmp_path / "run"
    work.mkdir()
    r = snakemake(work, configfiles=[cfg], timeout=1800)
    assert r.returncode == 0, r.output[-5000:]

    table = pd.read_csv(work / "results/compare/comparison.csv")
    assert set(table["experiment"]) == set(NAMES)
    diff = table[table["metric"] == "balanced_accuracy_difference"]
    assert set(diff["experiment"]) == set(NAMES[1:]) and diff["reference"].eq(NAMES[0]).all()
    assert diff["p_holm"].between(0, 1).all() and (diff["p_holm"] >= diff["p_value"]).all()
    html = (work / "results/compare/report.html").read_text()
    assert "SYNTHETIC DATA" in html and "Provenance" in html and f"vs {NAMES[0]}, resnet18: " in html
    for name in NAMES:
        assert (work / f"results/experiments/{name}/report/report.html").is_file()

    # two experiments agreeing on the CWT settings (they differ in training.lr) trained on one cache file
    summary = snakemake(work, "-D", configfiles=[cfg])
    assert summary.returncode == 0, summary.output
    caches = {}
    for name in NAMES[:2]:
        key = _model_key([cfg], name)
        row = next(line for line in summary.stdout.splitlines() if line.startswith(f"results/models/resnet18/{key}/"))
        caches[name] = [f for f in row.split("\t")[4].split(",") if f.endswith("scalograms.h5")]
    assert caches[NAMES[0]] == caches[NAMES[1]] and len(caches[NAMES[0]]) == 1
    assert len(list((work / "results/scalograms").glob("*/scalograms.h5"))) == 2

    again = snakemake(work, "-n", configfiles=[cfg])
    assert again.returncode == 0 and "Nothing to be done" in again.output, again.output[-3000:]

    # a fifth experiment: its own cache, its models, its report and the comparison; nothing else
    fifth = write_config(tmp_path / "fifth.yaml", {"experiments": {"vpo8": {"cwt": {"voices_per_octave": 8}}}})
    grown = snakemake(work, "-n", configfiles=[cfg, fifth])
    assert grown.returncode == 0, grown.output
    assert planned_jobs(grown) == {
        "scalograms": 1,
        "gallery": 1,
        "train": 2,
        "explain": 1,
        "evaluate": 1,
        "compare": 1,
        "all": 1,
        "total": 8,
    }


def test_the_readme_experiments_command_plans_the_demo_grid(tmp_path):
    """README.md's "Experiments" command, dry: the demo grid shares segments, folds and the 1D CNN."""
    import shlex
    import subprocess

    from ..conftest import REPO
    from .conftest import CHECKOUT_PARTS
    from .runner import SNAKEMAKE

    section = (REPO / "README.md").read_text().split("## Experiments", 1)[1].split("\n## ", 1)[0]
    command = section.split("```bash", 1)[1].split("```", 1)[0].strip()
    words = shlex.split(command)
    assert words[0] == "snakemake" and "config/experiments-demo.yaml" in words
    for name in CHECKOUT_PARTS:
        (tmp_path / name).symlink_to(REPO / name)
    # -n first: --configfile takes every word after it
    r = subprocess.run([*SNAKEMAKE, "-n", *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = planned_jobs(r)
    assert jobs["segment"] == 1 and jobs["folds"] == 1 and jobs["scalograms"] == 2
    # ResNet-18 per wavelet, the 1D CNN (it reads no scalogram) once for both: 3 folds each
    assert jobs["train"] == 6 and jobs["train_cnn1d"] == 3 and jobs["compare"] == 1
