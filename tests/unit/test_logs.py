"""Job logging: package errors end a job as one line; long jobs print their epochs on the terminal."""

from __future__ import annotations

import subprocess
import sys

from ecgcwt.logs import progress_echo


def test_progress_echo_logs_everything_and_prints_epochs(capsys):
    logged = []
    echo = progress_echo(logged.append, "train resnet18 seed 0 fold 1")
    lines = [
        "resnet18 fold 1: 96 train / 24 val windows",
        "epoch 1/20: train loss 1.10 acc 0.35 | val loss 1.05 bal.acc 0.42 | 1.2 s, 90 img/s *",
        "temperature 1.157 fitted on 36 validation windows",
        "resnet18 fold 1: done in 25.3 s, outputs in results/models/resnet18/seed0/fold1",
    ]
    for line in lines:
        echo(line)
    assert logged == lines
    shown = capsys.readouterr().out.splitlines()
    assert shown == [f"train resnet18 seed 0 fold 1: {lines[1]}", f"train resnet18 seed 0 fold 1: {lines[3]}"]


def test_a_package_error_ends_a_job_as_one_line_without_traceback(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "from ecgcwt.logs import log_to\n"
        f"log_to({str(log)!r})\n"
        "from ecgcwt.errors import DataError\n"
        "raise DataError('segments.h5 is missing; run the segment step')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0
    text = log.read_text()
    assert "segments.h5 is missing; run the segment step" in text and "Traceback" not in text
