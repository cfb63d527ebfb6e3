"""The README's commands after the demo, run as written, in the order a reader meets them.

The block under the README's "### After the demo" heading is taken from README.md itself, so
the test follows the README when it changes. Each command runs with bash from a folder laid
out like a checkout whose ``demo/`` holds the finished demo (the shared ``demo_checkout``
fixture, made the way ``make demo`` makes it), with this interpreter's ``bin/`` first on PATH
as after ``. .venv/bin/activate``. Each must succeed, and the ones whose effect a reader is told
are checked for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO
from .conftest import DEMO_JOBS, demo_snakemake
from .runner import write_config

pytestmark = pytest.mark.workflow


def readme_commands(heading: str) -> list[str]:
    """The commands of the first bash block under ``heading`` in README.md (comments dropped, continuations joined)."""
    text = (REPO / "README.md").read_text()
    section = text.split(heading, 1)
    assert len(section) == 2, f"README.md has no '{heading}' section"
    block = re.search(r"```bash\n(.*?)```", section[1], flags=re.S)
    assert block, f"no bash block under '{heading}'"
    commands, pending = [], ""
    for line in block.group(1).splitlines():
        line = line.split("  #", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        commands.append(pending + line)
        pending = ""
    return commands


def after_demo_commands() -> list[str]:
    return readme_commands("### After the demo")


def test_makefile_demo_is_the_fixtures_run():
    # the README's two commands: the fixture runs the demo as `make demo` does (in demo/, with config/demo.yaml),
    # and `make test` is the test suite itself
    assert readme_commands("## Quick start") == ["make demo", "make test"]
    test_recipe = (REPO / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "-m pytest tests" in test_recipe
    recipe = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "--directory demo --configfile config/demo.yaml" in recipe
    jobs = (REPO / "Makefile").read_text().split("\nDEMO_JOBS = ", 1)[1].split("\n", 1)[0]
    assert jobs.replace("$(DEMO_TRAININGS)", "2").split() == list(DEMO_JOBS)


def test_readme_commands_after_the_demo_work_as_written(demo_checkout):
    commands = after_demo_commands()
    assert len(commands) >= 4
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for cmd in commands:
        r = subprocess.run(["bash", "-c", cmd], cwd=demo_checkout, capture_output=True, text=True, env=env, timeout=900)
        out = r.stdout + r.stderr
        assert r.returncode == 0, f"{cmd}\n{out[-3000:]}"
        if " -n" in cmd and "snakemake" in cmd:
            assert "Nothing to be done" in out, f"{cmd}\n{out[-3000:]}"
        if "--report" in cmd:
            target = cmd.split("--report", 1)[1].split()[0]
            page = (demo_checkout / "demo" / target).read_text(errors="replace")
            assert "ranking.csv" in page and "Missing metadata" not in out
        if cmd.startswith("ecgcwt predict") and "--info" not in cmd:
            assert re.search(r"\b(ARR|CHF|NSR)\b.*ARR=\d\.\d+ CHF=\d\.\d+ NSR=\d\.\d+", r.stdout), out
        if "--info" in cmd:
            assert "Intended use" in r.stdout or "intended use" in r.stdout.lower(), out
        if cmd.startswith("ecgcwt config"):
            assert "source: synthetic" in r.stdout and "seeds:" in r.stdout, out


def test_a_failing_rerun_keeps_the_folds_earlier_outputs(demo_checkout, tmp_path):
    # last of the tests that share the demo (Snakemake then holds the failed job's settings)
    demo_run = demo_checkout / "demo"
    out = demo_run / "results/models/resnet18/seed0/fold0"
    before = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    assert set(before) == {"model.pt", "metrics.json", "predictions.csv", "history.csv"}
    # a real torch file (it passes the up-front config check) that is not this architecture's state_dict:
    # the training job itself fails
    import torch

    bad = tmp_path / "other-weights.pth"
    torch.save({"w": torch.zeros(1)}, bad)
    cfg = write_config(tmp_path / "bad_weights.yaml", {"training": {"pretrained": str(bad)}})
    r = demo_snakemake(demo_checkout, "results/models/resnet18/seed0/fold0/metrics.json", configfiles=[cfg])
    assert r.returncode != 0 and "does not match the architecture resnet18" in r.output, r.output[-3000:]
    after = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    assert after == before  # the earlier good outputs are back, byte for byte
