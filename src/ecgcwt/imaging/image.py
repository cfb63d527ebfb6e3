"""Scalogram magnitudes -> uint8 colour-index images and their colour table, batched.

Pipeline per image (MathWorks' example is ``ind2rgb(im2uint8(rescale(abs(cfs))),
jet(128))`` then ``imresize`` to 224x224):

1. magnitude |W| (S rows, high to low frequency, T columns), optionally
   ``log10(|W| + 1e-6 * max|W|)`` (the floor keeps zeros finite and caps the
   dynamic range at 120 dB);
2. rescale to [0, 1] per image (min -> 0, max -> 1; a constant image -> 0);
3. resize to ``size x size`` with bilinear interpolation and anti-aliasing
   (the weights of ``F.interpolate(..., mode="bilinear", antialias=True)``,
   averaging when shrinking the T time columns). The scalar image is resized
   before colouring: one channel instead of three, and no colours that are not
   on the map. The resize is separable and linear, so it runs as two matrix
   products ``R_rows @ X @ R_cols^T`` with the interpolation's own weights
   (read off ``F.interpolate`` applied to an identity), and the per-image
   rescaling of step 2, affine, is applied after it, fused with the rounding.
   Measured on a 2-core Intel Xeon (85 x 256 magnitudes -> 224 x 224, 256
   images): 4,600 images/s against 2,700 for rescale + ``F.interpolate`` +
   round; the two differ only by float rounding, which moved 2.3e-6 of the
   pixels by one colour index;
4. ``jet``: index ``round(v * (colors - 1))`` into MATLAB's ``jet(colors)`` map,
   as uint8 RGB; ``gray3``: ``round(255 v)`` copied to three channels.

Step 4 is a pure lookup: the RGB image is ``colormap[index]`` with a uint8
index per pixel (:func:`scalogram_indices`) and a (K, 3) uint8 table
(:func:`image_colormap`; ``gray3`` is the 256-entry grey ramp). The cache
stores the index image, a third of the bytes, and the training device applies
the table (:func:`apply_colormap`); :func:`scalogram_images` is the same two
steps on the host, bit for bit.

Row 0 of every image is the highest frequency, as MATLAB draws it.

Note on MathWorks' example: ``im2uint8`` gives indices 0..255 while ``jet(128)``
has 128 rows, and ``ind2rgb`` clamps indices past the map to its last colour,
so in that example every value above ~50% of the maximum is the same dark red.
We spread the whole [0, 1] range over the map instead.
"""

from __future__ import annotations

import functools
import math
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ecgcwt.config import schema_range
from ecgcwt.errors import ConfigError

IMAGE_MODES = ("jet", "gray3")


def jet_colormap(m: int = 128) -> np.ndarray:
    """MATLAB's ``jet(m)`` as an (m, 3) float64 array in [0, 1].

    MATLAB's formula (jet.m): ``n = ceil(m/4)``; ``u = [(1:n)/n, ones(1,n-1),
    (n:-1:1)/n]``; green occupies rows ``g = ceil(n/2) - (mod(m,4)==1) + (1:len(u))``,
    red rows ``g + n``, blue rows ``g - n`` (rows outside 1..m dropped); red takes
    the first entries of u, green all of u, blue the last entries. jet(128)
    runs from [0, 0, 0.5312] to [0.5, 0, 0].
    """
    if m < 1:
        raise ConfigError(f"cwt.image.colors must be >= 1, got {m}")
    n = math.ceil(m / 4)
    u = np.concatenate([np.arange(1, n + 1) / n, np.ones(n - 1), np.arange(n, 0, -1) / n])
    g = math.ceil(n / 2) - (1 if m % 4 == 1 else 0) + np.arange(1, len(u) + 1)  # 1-based rows
    r = g + n
    b = g - n
    g = g[g <= m]
    r = r[r <= m]
    b = b[b >= 1]
    j = np.zeros((m, 3))
    j[r - 1, 0] = u[: len(r)]
    j[g - 1, 1] = u[: len(g)]
    j[b - 1, 2] = u[len(u) - len(b) :]
    return j


