"""The CWT's settings (:class:`CwtParams`) and how a cache and a model file store them.

Apart from the filter bank module (which needs scipy), so that
readers of a cache or a model file check its settings without importing it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from ecgcwt.config import schema_range
from ecgcwt.errors import ConfigError

WAVELETS = ("morse", "amor")
#: The attributes :meth:`CwtParams.to_attrs` writes and :meth:`CwtParams.from_attrs` reads.
CWT_ATTRS = (
    "wavelet",
    "morse_gamma",
    "morse_time_bandwidth",
    "amor_omega0",
    "voices_per_octave",
    "boundary",
    "freq_limits_source",
    "fmin_hz",
    "fmax_hz",
)
BOUNDARIES = ("reflect", "periodic", "zero")


# --------------------------------------------------------------------------- parameters


def _range(key: str) -> tuple[float, float]:
    """The schema's bounds of ``key`` (unbounded sides as infinities)."""
    lo, hi = schema_range(key)
    return (-math.inf if lo is None else lo), (math.inf if hi is None else hi)


@dataclass(frozen=True)
class CwtParams:
    """Every parameter of the transform (the ``cwt:`` section of config.yaml, minus the image)."""

    wavelet: str = "morse"
    morse_gamma: float = 3.0
    morse_time_bandwidth: float = 60.0
    amor_omega0: float = 6.0
    voices_per_octave: int = 12
    freq_limits: tuple[float, float] | None = None
    boundary: str = "reflect"

    def __post_init__(self) -> None:
        if self.wavelet not in WAVELETS:
            raise ConfigError(f"cwt.wavelet must be one of {WAVELETS}, got {self.wavelet!r}")
        if self.boundary not in BOUNDARIES:
            raise ConfigError(f"cwt.boundary must be one of {BOUNDARIES}, got {self.boundary!r}")
        # bounds from the schema: the config check and this one accept the same values
        lo, hi = _range("cwt.voices_per_octave")
        if not (isinstance(self.voices_per_octave, (int, np.integer)) and lo <= self.voices_per_octave <= hi):
            raise ConfigError(f"cwt.voices_per_octave must be an integer in {lo}..{hi}, got {self.voices_per_octave!r}")
        g, p2 = float(self.morse_gamma), float(self.morse_time_bandwidth)
        g_min = _range("cwt.morse_gamma")[0]
        if not (math.isfinite(g) and g >= g_min):
            raise ConfigError(f"cwt.morse_gamma must be >= {g_min}, got {self.morse_gamma!r}")
        if not (math.isfinite(p2) and p2 >= g):
            raise ConfigError(
                "cwt.morse_time_bandwidth (P^2 = beta * gamma) must be >= cwt.morse_gamma "
                f"(beta >= 1), got {self.morse_time_bandwidth!r} with gamma {self.morse_gamma!r}"
            )
        w_min = _range("cwt.amor_omega0")[0]
        if not (math.isfinite(float(self.amor_omega0)) and float(self.amor_omega0) >= w_min):
            raise ConfigError(
                f"cwt.amor_omega0 must be >= {w_min} (below that the Morlet is not analytic), got {self.amor_omega0!r}"
            )
        if self.freq_limits is not None:
            fl = tuple(self.freq_limits)
            if len(fl) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in fl):
                raise ConfigError(f"cwt.freq_limits must be null or [fmin_hz, fmax_hz], got {self.freq_limits!r}")
            if not 0 < fl[0] < fl[1]:
                raise ConfigError(f"cwt.freq_limits must satisfy 0 < fmin < fmax, got {list(self.freq_limits)}")
            object.__setattr__(self, "freq_limits", (float(fl[0]), float(fl[1])))

    @classmethod
    def from_config(cls, cfg: Mapping) -> "CwtParams":
        """Build from the ``cwt:`` mapping of config.yaml (extra keys such as ``image`` are ignored)."""
        known = {f: cfg[f] for f in cls.__dataclass_fields__ if f in cfg}
        fl = known.get("freq_limits")
        if fl is not None:
            if not isinstance(fl, (list, tuple)):
                raise ConfigError(f"cwt.freq_limits must be null or [fmin_hz, fmax_hz], got {fl!r}")
            known["freq_limits"] = tuple(fl)
        return cls(**known)

    def to_attrs(self, limits_hz: "tuple[float, float] | None" = None) -> dict:
        """These settings as the attributes of a scalogram cache and a model file (:data:`CWT_ATTRS`).

        ``fmin_hz``/``fmax_hz`` are the limits the transform used: ``limits_hz``
        (a filter bank's ``fmin_hz, fmax_hz``: MATLAB's defaults for ``freq_limits``
        None depend on the window and rate), else ``freq_limits``. :meth:`from_attrs` reads them back.
        """
        attrs = {
            "wavelet": self.wavelet,
            "morse_gamma": float(self.morse_gamma),
            "morse_time_bandwidth": float(self.morse_time_bandwidth),
            "amor_omega0": float(self.amor_omega0),
            "voices_per_octave": int(self.voices_per_octave),
            "boundary": self.boundary,
            "freq_limits_source": "matlab_default" if self.freq_limits is None else "config",
        }
        limits = limits_hz if limits_hz is not None else self.freq_limits
        if limits is not None:
            attrs["fmin_hz"], attrs["fmax_hz"] = float(limits[0]), float(limits[1])
        return attrs

    @classmethod
    def from_attrs(cls, attrs: Mapping) -> "CwtParams":
        """The settings :meth:`to_attrs` wrote (a cache's root attributes or a model file's ``scalogram_attrs``).

        Raises :class:`ValueError` naming the attribute for one missing or out
        of range (callers name the file and what to do).
        """
        text = lambda k: attrs[k].decode("utf-8") if isinstance(attrs[k], bytes) else str(attrs[k])
        source = text("freq_limits_source") if "freq_limits_source" in attrs else None
        # the limits are settings only when the configuration gave them (else MATLAB's, from the window and rate)
        needed = CWT_ATTRS if source == "config" else [k for k in CWT_ATTRS if k not in ("fmin_hz", "fmax_hz")]
        missing = [k for k in needed if k not in attrs]
        if missing:
            raise ValueError(f"lacks the CWT setting(s) {', '.join(missing)}")
        if source not in ("matlab_default", "config"):
            raise ValueError(f"freq_limits_source is {source!r}, not matlab_default or config")
        try:
            return cls(
                wavelet=text("wavelet"),
                morse_gamma=float(attrs["morse_gamma"]),
                morse_time_bandwidth=float(attrs["morse_time_bandwidth"]),
                amor_omega0=float(attrs["amor_omega0"]),
                voices_per_octave=int(attrs["voices_per_octave"]),
                boundary=text("boundary"),
                freq_limits=None if source == "matlab_default" else (float(attrs["fmin_hz"]), float(attrs["fmax_hz"])),
            )
        except (ConfigError, TypeError) as exc:
            raise ValueError(str(exc).replace("cwt.", "")) from None

    def as_dict(self) -> dict:
        return asdict(self)
