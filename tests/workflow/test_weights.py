"""The weights rule: ImageNet weights fetched once, before training, from an offline mirror or placed by hand.

Mirrors are a local HTTP server; the weights file is a real-format squeezenet1_1
state_dict named after its own hash, which the snakemake processes are told
about through tests/workflow/weights_seam (see tests/fixtures_weights.py).
"""

from __future__ import annotations

import shutil

import pytest

from ..fixtures_weights import closed_port_url, make_weights_file, official_style_url, seam_env, serve_folder
from .runner import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

TARGET = "resources/weights/squeezenet1_1.pth"


def test_dry_run_fetches_the_weights_before_training(tmp_path):
    r = snakemake(tmp_path, "-n")
    assert r.returncode == 0, r.output
    assert planned_jobs(r)["weights"] == 3
    out = r.stdout
    assert out.index("rule weights:") < out.index("rule train:")
    for backbone in ("googlenet", "squeezenet1_1", "resnet18"):
        assert f"output: resources/weights/{backbone}.pth" in out
    assert "resources/weights/resnet18.pth" in out.split("rule train:", 1)[1]  # an input of training


@pytest.mark.parametrize("training", [{"pretrained": "none"}, {"strategy": "scratch"}])
def test_no_weights_jobs_without_imagenet_weights(tmp_path, training):
    cfg = write_config(tmp_path / "no_imagenet.yaml", {"training": training})
    r = snakemake(tmp_path, "-n", configfiles=[cfg])
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert "weights" not in jobs and jobs["train"] == 15
    assert "resources/weights" not in r.stdout


def test_weights_rule_fetches_from_an_offline_mirror(tmp_path):
    file = make_weights_file(tmp_path / "mirror")
    with serve_folder(file.parent) as url:
        env = seam_env(
            {"squeezenet1_1": official_style_url(file)}, ECGCWT_WEIGHTS_URL=url, TORCH_HOME=str(tmp_path / "torch_home")
        )
        r = snakemake(tmp_path, TARGET, env=env)
    assert r.returncode == 0, r.output
    assert (tmp_path / TARGET).read_bytes() == file.read_bytes()
    log = (tmp_path / "logs/weights/squeezenet1_1.log").read_text()
    assert f"downloading {url}/{file.name}" in log


def test_unreachable_mirror_fails_with_the_place_by_hand_message(tmp_path):
    file = make_weights_file(tmp_path / "mirror")
    mirror = closed_port_url()
    env = seam_env(
        {"squeezenet1_1": official_style_url(file)}, ECGCWT_WEIGHTS_URL=mirror, TORCH_HOME=str(tmp_path / "torch_home")
    )
    r = snakemake(tmp_path, TARGET, env=env)
    assert r.returncode != 0
    log = (tmp_path / "logs/weights/squeezenet1_1.log").read_text()
    dest = tmp_path.resolve() / TARGET
    for text in (log, r.output):  # the log, and the output (the profile shows failed logs)
        assert f"place the file by hand at exactly {dest}" in text
        assert f"{mirror}/{file.name}" in text and "training.pretrained: none" in text
    assert not (tmp_path / TARGET).exists()


def test_a_file_placed_by_hand_means_no_weights_job(tmp_path):
    placed = tmp_path / TARGET
    placed.parent.mkdir(parents=True)
    shutil.copyfile(make_weights_file(tmp_path / "elsewhere"), placed)
    r = snakemake(tmp_path, "-n", "results/models/squeezenet1_1/fold0/model.pt")
    assert r.returncode == 0, r.output
    jobs = planned_jobs(r)
    assert "weights" not in jobs and jobs["train"] == 1
    r = snakemake(tmp_path, "-n", TARGET)
    assert r.returncode == 0 and "Nothing to be done" in r.output, r.output
