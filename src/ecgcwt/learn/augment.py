"""Signal augmentations of training windows (``training.augment``), applied before the CWT.

What ECG models use to generalise across people, each with its probability
``p`` per window and its strength (the schema's ``training.augment``):

* ``time_stretch``: heart-rate change. The window is resampled about its
  centre, ``y[n] = x(c + r (n - c))`` with ``c = (N - 1) / 2``, by cubic
  (Keys, a = -0.5) interpolation, so every interval shrinks by the factor
  ``r`` (``r > 1``: faster rhythm); positions past either end read the
  window reflected there (edge sample repeated), so the window keeps its length.
* ``amplitude``: gain factor, log-uniform in ``range``.
* ``polarity``: the window times -1.
* ``baseline_wander``: a sum of ``components`` sinusoids below 0.5 Hz, each
  with a peak amplitude uniform in ``amplitude`` times the window's standard deviation.
* ``powerline``: a sinusoid at one of ``hz`` (50 / 60 Hz) at a signal-to-
  interference ratio uniform in ``snr_db``.
* ``gaussian_noise``: white Gaussian noise at an SNR uniform in ``snr_db``.

They run in that order. The signal power that sets the strength of the
three additive ones is the window's variance after stretch, gain and
polarity, so an SNR means the same whatever the gain.

Seeding: :func:`draw_plan` draws every window's parameters of one epoch
(whether each augmentation applies, and its strength) from
``(seed, epoch)`` alone, on a random stream of its own (the data order and
the time shift keep theirs, so turning an augmentation on changes nothing
else). A window's Gaussian noise comes from its own seed in the plan, so it
does not depend on the batch it falls in or on the device. A resumed run
draws the same plan as an uninterrupted one.

Every parameter is drawn whatever ``p`` is, so changing one augmentation's
probability leaves the others' draws as they were. Nothing here reorders or
mixes windows: window ``i`` of the output is window ``i`` of the input,
transformed, and keeps its label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from ecgcwt.config import augment_signal_on, check_augment

#: The signal augmentations, in the order they are applied.
SIGNAL_AUGMENTATIONS = ("time_stretch", "amplitude", "polarity", "baseline_wander", "powerline", "gaussian_noise")

#: Mixed into the plan's seed: the augmentation stream differs from the data-order stream of the same epoch.
_STREAM = 0x41554740


@dataclass(frozen=True)
class AugmentSettings:
    """``training.augment`` resolved: the image/window time shift and each signal augmentation's settings."""

    shift: bool
    signal: dict  # name -> its mapping (p and strength), every name of SIGNAL_AUGMENTATIONS

    @property
    def signal_on(self) -> bool:
        """Whether any signal augmentation can apply (some p > 0): the training images are then computed per batch."""
        return augment_signal_on(self.signal)


def augment_settings(value, key: str = "training.augment", fs: float | None = None) -> AugmentSettings:
    """Resolve ``training.augment`` (``true``/``false``: the time shift alone, or a mapping), checked.

    Every ``[low, high]`` must have ``low <= high``; given the segments' rate
    ``fs``, the powerline frequencies in use must lie below its Nyquist
    frequency (:func:`ecgcwt.config.check_augment`). Raises :class:`ConfigError` naming the key.
    """
    full = check_augment(bool(value) if isinstance(value, np.bool_) else value, key, fs)
    return AugmentSettings(shift=bool(full["shift"]), signal={n: dict(full[n]) for n in SIGNAL_AUGMENTATIONS})


