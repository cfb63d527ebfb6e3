"""``ecgcwt config FILE...``: the effective configuration, merged and validated as the workflow does."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from ..conftest import REPO


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "ecgcwt", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_merges_files_over_the_defaults_and_prints_yaml(tmp_path):
    (tmp_path / "a.yaml").write_text("folds:\n  k: 3\ntraining:\n  epochs: 7\n")
    (tmp_path / "b.yaml").write_text("training:\n  epochs: 2\n")  # a later file wins, key by key
    done = _run("config", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["folds"]["k"] == 3  # overridden by a.yaml
    assert config["training"]["epochs"] == 2  # b.yaml over a.yaml
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["segments"] == defaults["segments"]  # untouched section: the defaults
    assert config["training"]["lr"] == defaults["training"]["lr"]  # untouched key beside an overridden one


def test_a_partial_mapping_adds_to_the_default_entries_as_snakemake_does(tmp_path):
    (tmp_path / "m.yaml").write_text("models:\n  wave_lr:\n    kind: wavelet\n    classifier: logistic_regression\n")
    done = _run("config", str(tmp_path / "m.yaml"))
    assert done.returncode == 0, done.stderr
    models = yaml.safe_load(done.stdout)["models"]
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    assert set(models) == {*defaults, "wave_lr"}


def test_an_invalid_value_names_the_key_on_one_line_and_exits_2(tmp_path):
    (tmp_path / "bad.yaml").write_text("folds:\n  k: 1\n")
    done = _run("config", str(tmp_path / "bad.yaml"))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ecgcwt config: error: folds.k: ")
    assert "Traceback" not in done.stderr


def test_a_check_across_keys_and_a_missing_file_are_one_line_too(tmp_path):
    (tmp_path / "nyq.yaml").write_text("cwt:\n  freq_limits: [1, 100]\n")  # above 64 Hz, Nyquist of 128 Hz
    done = _run("config", str(tmp_path / "nyq.yaml"))
    assert done.returncode == 2 and "cwt.freq_limits" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = _run("config", str(tmp_path / "absent.yaml"))
    assert done.returncode == 2 and "absent.yaml" in done.stderr and "cannot be read" in done.stderr


def test_config_command_imports_no_torch(tmp_path):
    (tmp_path / "a.yaml").write_text("folds:\n  k: 3\n")
    code = (
        "import sys\n"
        "from ecgcwt.cli import main\n"
        f"rc = main(['config', {str(tmp_path / 'a.yaml')!r}])\n"
        "assert rc == 0, rc\n"
        "heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


def test_help_lists_the_config_command():
    done = _run("--help")
    assert done.returncode == 0 and "config" in done.stdout
    done = _run("config", "--help")
    assert done.returncode == 0 and "FILE" in done.stdout
