"""The wheel: built from this checkout and installed elsewhere, it runs without the checkout.

Package data the code needs at run time (the config schema) must be in the
wheel: a checkout on ``sys.path`` would hide a missing file, so the installed
copy runs from another folder with only the install folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..conftest import REPO

SCHEMAS = (REPO / "workflow" / "schemas" / "config.schema.yaml", REPO / "src" / "ecgcwt" / "config" / "schema.yaml")


def test_the_two_schema_copies_are_identical():
    workflow_schema, package_schema = SCHEMAS
    assert workflow_schema.read_bytes() == package_schema.read_bytes(), (
        f"{package_schema.relative_to(REPO)} differs from {workflow_schema.relative_to(REPO)}: edit the workflow's "
        f"schema, then `cp {workflow_schema.relative_to(REPO)} {package_schema.relative_to(REPO)}`"
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout (its build folders stay out of the repo), installed in a folder."""
    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    proj = tmp / "proj"
    proj.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, proj / name)
    shutil.copytree(REPO / "src", proj / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    # a path, not a bare name: pip would look a bare "proj" up in the package index
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(proj)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp / "dist").glob("ecgcwt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ecgcwt/config/schema.yaml" in names, "the config schema is not in the wheel: see package-data in pyproject"
    assert "ecgcwt/config/CITATION.cff" in names, "the citation file is not in the wheel: see package-data in pyproject"
    # typed: py.typed and each lazy face's stub, so a type checker sees the installed package's public names
    typing = {"ecgcwt/py.typed", "ecgcwt/config/__init__.pyi", "ecgcwt/learn/baselines/__init__.pyi"}
    assert typing <= set(names), f"{sorted(typing - set(names))} not in the wheel: see package-data in pyproject"
    site = tmp / "site"
    install = subprocess.run(
        [*pip, "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return site


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the repo's src must not be on the path
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_the_installed_package_is_not_the_checkout_and_holds_the_schema(installed, tmp_path):
    done = _run_installed(
        installed,
        tmp_path,
        "-c",
        "import ecgcwt, ecgcwt.config.validate as v; from importlib import resources; "
        "print(ecgcwt.__file__); print(resources.files('ecgcwt.config').joinpath('schema.yaml').is_file())",
    )
    assert done.returncode == 0, done.stderr
    location, has_schema = done.stdout.split()
    assert Path(location).resolve().is_relative_to(installed.resolve()), location
    assert has_schema == "True"
    assert (installed / "ecgcwt" / "config" / "schema.yaml").read_bytes() == SCHEMAS[1].read_bytes()


def test_the_installed_config_command_validates(installed, tmp_path):
    (tmp_path / "small.yaml").write_text("folds:\n  k: 3\n")
    done = _run_installed(installed, tmp_path, "-m", "ecgcwt", "config", "small.yaml")
    assert done.returncode == 0, done.stderr
    assert "\nfolds:\n  k: 3\n" in done.stdout and "\nsegments:\n" in done.stdout
    (tmp_path / "bad.yaml").write_text("segments:\n  window: -5\n")
    done = _run_installed(installed, tmp_path, "-m", "ecgcwt", "config", "bad.yaml")
    assert done.returncode != 0
    assert "segments.window" in done.stderr and "Traceback" not in done.stderr


def test_the_installed_predict_help_runs(installed, tmp_path):
    done = _run_installed(installed, tmp_path, "-m", "ecgcwt", "predict", "--help")
    assert done.returncode == 0, done.stderr
    assert "--model" in done.stdout
