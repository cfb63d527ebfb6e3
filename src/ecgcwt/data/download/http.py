"""The download's one HTTP client: server root, wfdb's remote reads, retries, range reads.

``_Net`` runs every request of a download: retries with exponential backoff,
plain GETs checked against ``Content-Length``, resumable streaming with
``Range`` and the byte-range reads of partial mode's second read.
``_wfdb_remote`` points wfdb's own remote reads at the same server, with a
timeout. Errors a retry cannot fix (``_is_permanent``) fail at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from wfdb.io import _url as wfdb_url
from wfdb.io import download as wfdb_download

from ecgcwt import __version__
from ecgcwt.errors import DownloadError, EcgCwtError, error_reason

#: Environment variable naming a PhysioNet mirror, used when ``index_url`` is None.
ENV_INDEX_URL = "ECGCWT_PHYSIONET_URL"

_RESUME_HINT = (
    "Check your internet connection or PhysioNet's status; rerun the same command "
    "to resume (completed records are kept). Where this machine is offline (a cluster's "
    "submit host), download on one with internet first: "
    "`snakemake --cores 1 --until download_physionet weights`."
)
_CHUNK = 1 << 16
# HTTP client errors that a retry cannot fix (timeouts and rate limits can be).
_RETRYABLE_4XX = {408, 425, 429}

T = TypeVar("T")
Log = Callable[[str], object]


class _IntegrityError(EcgCwtError):
    """Downloaded content that is incomplete or fails its checksum (retried).

    ``hint`` replaces the generic advice in the final error when set.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


# --------------------------------------------------------------------------
# Server selection


def _resolve_index_url(index_url: str | None) -> str:
    """The server root, always ending in '/': argument, then environment, then PhysioNet."""
    url = index_url or os.environ.get(ENV_INDEX_URL) or wfdb_download.PN_INDEX_URL
    if not url.startswith(("http://", "https://")):
        source = "index_url" if index_url else ENV_INDEX_URL
        raise DownloadError(
            f"{source}={url!r} is not an http(s) URL; give a PhysioNet mirror root such as "
            f"'https://physionet.org/files/'"
        )
    return url if url.endswith("/") else url + "/"


def _timeout_adapter(timeout_s: float):
    """A requests adapter that applies ``timeout_s`` to requests sent without a timeout.

    wfdb's requests session sends requests without a timeout, so a stalled
    connection would hang the job forever.
    """
    import requests.adapters  # a dependency of wfdb

    class TimeoutAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, stream=False, timeout=None, **kwargs):
            return super().send(request, stream=stream, timeout=timeout or timeout_s, **kwargs)

    # Same pool settings as wfdb's own adapters (wfdb.io._url._get_session).
    return TimeoutAdapter(pool_maxsize=2, pool_block=True)


@contextlib.contextmanager
def _wfdb_remote(base_url: str, timeout_s: float) -> Iterator[None]:
    """Point wfdb's remote reads at ``base_url`` with a timeout; restore both afterwards."""
    previous_url = wfdb_download.config.db_index_url
    session = wfdb_url._get_session()
    previous_adapters = dict(session.adapters)
    wfdb_download.set_db_index_url(base_url)
    for prefix in ("http://", "https://"):
        session.mount(prefix, _timeout_adapter(timeout_s))
    try:
        yield
    finally:
        wfdb_download.set_db_index_url(previous_url)
        for prefix, adapter in previous_adapters.items():
            session.mount(prefix, adapter)


# --------------------------------------------------------------------------
# Network with retries


def _http_status(exc: BaseException) -> int | None:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code
    if isinstance(exc, wfdb_url.NetFileError):
        return exc.status_code
    return None


def _is_permanent(exc: BaseException) -> bool:
    """A client error (404, 403, ...) that repeating the request cannot fix."""
    status = _http_status(exc)
    return status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX


