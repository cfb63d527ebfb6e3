"""Dry runs: the default config plans the full DAG; reruns follow parameter changes."""

from __future__ import annotations

import pytest

from .runner import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_default_config_plans_the_whole_workflow(tmp_path):
    r = snakemake(tmp_path, "-n")
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # 3 databases downloaded; ImageNet weights of 3 backbones (googlenet, squeezenet1_1, resnet18)
    # fetched once each; 3 backbones, the 1D CNN and the wavelet baseline x 5 folds trained;
    # googlenet (the first cnn2d model: leak_comparison.model auto) once more on the leaky split;
    # Grad-CAM maps of the 3 cnn2d models for the report
    assert jobs == {
        "all": 1,
        "download_physionet": 3,
        "evaluate": 1,
        "folds": 1,
        "gallery": 1,
        "scalograms": 1,
        "segment": 1,
        "train": 15,
        "train_cnn1d": 5,
        "train_wavelet": 5,
        "leak": 1,
        "weights": 3,
        "explain": 3,
        "total": 41,
    }
    for model in ("googlenet", "squeezenet1_1", "resnet18", "cnn1d"):
        assert f"results/models/{model}/fold4/model.pt" in r.stdout
    assert "results/models/wavelet_svm/fold4/model.joblib" in r.stdout
    assert "results/leak/googlenet/predictions.csv" in r.stdout


