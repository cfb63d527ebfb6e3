"""The finished demo, shared by the tests that read it (test_demo, test_readme_commands).

It is run the way ``make demo`` runs it: ``snakemake --directory demo --configfile
config/demo.yaml``, from a folder laid out like a checkout (links to the repository's
workflow files), so that the README's commands can then be run there exactly as written.
"""

from __future__ import annotations

import subprocess

import pytest

from ..conftest import REPO
from .runner import SNAKEMAKE

#: What a checkout holds that the workflow and the README's commands read.
CHECKOUT_PARTS = (
    "Snakefile",
    "config.yaml",
    "config",
    "workflow",
    "profiles",
    "src",
    "envs",
    "containers",
    "README.md",
)


#: ``make demo``'s job settings on this 2-core machine (the Makefile's DEMO_JOBS with DEMO_TRAININGS = 2):
#: two trainings at once, one thread each
DEMO_JOBS = (
    *("--set-threads", "train=1", "train_cnn1d=1", "train_wavelet=1", "leak=1", "explain=1"),
    *("--scheduler", "greedy", "--resources", "gpu=2"),
)


@pytest.fixture(scope="session")
def demo_checkout(tmp_path_factory):
    """A checkout-like folder whose ``demo/`` holds a complete demo run."""
    root = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT_PARTS:
        (root / name).symlink_to(REPO / name)
    (root / "demo").mkdir()
    r = demo_snakemake(root, *DEMO_JOBS, timeout=2400)
    assert r.returncode == 0, r.output[-5000:]
    return root


def demo_snakemake(checkout, *args: str, configfiles=(), timeout=900) -> subprocess.CompletedProcess:
    """``snakemake --directory demo --configfile config/demo.yaml [FILES] --cores 2 ARGS`` run in ``checkout``.

    Exactly what ``make demo`` and the README's commands run (the Snakefile found in the current folder):
    every test of the demo uses this one form, so Snakemake's records of the demo's jobs stay comparable.
    """
    cmd = [*SNAKEMAKE, "--directory", "demo", "--cores", "2", *args]
    cmd += ["--configfile", "config/demo.yaml", *map(str, configfiles)]  # last: --configfile takes every word after it
    r = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, timeout=timeout)
    r.output = r.stdout + r.stderr
    return r


@pytest.fixture(scope="session")
def demo_run(demo_checkout):
    return demo_checkout / "demo"