@dataclass
class AugmentPlan:
    """Every window's augmentation parameters for one epoch (one entry per position of the epoch's order).

    An augmentation that does not apply to a window holds its neutral value:
    stretch 1, gain 1, sign 1, wander amplitudes 0, SNRs nan.
    """

    stretch: np.ndarray  # (n,) heart-rate factor
    gain: np.ndarray  # (n,) amplitude factor
    sign: np.ndarray  # (n,) +1 or -1 (polarity)
    wander_amp: np.ndarray  # (n, K) peak amplitude of each sinusoid, in standard deviations of the window
    wander_hz: np.ndarray  # (n, K)
    wander_phase: np.ndarray  # (n, K) radians
    powerline_snr_db: np.ndarray  # (n,) nan: no powerline
    powerline_hz: np.ndarray  # (n,)
    powerline_phase: np.ndarray  # (n,)
    noise_snr_db: np.ndarray  # (n,) nan: no Gaussian noise
    noise_seed: np.ndarray  # (n,) int64: the window's noise generator seed

    def __len__(self) -> int:
        return len(self.stretch)

    def __getitem__(self, index) -> "AugmentPlan":
        """The plan of the windows ``index`` (a slice or an index array) of this one."""
        return AugmentPlan(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def draw_plan(settings: AugmentSettings, n: int, seed: int, epoch: int) -> AugmentPlan:
    """The parameters of ``n`` windows (the epoch's order) of epoch ``epoch``, drawn from ``(seed, epoch)``."""
    rng = np.random.default_rng([_STREAM, int(seed), int(epoch)])
    s = settings.signal

    def on(name: str) -> np.ndarray:
        return rng.random(n) < float(s[name]["p"])

    def log_uniform(lo: float, hi: float) -> np.ndarray:
        return np.exp(rng.uniform(math.log(lo), math.log(hi), n))

    st, am = s["time_stretch"], s["amplitude"]
    stretch = np.where(on("time_stretch"), log_uniform(*st["range"]), 1.0)
    gain = np.where(on("amplitude"), log_uniform(*am["range"]), 1.0)
    sign = np.where(on("polarity"), -1.0, 1.0)
    bw = s["baseline_wander"]
    k = int(bw["components"])
    wander_on = on("baseline_wander")
    wander_amp = rng.uniform(*bw["amplitude"], (n, k)) * wander_on[:, None]
    wander_hz = rng.uniform(*bw["hz"], (n, k))
    wander_phase = rng.uniform(0.0, 2 * math.pi, (n, k))
    pl = s["powerline"]
    pl_on = on("powerline")
    pl_snr = np.where(pl_on, rng.uniform(*pl["snr_db"], n), np.nan)
    pl_hz = np.asarray(pl["hz"], dtype=np.float64)[rng.integers(0, len(pl["hz"]), n)]
    pl_phase = rng.uniform(0.0, 2 * math.pi, n)
    gn = s["gaussian_noise"]
    noise_on = on("gaussian_noise")
    noise_snr = np.where(noise_on, rng.uniform(*gn["snr_db"], n), np.nan)
    noise_seed = rng.integers(0, 2**62, n, dtype=np.int64)
    return AugmentPlan(
        stretch=stretch,
        gain=gain,
        sign=sign,
        wander_amp=wander_amp,
        wander_hz=wander_hz,
        wander_phase=wander_phase,
        powerline_snr_db=pl_snr,
        powerline_hz=pl_hz,
        powerline_phase=pl_phase,
        noise_snr_db=noise_snr,
        noise_seed=noise_seed,
    )


def augment_signals(x: torch.Tensor, plan: AugmentPlan, fs: float) -> torch.Tensor:
    """Windows ``x`` (B, N) float, on any device, augmented as ``plan`` (B entries) says; a new tensor.

    Window ``i`` of the result is window ``i`` of ``x`` transformed (no mixing, no reordering).
    """
    if x.ndim != 2 or x.shape[0] != len(plan):
        raise ValueError(f"expected windows (B, N) with B = {len(plan)} (the plan's length), got {tuple(x.shape)}")
    dev, b, n = x.device, x.shape[0], x.shape[1]
    x = x.to(torch.float32)

    def col(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=dev)

    if np.any(plan.stretch != 1.0):
        x = time_stretch(x, col(plan.stretch))
    if np.any(plan.gain * plan.sign != 1.0):
        x = x * col(plan.gain * plan.sign)[:, None]
    else:
        x = x.clone()
    additive = np.any(plan.wander_amp > 0) or np.isfinite(plan.powerline_snr_db).any()
    additive = additive or np.isfinite(plan.noise_snr_db).any()
    if not additive:
        return x
    power = x.var(dim=1, unbiased=False)  # (B,) the signal power the additive ones are measured against
    t = torch.arange(n, device=dev, dtype=torch.float32) / float(fs)
    two_pi = 2 * math.pi
    if np.any(plan.wander_amp > 0):
        amp = col(plan.wander_amp) * power.sqrt()[:, None]  # (B, K)
        arg = two_pi * col(plan.wander_hz)[:, :, None] * t + col(plan.wander_phase)[:, :, None]  # (B, K, N)
        x += (amp[:, :, None] * torch.sin(arg)).sum(dim=1)
    pl = np.isfinite(plan.powerline_snr_db)
    if pl.any():
        # a sinusoid of amplitude A has power A^2 / 2
        ratio = col(np.where(pl, 10.0 ** (-np.nan_to_num(plan.powerline_snr_db) / 10.0), 0.0))
        amp = torch.sqrt(2.0 * power * ratio)
        x += amp[:, None] * torch.sin(two_pi * col(plan.powerline_hz)[:, None] * t + col(plan.powerline_phase)[:, None])
    gn = np.isfinite(plan.noise_snr_db)
    if gn.any():
        ratio = col(np.where(gn, 10.0 ** (-np.nan_to_num(plan.noise_snr_db) / 10.0), 0.0))
        noise = torch.zeros((b, n), dtype=torch.float32)
        for i in np.flatnonzero(gn):  # one generator per window: its noise whatever batch or device it is in
            noise[i] = torch.randn(n, generator=torch.Generator().manual_seed(int(plan.noise_seed[i])))
        x += torch.sqrt(power * ratio)[:, None] * noise.to(dev)
    return x


def time_stretch(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``y[i, n] = x_i(c + factor[i] (n - c))``, ``c = (N - 1) / 2``: cubic interpolation, reflection past the ends."""
    b, n = x.shape
    centre = (n - 1) / 2.0
    pos = centre + factor[:, None].to(torch.float64) * (torch.arange(n, device=x.device, dtype=torch.float64) - centre)
    base = torch.floor(pos)
    frac = (pos - base).to(torch.float32)
    base = base.to(torch.int64)
    # Keys cubic convolution weights (a = -0.5) of the samples base-1 .. base+2
    f2, f3 = frac * frac, frac * frac * frac
    weights = (
        -0.5 * f3 + f2 - 0.5 * frac,
        1.5 * f3 - 2.5 * f2 + 1.0,
        -1.5 * f3 + 2.0 * f2 + 0.5 * frac,
        0.5 * f3 - 0.5 * f2,
    )
    out = torch.zeros_like(x)
    for k, w in zip(range(-1, 3), weights):
        out += w * torch.gather(x, 1, _reflect(base + k, n))
    return out


def _reflect(index: torch.Tensor, n: int) -> torch.Tensor:
    """Indices past either end mirrored with the edge sample repeated (numpy's ``symmetric``), any distance."""
    i = torch.remainder(index, 2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)