def test_external_validation_builds_alone_without_folds(tmp_path):
    ext = tmp_path / "site_b"
    (ext / "mitdb").mkdir(parents=True)
    (ext / "mitdb" / "RECORDS").write_text("100\n")
    cfg = write_config(tmp_path / "ext.yaml", {"external": {"path": str(ext)}})
    r = snakemake(tmp_path, "-n", "results/external/resnet18/predictions.csv", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # the model trained on every subject needs no folds.csv: K-fold need not be possible
    assert jobs["train_all"] == 1 and jobs["external"] == 1 and "folds" not in jobs and "train" not in jobs


def test_the_report_reads_the_external_scores_of_every_model(tmp_path):
    ext = tmp_path / "site_b"
    (ext / "mitdb").mkdir(parents=True)
    (ext / "mitdb" / "RECORDS").write_text("100\n")
    cfg = write_config(tmp_path / "ext.yaml", {"external": {"path": str(ext)}, "leak_comparison": {"model": None}})
    r = snakemake(tmp_path, "-n", "results/report/report.html", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # 3 backbones, the 1D CNN and the wavelet baseline: each one's external scores feed the report
    assert jobs["external"] == 5 and jobs["train_all"] == 3 and jobs["train_cnn1d_all"] == 1
    assert jobs["train_wavelet_all"] == 1 and jobs["evaluate"] == 1


def test_one_target_plans_only_what_it_needs(tmp_path):
    r = snakemake(tmp_path, "-n", "results/models/resnet18/fold2/metrics.json")
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert jobs["train"] == 1 and "evaluate" not in jobs and jobs["download_physionet"] == 3


def test_invalid_config_stops_before_any_job(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"segments": {"window": -5}, "training": {"backbones": ["resnet18"]}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0
    assert "segments.window: -5 is less than the minimum of 16" in r.output


def test_unknown_backbone_is_named(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"training": {"backbones": ["resnet18", "googlenett"]}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0 and "unknown backbone(s) ['googlenett']" in r.output


def test_several_seeds_plan_one_job_per_model_fold_and_seed(tmp_path):
    ext = tmp_path / "site_b"
    (ext / "mitdb").mkdir(parents=True)
    (ext / "mitdb" / "RECORDS").write_text("100\n")
    cfg = write_config(tmp_path / "seeds.yaml", {"training": {"seeds": [0, 1]}, "external": {"path": str(ext)}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # 3 backbones, the 1D CNN and the wavelet baseline x 5 folds x 2 seeds; the all-subject model of each
    # model once per seed for external validation (one external job per model: the seeds' mean);
    # the leaky comparison once (with the first seed)
    assert jobs["train"] == 30 and jobs["train_cnn1d"] == 10 and jobs["train_wavelet"] == 10
    assert jobs["train_all"] == 6 and jobs["train_cnn1d_all"] == 2 and jobs["train_wavelet_all"] == 2
    assert jobs["external"] == 5 and jobs["leak"] == 1
    for seed in (0, 1):
        assert f"results/models/resnet18/seed{seed}/fold4/model.pt" in r.stdout
        assert f"results/models/cnn1d/seed{seed}/fold0/predictions.csv" in r.stdout
        assert f"results/models/wavelet_svm/seed{seed}/fold4/model.joblib" in r.stdout
        assert f"results/models/resnet18/seed{seed}/all/model.pt" in r.stdout
        assert f"results/models/wavelet_svm/seed{seed}/all/model.joblib" in r.stdout
    assert "results/models/resnet18/fold4/model.pt" not in r.stdout
    assert "results/leak/googlenet/predictions.csv" in r.stdout
    # one seed's fold is rebuilt alone
    r = snakemake(tmp_path, "-n", "results/models/resnet18/seed1/fold2/metrics.json", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert jobs["train"] == 1 and "evaluate" not in jobs


def test_seed_and_seeds_that_disagree_are_named(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"training": {"seed": 3, "seeds": [1, 2]}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0 and "training.seed 3 and training.seeds [1, 2] disagree" in r.output


def test_seed_beside_seeds_0_is_refused_not_printed_wrong(tmp_path):
    cfg = write_config(tmp_path / "bad.yaml", {"training": {"seed": 3, "seeds": [0]}})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0 and "training.seed 3 and training.seeds [0] disagree" in r.output


def test_a_subject_map_key_naming_no_record_stops_the_run_before_any_job(tmp_path, physionet_dir):
    data = tmp_path / "data"
    _local_tree(physionet_dir, data)
    cfg = write_config(
        tmp_path / "local.yaml",
        {"data": {"source": "local", "path": str(data), "subject_map": {"mitdb/1010": "mitdb/100"}}},
    )
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode != 0, r.output
    assert "data.subject_map" in r.output and "'mitdb/1010'" in r.output and "mitdb/101" in r.output
    assert "Job stats" not in r.output


def _local_tree(src, dest):
    """Three one- or two-record databases copied from the real PhysioNet records (into tmp_path only)."""
    import shutil

    picks = {"mitdb": ["100", "101"], "chfdb": ["chf02"], "nsrdb": ["16483"]}
    for db, names in picks.items():
        (dest / db).mkdir(parents=True)
        (dest / db / "RECORDS").write_text("".join(f"{n}\n" for n in names))
        for n in names:
            for ext in ("hea", "dat"):
                shutil.copy2(src / db / f"{n}.{ext}", dest / db / f"{n}.{ext}")


def test_a_changed_record_file_reruns_segments_and_an_untouched_tree_nothing(tmp_path, physionet_dir):
    import os
    import time

    data = tmp_path / "data"
    _local_tree(physionet_dir, data)
    cfg = write_config(
        tmp_path / "local.yaml",
        {"data": {"source": "local", "path": str(data), "max_duration_s": 30, "subject_map": {}}},
    )
    target = "results/data/segments.h5"
    r = snakemake(tmp_path, target, configfiles=[cfg])
    assert r.returncode == 0, r.output
    r = snakemake(tmp_path, "-n", target, configfiles=[cfg])
    assert r.returncode == 0 and "Nothing to be done" in r.output, r.output  # untouched: nothing reruns
    # a record's signal file replaced (same size, other samples): the segments are stale
    dat = data / "mitdb" / "101.dat"
    raw = bytearray(dat.read_bytes())
    raw[:1024] = bytes(1024)
    dat.write_bytes(bytes(raw))
    later = time.time() + 5
    os.utime(dat, (later, later))
    r = snakemake(tmp_path, "-n", target, configfiles=[cfg])
    assert r.returncode == 0, r.output
    assert planned_jobs(r) == {"segment": 1, "total": 1}
    assert f"Updated input files: {dat}" in r.output


def test_settings_that_cannot_change_results_retrain_nothing(tmp_path):
    """After a finished run, a changed memory budget, checkpoint interval or CWT batch size plans no job;
    a changed learning rate plans the train jobs again."""
    import json

    import pandas as pd

    base = {
        "data": {
            "source": "synthetic",
            "max_duration_s": None,
            "synthetic": {"subjects_per_class": 2, "duration_s": 24},
        },
        "segments": {"window": 256, "hop": 256, "max_per_recording": 3},
        "folds": {"k": 2},
        "cwt": {"image": {"size": 32}},
        "training": {"backbones": ["squeezenet1_1"], "pretrained": "none", "epochs": 1, "batch_size": 4},
        "models": {"cnn1d": {"kind": "cnn1d", "training": {"epochs": 1}}, "wavelet_svm": None},
        "leak_comparison": {"model": None},
    }
    targets = [f"results/models/{m}/fold{k}/predictions.csv" for m in ("squeezenet1_1", "cnn1d") for k in (0, 1)]
    cfg = write_config(tmp_path / "tiny.yaml", base)
    r = snakemake(tmp_path, *targets, configfiles=[cfg])
    assert r.returncode == 0, r.output
    first = pd.read_csv(tmp_path / targets[0])
    assert (
        json.loads((tmp_path / "results/models/squeezenet1_1/fold0/metrics.json").read_text())["learner"]["images"]
        == "memory"
    )
    run_only = {
        "training": {"memory_budget_mb": 0, "checkpoint_interval_s": 1},
        "cwt": {"batch_size": 5},
        "models": {"cnn1d": {"kind": "cnn1d", "training": {"epochs": 1, "memory_budget_mb": 1}}},
    }
    for section, change in run_only.items():
        changed = write_config(tmp_path / f"{section}.yaml", {section: change})
        r = snakemake(tmp_path, "-n", *targets, configfiles=[cfg, changed])
        assert r.returncode == 0 and "Nothing to be done" in r.output, (section, r.output)
    # the job still gets them (from its config): memory budget 0 streams the images, with the same result
    changed = write_config(tmp_path / "stream.yaml", {"training": {"memory_budget_mb": 0}})
    r = snakemake(tmp_path, "--forcerun", "train", targets[0], configfiles=[cfg, changed])
    assert r.returncode == 0, r.output
    assert (
        json.loads((tmp_path / "results/models/squeezenet1_1/fold0/metrics.json").read_text())["learner"]["images"]
        == "stream"
    )
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / targets[0]), first)
    # a setting that changes results plans every train job again
    lr = write_config(tmp_path / "lr.yaml", {"training": {"lr": 0.001}})
    r = snakemake(tmp_path, "-n", *targets, configfiles=[cfg, lr])
    assert r.returncode == 0, r.output
    assert planned_jobs(r) == {"train": 2, "train_cnn1d": 2, "total": 4}
    # as does a CWT setting (the scalograms, then the 2D CNNs on them)
    size = write_config(tmp_path / "size.yaml", {"cwt": {"image": {"size": 48}}})
    r = snakemake(tmp_path, "-n", *targets, configfiles=[cfg, size])
    assert r.returncode == 0, r.output
    assert planned_jobs(r) == {"scalograms": 1, "train": 2, "total": 3}


def test_full_length_config_plans_the_whole_workflow_on_local_records(tmp_path, physionet_dir):
    from ..conftest import REPO

    data = tmp_path / "data"
    _local_tree(physionet_dir, data)
    local = write_config(tmp_path / "local.yaml", {"data": {"source": "local", "path": str(data)}})
    r = snakemake(tmp_path, "-n", configfiles=[REPO / "config" / "full-length.yaml", local])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    # the default config's DAG on local records: nothing downloaded but the ImageNet weights
    assert "download_physionet" not in jobs and jobs["segment"] == 1 and jobs["scalograms"] == 1
    assert jobs["train"] == 15 and jobs["train_cnn1d"] == 5 and jobs["train_wavelet"] == 5 and jobs["evaluate"] == 1
