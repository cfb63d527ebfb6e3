"""A local stand-in for PhysioNet's file server, for offline download tests.

``physionet_mirror`` copies a few REAL PhysioNet records from
``<repo>/../shared/data/physionet`` into ``tmp_path/files/{db}/1.0.0/`` (the
URL layout of https://physionet.org/files/), writes each database's
``RECORDS`` and a correct ``SHA256SUMS.txt`` (``<sha256>  <file>`` lines, as
PhysioNet publishes them), and serves the folder over HTTP on 127.0.0.1 with
an ephemeral port from a background thread.

The handler implements single byte ranges (``Range: bytes=a-b`` / ``bytes=a-``
-> 206 with ``Content-Range``; 416 past the end), because wfdb reads the first
samples of a record with range requests (``wfdb.io._url.RangeTransfer``) and
Python's ``SimpleHTTPRequestHandler`` ignores ``Range``. Every request is
logged, and tests can make a path fail with given HTTP statuses or stall, to
exercise retries and timeouts.

Tests can also corrupt answers in flight (``corrupt``: bytes of the body sent
are zeroed, the file on disk is unchanged), to exercise the download's second,
independent read; ``reads`` lists requests ignoring their query string.

The records are copied at test time and never committed into the project.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

SHARED_PHYSIONET = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "physionet"
VERSION = "1.0.0"
#: The records served, per database, in PhysioNet's order.
MIRROR_RECORDS = {"mitdb": ["100", "101"], "chfdb": ["chf02"], "nsrdb": ["16483"]}

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def require_shared_physionet() -> Path:
    """The shared real-record folder, or skip the test with the reason."""
    if not all((SHARED_PHYSIONET / db / f"{r}.hea").exists() for db, rs in MIRROR_RECORDS.items() for r in rs):
        pytest.skip(
            f"real PhysioNet records not found in {SHARED_PHYSIONET.resolve()} "
            f"(needs mitdb 100/101, chfdb chf02, nsrdb 16483; see its README)"
        )
    return SHARED_PHYSIONET


@dataclasses.dataclass
class Request:
    method: str
    path: str  # URL path, e.g. "/files/mitdb/1.0.0/100.dat"
    range: str | None
    status: int
    body_bytes: int


class PhysioNetMirror:
    """State shared between a test and the server thread."""

    def __init__(self, root: Path):
        self.root = root  # the folder served as "/" (it contains files/)
        self.url = ""  # set once the server listens: http://127.0.0.1:PORT/files/
        self.requests: list[Request] = []
        self._failures: dict[str, list[int]] = {}
        self._always: dict[str, int] = {}
        self._stalls: dict[str, float] = {}
        self._corruptions: dict[str, tuple[list[bool], int, int]] = {}
        self._lock = threading.Lock()

    # -- files ---------------------------------------------------------------
    def path(self, db: str, file_name: str) -> Path:
        """Local path of a served file, e.g. ``path("mitdb", "100.dat")``."""
        return self.root / "files" / db / VERSION / file_name

    # -- fault injection -----------------------------------------------------
    def fail(self, suffix: str, *statuses: int, always: int | None = None) -> None:
        """Answer requests whose path ends with ``suffix`` with ``statuses`` in turn
        (then normally), or with ``always`` forever."""
        with self._lock:
            if always is not None:
                self._always[suffix] = always
            else:
                self._failures[suffix] = list(statuses)

    def stall(self, suffix: str, seconds: float) -> None:
        """Wait ``seconds`` before answering requests whose path ends with ``suffix``."""
        with self._lock:
            self._stalls[suffix] = seconds

    def corrupt(self, suffix: str, *plan: bool, offset: int = 0, length: int = 1000) -> None:
        """Corrupt bodies in flight: zero ``length`` bytes from ``offset`` (in the body sent)
        of successful answers (200/206) to paths ending with ``suffix`` (query string
        ignored), in turn as ``plan`` says (True: corrupt this answer), then answer normally.
        The file on disk is not changed."""
        with self._lock:
            self._corruptions[suffix] = (list(plan), offset, length)

    def _maybe_corrupt(self, path: str, status: int, body: bytes) -> bytes:
        if status not in (200, 206):
            return body
        with self._lock:
            for suffix, (plan, offset, length) in self._corruptions.items():
                if path.split("?", 1)[0].endswith(suffix) and plan:
                    if plan.pop(0):
                        end = min(len(body), offset + length)
                        return body[:offset] + bytes(max(0, end - offset)) + body[end:]
                    return body
        return body

    def _planned(self, path: str) -> tuple[int | None, float]:
        with self._lock:
            status = None
            for suffix, code in self._always.items():
                if path.endswith(suffix):
                    status = code
            for suffix, queue in self._failures.items():
                if status is None and path.endswith(suffix) and queue:
                    status = queue.pop(0)
            delay = max([s for suf, s in self._stalls.items() if path.endswith(suf)], default=0.0)
        return status, delay

    # -- request log ---------------------------------------------------------
    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def hits(self, suffix: str, method: str = "GET") -> list[Request]:
        """Logged requests whose path ends with ``suffix``."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def reads(self, suffix: str, method: str = "GET") -> list[Request]:
        """Logged requests whose path WITHOUT its query string ends with ``suffix``
        (``hits`` matches the path as sent, query included)."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.split("?", 1)[0].endswith(suffix)]


def _handler_for(mirror: PhysioNetMirror):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # keep pytest output clean
            pass

        def handle(self):
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def do_HEAD(self):
            self._serve(head=True)

        def do_GET(self):
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            range_header = self.headers.get("Range")
            status, delay = mirror._planned(path)
            if delay:
                time.sleep(delay)
            file = (mirror.root / path.lstrip("/")).resolve()
            if status is None and (mirror.root.resolve() not in file.parents or not file.is_file()):
                status = 404
            if status is not None:
                self._send(status, b"error\n", head, range_header)
                return
            data = file.read_bytes()
            size = len(data)
            match = _RANGE.match(range_header.strip()) if range_header else None
            if match is None:  # no Range (or one we do not implement): whole file
                self._send(200, data, head, range_header)
                return
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if start >= size or end < start:
                self._send(416, b"", head, range_header, {"Content-Range": f"bytes */{size}"})
                return
            self._send(206, data[start : end + 1], head, range_header, {"Content-Range": f"bytes {start}-{end}/{size}"})

        def _send(self, status, body, head, range_header, extra=None) -> None:
            body = mirror._maybe_corrupt(self.path, status, body)
            # log before answering: once the client has the answer, the test may read the log at once
            mirror._record(Request(self.command, self.path, range_header, status, 0 if head else len(body)))
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


def build_mirror_tree(root: Path, shared: Path) -> None:
    """Copy the fixture records into ``root/files/{db}/1.0.0/`` with RECORDS and SHA256SUMS.txt."""
    for db, names in MIRROR_RECORDS.items():
        folder = root / "files" / db / VERSION
        folder.mkdir(parents=True)
        for name in names:
            for ext in (".hea", ".dat", ".atr"):
                src = shared / db / f"{name}{ext}"
                if src.exists():
                    shutil.copyfile(src, folder / src.name)  # copyfile: writable copies
        (folder / "RECORDS").write_text("".join(f"{n}\n" for n in names))
        write_sha256sums(folder)


def write_sha256sums(folder: Path) -> None:
    """Write ``SHA256SUMS.txt`` for every other file in ``folder`` (PhysioNet's format)."""
    lines = [
        f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n"
        for f in sorted(folder.iterdir())
        if f.is_file() and f.name != "SHA256SUMS.txt"
    ]
    (folder / "SHA256SUMS.txt").write_text("".join(lines))


@pytest.fixture
def physionet_mirror(tmp_path):
    """A running local PhysioNet mirror (see module docstring); yields PhysioNetMirror."""
    shared = require_shared_physionet()
    mirror = PhysioNetMirror(tmp_path / "mirror")
    build_mirror_tree(mirror.root, shared)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(mirror))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="physionet-mirror", daemon=True
    )
    thread.start()
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}/files/"
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
