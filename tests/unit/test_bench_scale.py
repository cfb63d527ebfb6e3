"""benchmarks/bench_scale.py run tiny: one JSON object with every stage, and every number positive."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ..conftest import REPO

STAGES = {"segment", "folds", "cache", "stream", "train_50_batches", "evaluate"}


def _numbers(obj, path=""):
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}" if path else k)


def test_tiny_scale_benchmark_prints_every_stage(tmp_path):
    """With ``--baseline-src`` (here this checkout itself) the cache and stream stages also run on that code."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, str(REPO / "benchmarks" / "bench_scale.py"), "--windows", "300", "--steps", "2"]
    cmd += ["--baseline-src", str(REPO)]
    r = subprocess.run([*cmd, "--workdir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert {"n_windows", "cache_build_img_s", "stream_img_s", "cache_kb_per_image", "projection_680k", "stages"} <= set(
        out
    )
    assert 290 <= out["n_windows"] <= 310
    assert set(out["stages"]) == STAGES
    for name, stage in out["stages"].items():
        assert {"wall_s", "peak_rss_mb", "output_mb"} <= set(stage), name
    assert set(out["projection_680k"]) == STAGES - {"train_50_batches"}
    assert all(set(p) == {"wall_s", "output_gb"} for p in out["projection_680k"].values())
    numbers = dict(_numbers(out))
    # the streaming pass writes nothing: its output is 0; every other number is positive
    zero = {"stages.stream.output_mb", "projection_680k.stream.output_gb"}
    assert all(numbers[k] == 0 for k in zero)
    assert {k: v for k, v in numbers.items() if k not in zero and not v > 0} == {}
    assert all(isinstance(v, bool) for v in out["targets"].values()) and len(out["targets"]) == 5
    assert out["baseline"]["src"] == str(REPO.resolve())
    assert set(out["vs_baseline"]) == {"cache_build_img_s", "stream_img_s", "host_read_img_s", "cache_kb_per_image"}
    # the same code on both sides: the same cache, byte for byte the same size
    assert out["vs_baseline"]["cache_kb_per_image"] == 1.0
    assert list(tmp_path.iterdir()) == []  # the work folder is removed