def validate_image_config(size: int, mode: str, colors: int, log: bool) -> None:
    # the schema's bounds: a value the config check accepts is never refused here, and the reverse
    lo, hi = schema_range("cwt.image.size")
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not lo <= size <= hi:
        raise ConfigError(f"cwt.image.size must be an integer in {lo}..{hi} pixels, got {size!r}")
    if mode not in IMAGE_MODES:
        raise ConfigError(f"cwt.image.mode must be one of {IMAGE_MODES}, got {mode!r}")
    lo, hi = schema_range("cwt.image.colors")
    if not isinstance(colors, (int, np.integer)) or isinstance(colors, bool) or not lo <= colors <= hi:
        raise ConfigError(f"cwt.image.colors must be an integer in {lo}..{hi}, got {colors!r}")
    if not isinstance(log, (bool, np.bool_)):
        raise ConfigError(f"cwt.image.log must be true or false, got {log!r}")


#: The attributes :func:`image_to_attrs` writes and :func:`image_from_attrs` reads (cache and model file).
IMAGE_SETTINGS = ("image_size", "image_mode", "colors", "log")


def image_to_attrs(image: Mapping) -> dict:
    """The ``cwt.image`` settings (size, mode, colors, log) as cache / model-file attributes."""
    return {
        "image_size": int(image["size"]),
        "image_mode": str(image["mode"]),
        "colors": int(image["colors"]),
        "log": bool(image["log"]),
    }


def image_from_attrs(attrs: Mapping) -> dict:
    """The image settings :func:`image_to_attrs` wrote, checked; ValueError naming the attribute otherwise."""
    missing = [k for k in IMAGE_SETTINGS if k not in attrs]
    if missing:
        raise ValueError(f"lacks the image setting(s) {', '.join(missing)}")
    mode = attrs["image_mode"]
    image = {
        "size": attrs["image_size"].item() if isinstance(attrs["image_size"], np.generic) else attrs["image_size"],
        "mode": mode.decode("utf-8") if isinstance(mode, bytes) else str(mode),
        "colors": attrs["colors"].item() if isinstance(attrs["colors"], np.generic) else attrs["colors"],
        "log": bool(attrs["log"]) if isinstance(attrs["log"], (bool, np.bool_)) else attrs["log"],
    }
    try:
        validate_image_config(image["size"], image["mode"], image["colors"], image["log"])
    except ConfigError as exc:
        raise ValueError(str(exc).replace("cwt.image.size", "image_size").replace("cwt.image.", "")) from None
    return image


def rescale_per_image(mag: torch.Tensor, *, log: bool = False) -> torch.Tensor:
    """(B, S, T) magnitudes -> float32 in [0, 1] per image (steps 1-2 above)."""
    x = _log_floor(mag.to(torch.float32)) if log else mag.to(torch.float32)
    lo = x.amin(dim=(1, 2), keepdim=True)
    hi = x.amax(dim=(1, 2), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / torch.where(span > 0, span, 1.0), torch.zeros_like(x))


def _log_floor(x: torch.Tensor) -> torch.Tensor:
    """Step 1 with ``log``: ``log10(|W| + 1e-6 * max|W|)`` per image of a float32 (B, S, T) batch."""
    peak = x.amax(dim=(1, 2), keepdim=True)
    return torch.log10(x + 1e-6 * peak + torch.finfo(torch.float32).tiny)


def image_colormap(mode: str = "jet", colors: int = 128) -> np.ndarray:
    """The (K, 3) uint8 colour table of ``mode``: ``jet(colors)`` rounded to 0..255, or the 256 greys of ``gray3``."""
    if mode not in IMAGE_MODES:
        raise ConfigError(f"cwt.image.mode must be one of {IMAGE_MODES}, got {mode!r}")
    if mode == "jet":
        return np.round(jet_colormap(colors) * 255.0).astype(np.uint8)
    return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)


def scalogram_indices(
    mag: torch.Tensor | np.ndarray,
    *,
    size: int = 224,
    mode: str = "jet",
    colors: int = 128,
    log: bool = False,
) -> np.ndarray:
    """(B, S, T) magnitudes -> uint8 colour indices (B, size, size) into :func:`image_colormap`."""
    m = torch.as_tensor(mag)
    out = np.empty((m.shape[0] if m.ndim == 3 else 1, size, size), dtype=np.uint8)
    scalogram_index_tensor(m, size=size, mode=mode, colors=colors, log=log, out=out)
    return out


