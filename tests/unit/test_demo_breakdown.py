"""benchmarks/demo_breakdown.py on a run folder laid out as Snakemake and the training jobs leave it."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import REPO

#: Three jobs as Snakemake 9 logs them: two trainings side by side, then the report alone.
LOG = """Building DAG of jobs...
[Mon Dec  7 12:29:34 2026]
rule train:
    output: results/models/resnet18/seed0/fold0/model.pt
    jobid: 13
    wildcards: model=resnet18, seed=0, fold=0

[Mon Dec  7 12:29:34 2026]
rule leak:
    output: results/leak/resnet18/model.pt
    jobid: 25

[Mon Dec  7 12:29:54 2026]
Finished jobid: 13 (Rule: train)
1 of 3 steps (33%) done

[Mon Dec  7 12:30:04 2026]
Finished jobid: 25 (Rule: leak)
2 of 3 steps (67%) done

[Mon Dec  7 12:30:04 2026]
localrule evaluate:
    jobid: 1

[Mon Dec  7 12:30:14 2026]
Finished jobid: 1 (Rule: evaluate)
3 of 3 steps (100%) done
"""


def test_breakdown_of_a_run(tmp_path):
    run = tmp_path / "demo"
    (run / ".snakemake" / "log").mkdir(parents=True)
    (run / ".snakemake" / "log" / "2026-12-07T122905.snakemake.log").write_text(LOG)
    for folder, startup, train in (("models/resnet18/seed0/fold0", 3.0, 15.0), ("leak/resnet18", 5.0, 24.0)):
        (run / "results" / folder).mkdir(parents=True)
        timing = {"total_s": startup + train, "process_startup_s": startup, "train_s": train}
        (run / "results" / folder / "metrics.json").write_text(json.dumps({"timing": timing}))
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "demo_breakdown.py"), str(run), "--cores", "2"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].startswith("wall 40 s, 3 jobs, 2 cores; load average now ")
    rows = {line.split()[0]: line.split()[1:] for line in out[2:5]}
    # job wall and its share of 2 cores x 40 s
    assert rows == {"leak": ["1", "30", "37.5%"], "train": ["1", "20", "25.0%"], "evaluate": ["1", "10", "12.5%"]}
    assert "idle core time: 20 s of 80 s" in out
    assert "after the last training job: 10 s" in out
    startup = next(line for line in out if "process_startup_s" in line)
    assert "n= 2 sum     8.0  median   4.00  min   3.00  max   5.00" in startup


def test_a_folder_without_a_log_is_named(tmp_path):
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "demo_breakdown.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "no Snakemake log" in r.stderr and str(tmp_path) in r.stderr
