"""The scalogram cache's transform rebuilt from its attributes: windows in, the cache's index images out.

A training job that changes its windows every epoch (signal augmentation,
:mod:`ecgcwt.learn.augment`) cannot read its images from the cache; it makes
them per batch with this, on its own device. The transform and the image
steps are the ones :func:`~ecgcwt.imaging.cache.build_scalogram_cache` ran
(same filter bank, same time columns, same resize, rescale and quantisation),
so an unchanged window gives the cached image (bit for bit on the CPU;
within float rounding elsewhere).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from ecgcwt.errors import DataError
from ecgcwt.imaging.cwt import CwtParams, FilterBank
from ecgcwt.imaging.image import image_colormap, scalogram_index_tensor


@dataclass
class ScalogramTransform:
    """Windows (B, window) -> uint8 colour indices (B, size, size) on the filter bank's device, as the cache's."""

    filter_bank: FilterBank
    columns: np.ndarray
    image: dict  # size, mode, colors, log

    @classmethod
    def from_attrs(
        cls, attrs: Mapping, device: str | torch.device = "cpu", *, source: str | os.PathLike = "the cache"
    ) -> "ScalogramTransform":
        """The transform of a cache with root attributes ``attrs`` (:func:`~ecgcwt.imaging.read_scalogram_info`)."""
        needed = ("wavelet", "voices_per_octave", "boundary", "fs", "window", "image_size", "image_mode", "colors")
        missing = [k for k in needed if k not in attrs]
        if missing:
            raise DataError(
                f"{str(source)!r} lacks the attributes {missing} that rebuild its transform; rebuild the cache"
            )
        params = CwtParams(
            wavelet=str(attrs["wavelet"]),
            morse_gamma=float(attrs["morse_gamma"]),
            morse_time_bandwidth=float(attrs["morse_time_bandwidth"]),
            amor_omega0=float(attrs["amor_omega0"]),
            voices_per_octave=int(attrs["voices_per_octave"]),
            boundary=str(attrs["boundary"]),
            freq_limits=None
            if attrs.get("freq_limits_source") == "matlab_default"
            else (float(attrs["fmin_hz"]), float(attrs["fmax_hz"])),
        )
        fb = FilterBank(int(attrs["window"]), float(attrs["fs"]), params, device=device)
        size = int(attrs["image_size"])
        image = {
            "size": size,
            "mode": str(attrs["image_mode"]),
            "colors": int(attrs["colors"]),
            "log": bool(attrs.get("log", False)),
        }
        columns = fb.image_columns(size)
        freqs = np.asarray(attrs.get("frequencies", fb.frequencies), dtype=np.float64)
        cols = np.asarray(attrs.get("time_columns", columns), dtype=np.int64)
        if not (
            freqs.shape == fb.frequencies.shape and np.allclose(fb.frequencies, freqs, rtol=1e-9, atol=0)
        ) or not np.array_equal(columns, cols):
            raise DataError(
                f"{str(source)!r}: its CWT attributes do not rebuild its transform (frequencies or time columns "
                "differ; written by another version of ecgcwt?); rebuild the cache"
            )
        return cls(fb, columns, image)

    @property
    def colormap(self) -> np.ndarray:
        """The (K, 3) uint8 colour table of the images (the cache's ``/colormap``)."""
        return image_colormap(self.image["mode"], self.image["colors"])

    def indices(self, windows: torch.Tensor, *, workers: int | None = None) -> torch.Tensor:
        """uint8 colour indices (B, size, size) of float windows (B, window), on the filter bank's device."""
        mag = self.filter_bank.magnitude(windows, self.columns, workers=workers)
        indices = scalogram_index_tensor(mag, **self.image)
        assert indices is not None  # (None only when written into an ``out`` array)
        return indices
