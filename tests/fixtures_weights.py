"""Offline stand-ins for torchvision's weights server, for tests of ``ecgcwt.learn.cnn2d.weights``.

torchvision names its weights files after the first 8 hex digits of their
SHA-256 (``squeezenet1_1-b8a52dc0.pth``) and :func:`ecgcwt.learn.cnn2d.weights.fetch_imagenet_weights`
checks that prefix, so a test file made here (a real-format state_dict of the
architecture with random weights) cannot pass under torchvision's own name.
Tests therefore name their file after its own hash and point the URL lookup
(``ecgcwt.learn.cnn2d.weights.imagenet_weights_url``, the one seam) at that name: with
``monkeypatch`` in-process, and with ``weights_seam/sitecustomize.py`` (see
:func:`seam_env`) in a snakemake subprocess. Under torchvision's real name the
same file exercises the hash-mismatch error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import socket
import threading
from pathlib import Path
from typing import Iterator

import torch
import torchvision

SEAM_DIR = Path(__file__).resolve().parent / "workflow" / "weights_seam"
OFFICIAL_BASE = "https://download.pytorch.org/models"


def make_weights_file(folder: Path, backbone: str = "squeezenet1_1", *, seed: int = 0, name: str | None = None) -> Path:
    """A torchvision-format ImageNet state_dict of ``backbone`` (random weights, 1000-class head) in ``folder``.

    Named ``{backbone}-{first 8 hex of its sha256}.pth`` unless ``name`` is given.
    """
    torch.manual_seed(seed)
    state = torchvision.models.get_model(backbone, weights=None).state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".weights.tmp"
    torch.save(state, tmp)
    final = folder / (name or f"{backbone}-{sha256(tmp)[:8]}.pth")
    tmp.replace(final)
    return final


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def official_style_url(file: Path) -> str:
    """The URL torchvision would give for a file of this name."""
    return f"{OFFICIAL_BASE}/{Path(file).name}"


def closed_port_url() -> str:
    """An http://127.0.0.1 URL on which nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/models"


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (ephemeral port) from a thread; yield its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def seam_env(urls: dict[str, str], **extra: str) -> dict[str, str]:
    """Environment for a snakemake subprocess whose ``imagenet_weights_url`` answers ``urls`` (backbone -> URL)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SEAM_DIR), env.get("PYTHONPATH")) if p)
    env["ECGCWT_TEST_WEIGHTS_URLS"] = json.dumps(urls)
    env.pop("ECGCWT_WEIGHTS_URL", None)
    env.update(extra)
    return env