@dataclasses.dataclass
class _Net:
    retries: int
    backoff_s: float
    timeout_s: float
    log: Log

    def attempt(self, what: str, url: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` up to ``retries`` times; network and integrity errors are retried."""
        last: BaseException | None = None
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except (OSError, _IntegrityError) as exc:  # URLError, requests and wfdb errors are OSError
                if _is_permanent(exc):
                    raise DownloadError(
                        f"could not download {what} from {url}: {error_reason(exc)}. The server does "
                        f"not have this file: check the database name, version and record names "
                        f"(data.databases / data.records in config.yaml) or the mirror URL."
                    ) from exc
                last = exc
                if attempt < self.retries:
                    delay = self.backoff_s * 2 ** (attempt - 1)
                    self.log(
                        f"[download] {what}: attempt {attempt}/{self.retries} failed "
                        f"({error_reason(exc)}); retrying in {delay:g} s"
                    )
                    time.sleep(delay)
        hint = _RESUME_HINT
        if isinstance(last, _IntegrityError) and last.hint:
            hint = last.hint
        elif isinstance(last, _IntegrityError):
            hint = (
                "If this persists, the server's copy differs from the checksum PhysioNet "
                "publishes (a damaged mirror or an interfering proxy); " + hint[0].lower() + hint[1:]
            )
        raise DownloadError(
            f"could not download {what} from {url} after {self.retries} tries: {error_reason(last)}. {hint}"
        ) from last

    def get_bytes(self, url: str) -> bytes:
        """One plain GET of a small file; raises _IntegrityError on a short body."""
        with urllib.request.urlopen(_request(url), timeout=self.timeout_s) as response:
            data = response.read()
            expected = response.headers.get("Content-Length")
        if expected is not None and not response.headers.get("Content-Encoding"):
            if len(data) != int(expected):
                raise _IntegrityError(f"received {len(data)} of {expected} bytes from {url}")
        return data

    def get_file(self, url: str, part: Path) -> None:
        """Stream ``url`` into ``part``, continuing a partial ``part`` with a Range request."""
        start = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = urllib.request.urlopen(_request(url, headers), timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start:
                # The partial file is not a prefix of the server's file: start over.
                part.unlink()
                raise _IntegrityError(f"stale partial download of {url} discarded") from exc
            raise
        with response:
            status = response.status
            if status == 206:
                content_range = response.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {start}-"):
                    part.unlink()
                    raise _IntegrityError(f"unexpected Content-Range {content_range!r} from {url}")
                mode = "ab"
                total = _content_range_total(content_range)
            else:  # 200: the server sent the whole file
                mode, start = "wb", 0
                length = response.headers.get("Content-Length")
                total = int(length) if length and not response.headers.get("Content-Encoding") else None
            with open(part, mode) as out:
                shutil.copyfileobj(response, out, _CHUNK)
        size = part.stat().st_size
        if total is not None and size != total:
            if size > total:  # cannot be a prefix of the file: start over
                part.unlink()
            raise _IntegrityError(f"received {size} of {total} bytes of {url}")

    def get_range(self, url: str, start: int, stop: int | None) -> bytes:
        """Bytes ``start`` to ``stop - 1`` (``stop=None``: to the end) of ``url``, with urllib.

        Used for the second, independent read of partial mode. A server that
        ignores ``Range`` answers 200 with the whole file: only the bytes
        wanted are read from it. Raises _IntegrityError on a short body.
        """
        headers = {"Range": f"bytes={start}-{'' if stop is None else stop - 1}"}
        with urllib.request.urlopen(_request(url, headers), timeout=self.timeout_s) as response:
            if response.status == 206:
                content_range = response.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {start}-"):
                    raise _IntegrityError(f"unexpected Content-Range {content_range!r} from {url}")
                total = _content_range_total(content_range)
                data = response.read() if stop is None else response.read(stop - start)
            else:  # 200: the whole file
                length = response.headers.get("Content-Length")
                total = int(length) if length and not response.headers.get("Content-Encoding") else None
                data = (response.read() if stop is None else response.read(stop))[start:]
        end = stop if total is None else (total if stop is None else min(stop, total))
        if end is not None and len(data) != end - start:
            raise _IntegrityError(f"received {len(data)} of {end - start} bytes (from byte {start}) of {url}")
        return data


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    return urllib.request.Request(url, headers={"User-Agent": f"ecgcwt/{__version__} (urllib)", **(headers or {})})


def _content_range_total(content_range: str) -> int | None:
    total = content_range.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None