def scalogram_index_tensor(
    mag: torch.Tensor,
    *,
    size: int = 224,
    mode: str = "jet",
    colors: int = 128,
    log: bool = False,
    out: np.ndarray | None = None,
) -> torch.Tensor | None:
    """:func:`scalogram_indices` kept on the magnitudes' device: a uint8 tensor (B, size, size) there.

    The same operations in the same order, so the same indices: the training job
    that computes its images per batch (signal augmentation) makes them as the
    cache did. With ``out`` (a host uint8 array) the indices are written there and None is returned.
    """
    validate_image_config(size, mode, colors, log)
    m = mag
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"magnitudes must have shape (B, S, T), got {tuple(m.shape)}")
    result = None if out is not None else torch.empty((m.shape[0], size, size), dtype=torch.uint8, device=m.device)
    top = float((colors - 1) if mode == "jet" else 255)  # colors <= 256: always a uint8
    rows = _resize_weights(m.shape[1], size, m.device)  # (size, S)
    cols_t = _resize_weights(m.shape[2], size, m.device).T  # (T, size)
    # sub-batches keep the float intermediates in cache (4 bytes/pixel) whatever the batch size
    for i in range(0, m.shape[0], _SUB_BATCH):
        x = m[i : i + _SUB_BATCH].to(torch.float32)
        if log:
            x = _log_floor(x)
        lo = x.amin(dim=(1, 2), keepdim=True)
        span = x.amax(dim=(1, 2), keepdim=True) - lo
        gain = torch.where(span > 0, top / torch.where(span > 0, span, 1.0), torch.zeros_like(span))  # constant -> 0
        y = torch.matmul(rows, torch.matmul(x, cols_t))  # (b, size, size): the resize
        y.sub_(lo).mul_(gain).clamp_(0.0, top).round_()  # steps 2 and 4: rescale, quantise
        if out is not None:
            out[i : i + len(y)] = y.to(torch.uint8).cpu().numpy()
        else:
            result[i : i + len(y)] = y.to(torch.uint8)
    return result


@functools.lru_cache(maxsize=32)
def _resize_weights(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) float32: the 1-D weights of ``F.interpolate(bilinear, antialias=True)`` from n_in to n_out samples.

    Resampling an identity along the width (height kept at 1, where
    interpolation is the identity) gives each input sample's weight in every
    output sample, as ``F.interpolate`` computes them; the same 1-D weights
    apply along the height. (Along the height with width 1 torch 2.14's
    anti-aliased kernel returns wrong values, hence the width.)
    """
    eye = torch.eye(n_in, dtype=torch.float32, device=device).reshape(n_in, 1, 1, n_in)
    w = F.interpolate(eye, size=(1, n_out), mode="bilinear", antialias=True, align_corners=False)
    return w[:, 0, 0, :].T.contiguous()


def apply_colormap(indices: torch.Tensor, colormap: torch.Tensor) -> torch.Tensor:
    """uint8 index images (B, H, W) -> uint8 RGB (B, H, W, 3): one gather from the (K, 3) table, on its device.

    (A uint8 tensor used as an index would be read as a boolean mask, hence the widening.)
    """
    return colormap[indices.long()]


def scalogram_images(
    mag: torch.Tensor | np.ndarray,
    *,
    size: int = 224,
    mode: str = "jet",
    colors: int = 128,
    log: bool = False,
) -> np.ndarray:
    """(B, S, T) magnitudes -> uint8 RGB images (B, size, size, 3); row 0 = highest frequency.

    ``image_colormap(mode, colors)[scalogram_indices(...)]``: what the training
    device assembles from the cache's index images.
    """
    return image_colormap(mode, colors)[scalogram_indices(mag, size=size, mode=mode, colors=colors, log=log)]


_SUB_BATCH = 8  # 1.6 MB of float32 at 224 px; measured fastest of 4..64 on 2 cores
