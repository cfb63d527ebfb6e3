"""Continuous wavelet transform: MATLAB-compatible definition, fast batched torch filter bank.

Definition (the same one MATLAB's ``cwtfilterbank``/``cwt`` implement)
=====================================================================

Everything is in samples: ``omega`` is angular frequency in radians/sample
(Nyquist = pi), ``s`` is a dimensionless scale, ``fs`` converts to Hz at the end.

Wavelets are analytic and defined by their Fourier transform on ``omega > 0``
(zero for ``omega <= 0``, including DC), normalised so that the peak value is 2:

* generalised Morse (MATLAB's default, Lilly & Olhede 2009), parameters gamma
  and the time-bandwidth product ``P**2 = beta * gamma``::

      beta    = P**2 / gamma
      omega_p = (beta / gamma) ** (1 / gamma)                 # peak frequency
      psihat(w) = 2 * (w / omega_p) ** beta * exp(omega_p ** gamma - w ** gamma)

* analytic Morlet ``amor`` (MATLAB's 'amor'; a Gabor wavelet; PyWavelets'
  ``cmor2.0-C`` with ``C = omega0 / 2 pi``; fCWT's ``Morlet(1.0)`` when omega0 = 2 pi)::

      omega_p = omega0
      psihat(w) = 2 * exp(-(w - omega0) ** 2 / 2)

The daughter wavelet at scale ``s`` is ``psihat(s * omega)``, with **no** ``sqrt(s)``
factor: this is L1 normalisation (``(1/s) psi(t/s)`` in time). Its effect: a
sinusoid ``A cos(omega_p t / s)`` gives ``|W| = A`` at scale ``s``, whatever the
scale, so magnitudes compare across scales (the factor 2 restores the amplitude
that the analytic wavelet drops with the negative frequencies). Scale ``s`` has
centre (peak) frequency ``f(s) = fs * omega_p / (2 pi s)`` Hz.

The transform of a signal ``x`` of length ``N``::

    xp      = extend(x) to length L                      # boundary handling, below
    Xp[k]   = sum_n xp[n] exp(-2 pi i k n / L)           # DFT
    W[s, t] = (1/L) sum_{k=1}^{L/2} Xp[k] psihat(s * 2 pi k / L) exp(2 pi i k (t + pad_left) / L)

(``k = L/2``, the Nyquist bin, counts as a positive frequency, as in MATLAB.)

Boundary handling (``boundary``):

* ``reflect`` (default; MATLAB's 'reflection'): ``x`` extended by symmetric
  reflection (edge sample repeated, numpy's ``mode="symmetric"``) on both sides
  to ``L = min{2**a * c >= 2 N : c in (1, 3, 5)}`` samples, i.e. at least N/2 on
  each side like MATLAB (which pads to exactly 2N); ``L`` is chosen with a large
  power-of-two factor so FFTs are fast and the output stride can divide it.
* ``zero``: the same length ``L``, zeros instead of the reflection.
* ``periodic`` (MATLAB's 'periodic'): no extension, ``L = N`` (circular).

Scales (``voices_per_octave`` = nv): a geometric ladder
``s_j = s_min * 2 ** (j / nv)``, ``j = 0 .. floor(nv * log2(s_max / s_min))``, so
the frequencies run from ``f(s_min)`` (highest, image row 0) down. ``s_min`` and
``s_max`` come from ``freq_limits = [fmin, fmax]`` Hz as
``s = fs * omega_p / (2 pi f)``, or by default from MATLAB's ``cwtfreqbounds``
(see :func:`cwt_freq_bounds`). Unlike MATLAB, explicit limits below the default
minimum frequency are kept rather than clamped: those rows then lie mostly
outside the cone of influence.

Fast path: only the output columns the image needs
==================================================

An image of width ~224 needs ~224 columns, not N (65,536). Take columns
``t_m = t0 + D m`` with a stride ``D`` that divides ``L`` and let ``M = L / D``,
``n0 = t0 + pad_left``. Write each positive frequency as ``k = r + M q``
(``0 <= r < M``, ``0 <= q < Q``). Because ``exp(2 pi i k D m / L) =
exp(2 pi i r m / M)`` depends on ``k`` only through ``r = k mod M``::

    W[s, t_m] = (1/L) sum_r exp(2 pi i r m / M) sum_q Xp[k] psihat(s w_k) exp(2 pi i k n0 / L)
              = IFFT_M( Z )[m],   Z[r, s] = sum_q Xp[r + M q] G[r, q, s],
      G[r, q, s] = psihat(s w_k) exp(2 pi i k n0 / L) / D                 (k = r + M q)

i.e. sampling the output at every D-th column is the same as aliasing (folding)
its spectrum into M bins. The fold over ``q`` is a matrix product per bin ``r``:
one batched GEMM ``(M, B, Q) @ (M, Q, S) -> (M, B, S)`` with the bank ``G``
precomputed once per (stride, offset), followed by a short inverse FFT of
length M. Implementation details: the phase ``exp(2 pi i k n0 / L)`` is a
circular shift of the extended signal by n0 samples, applied in the gather
index, so the bank is real (real arithmetic on (re, im) pairs, half the work
of complex); with few bins per residue (short signals, Q <= 8) the fold is Q
broadcast multiply-adds written straight into (B, S, M) complex instead of a
GEMM with inner size Q, so the inverse FFT runs along contiguous rows and its
output is already in (B, S, T) order; and on the CPU the batch is cut into
~4 MB chunks that run on separate threads (one torch intra-op thread each),
which for these small FFTs scales far better than splitting every op.
The fold does as many multiply-adds as the full-resolution product
(``L/2 * S`` per signal) but replaces S inverse FFTs of length L by S of
length M, and never materialises the (S, L) full-resolution output. Nothing is
approximated: the result equals the full-resolution transform at those columns
up to float32 rounding. With an even stride the positive bins ``1 .. L/2`` are
exactly ``Q = D/2`` per residue if the Nyquist bin (``k = L/2 = M D/2``, residue
0) takes the slot of the DC bin (``k = 0``, residue 0), which the analytic
wavelet zeroes anyway.

Why sampling rather than averaging columns: the magnitude varies slowly in time
compared with the column spacing at all but the finest scales (|W| is the
envelope of a band-pass signal of relative bandwidth ~1/P), and the image is
then resized with anti-aliasing from T >= image width columns. MATLAB's example
computes all N columns and lets ``imresize`` average them; at the finest scales
of a 65,536-sample record our image samples the envelope instead of averaging
it. That is the price of a 100x faster transform.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import integrate, optimize

from ecgcwt.errors import ConfigError, DataError
from ecgcwt.imaging.settings import BOUNDARIES, CWT_ATTRS, WAVELETS, CwtParams  # noqa: F401 (the transform's face)

#: MATLAB's defaults for the frequency bounds: the finest wavelet falls to
#: ``cutoff`` percent of its peak at Nyquist; ``n_std`` time standard deviations
#: of the coarsest wavelet span the signal.
MATLAB_CUTOFF_PERCENT = 50.0
MATLAB_N_STD = 2.0


# --------------------------------------------------------------------------- wavelets


class Wavelet:
    """An analytic wavelet given by its real, non-negative Fourier transform on omega > 0."""

    name: str
    #: peak (centre) angular frequency at scale 1, radians/sample
    omega_peak: float
    #: MATLAB's "time standard deviation" constant used by cwtfreqbounds (see each subclass)
    sigma_t_matlab: float

    def psihat(self, omega: np.ndarray) -> np.ndarray:
        """Fourier transform at ``omega`` (float64 array, radians/sample); 0 where omega <= 0."""
        raise NotImplementedError

    def psihat_prime(self, omega: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def cutoff_omega(self, fraction: float) -> float:
        """Frequency above the peak where psihat falls to ``fraction`` of its peak value 2."""
        if fraction >= 1.0:
            return self.omega_peak
        f = lambda w: self.psihat(np.array([w]))[0] - 2.0 * fraction
        hi = self.omega_peak * 2.0
        while f(hi) > 0:
            hi *= 2.0
        return float(optimize.brentq(f, self.omega_peak, hi, xtol=1e-14, rtol=1e-14))

    def time_std(self) -> float:
        """Standard deviation (samples, at scale 1) of the energy density |psi(t)|^2.

        Because psihat is real, |psi(t)|^2 is even and centred at 0, and by
        Parseval ``sigma_t^2 = int |psihat'(w)|^2 dw / int |psihat(w)|^2 dw``.
        At scale s the spread is ``s * time_std()``; this sets the cone of influence.
        """
        lo, hi = self._support()
        num = integrate.quad(lambda w: self.psihat_prime(np.array([w]))[0] ** 2, lo, hi, limit=400)[0]
        den = integrate.quad(lambda w: self.psihat(np.array([w]))[0] ** 2, lo, hi, limit=400)[0]
        return math.sqrt(num / den)

    def _support(self) -> tuple[float, float]:
        return 0.0, self.cutoff_omega(1e-12)


class MorseWavelet(Wavelet):
    """Generalised Morse wavelet (gamma, P^2 = beta * gamma), peak value 2 at omega_p."""

    name = "morse"

    def __init__(self, gamma: float = 3.0, time_bandwidth: float = 60.0):
        self.gamma = float(gamma)
        self.time_bandwidth = float(time_bandwidth)
        self.beta = self.time_bandwidth / self.gamma
        self.omega_peak = (self.beta / self.gamma) ** (1.0 / self.gamma)
        # MATLAB (wavCFandSD -> morseproperties, from Lilly's jLab) uses the
        # dimensionless time spread omega_p * sigma_t, sigma_t being the
        # standard deviation of |psi(t)|^2. For (3, 60) it is 5.5 (close to
        # P/sqrt(2)), which reproduces cwtfreqbounds(1000) = 0.0033 cycles/sample.
        self.sigma_t_matlab = self.omega_peak * self.time_std()

    def psihat(self, omega: np.ndarray) -> np.ndarray:
        w = np.asarray(omega, dtype=np.float64)
        out = np.zeros_like(w)
        pos = w > 0
        wp = w[pos]
        # log form: beta*log(w/wp) - w^gamma + wp^gamma stays finite for large beta
        out[pos] = 2.0 * np.exp(self.beta * np.log(wp / self.omega_peak) - wp**self.gamma + self.omega_peak**self.gamma)
        return out

    def psihat_prime(self, omega: np.ndarray) -> np.ndarray:
        w = np.asarray(omega, dtype=np.float64)
        out = np.zeros_like(w)
        pos = w > 0
        wp = w[pos]
        out[pos] = self.psihat(wp) * (self.beta / wp - self.gamma * wp ** (self.gamma - 1.0))
        return out


class AmorWavelet(Wavelet):
    """Analytic Morlet (Gabor) wavelet, psihat(w) = 2 exp(-(w - omega0)^2 / 2) for w > 0."""

    name = "amor"

    def __init__(self, omega0: float = 6.0):
        self.omega0 = float(omega0)
        self.omega_peak = self.omega0
        # MATLAB's constant for 'amor' (wavCFandSD): sigmaT = sqrt(2), used as is.
        self.sigma_t_matlab = math.sqrt(2.0)

    def psihat(self, omega: np.ndarray) -> np.ndarray:
        w = np.asarray(omega, dtype=np.float64)
        return np.where(w > 0, 2.0 * np.exp(-((w - self.omega0) ** 2) / 2.0), 0.0)

    def psihat_prime(self, omega: np.ndarray) -> np.ndarray:
        w = np.asarray(omega, dtype=np.float64)
        return -(w - self.omega0) * self.psihat(w)

    def time_std(self) -> float:
        # |psi(t)|^2 is proportional to exp(-t^2): standard deviation 1/sqrt(2)
        return 1.0 / math.sqrt(2.0)


# --------------------------------------------------------------------------- frequency bounds and scales


def make_wavelet(params: CwtParams) -> Wavelet:
    """The mother wavelet ``params`` name, with its shape parameters."""
    if params.wavelet == "morse":
        return MorseWavelet(params.morse_gamma, params.morse_time_bandwidth)
    return AmorWavelet(params.amor_omega0)


def cwt_freq_bounds(
    signal_length: int,
    fs: float,
    wavelet: Wavelet,
    *,
    cutoff_percent: float = MATLAB_CUTOFF_PERCENT,
    n_std: float = MATLAB_N_STD,
    voices_per_octave: int = 10,
) -> tuple[float, float]:
    """Default (fmin, fmax) in Hz, as MATLAB's ``cwtfreqbounds`` computes them.

    Source: MATLAB's cwtfreqbounds documentation ("the minimum frequency is
    determined so that two time standard deviations of the default wavelet span
    the N-point signal at the coarsest scale; the maximum frequency is such that
    the highest frequency wavelet bandpass filter drops to 1/2 of its peak
    magnitude at the Nyquist frequency") and its internal ``cwtfreqlimits``:

    * finest scale: ``s_min = omega_c / pi``, where ``omega_c > omega_p`` solves
      ``psihat(omega_c) = 2 * cutoff`` (so psihat(s_min * pi) = cutoff * peak);
    * coarsest scale: ``s_max = N / (sigma_t * n_std)`` with MATLAB's wavelet
      time-spread constant ``sigma_t`` (Morse: omega_p times the standard
      deviation of |psi(t)|^2, 5.5 for (3, 60); amor: sqrt(2));
    * if ``s_max < s_min * 2**(1/nv)`` it is raised to that, one voice apart;
    * ``f = fs * omega_p / (2 pi s)`` (MATLAB's FourierFactor 2 pi / omega_p),
      and fmax is capped at Nyquist.

    Documented check: ``cwtfreqbounds(1000)`` gives minfreq 0.0033 and maxfreq
    0.4341 cycles/sample (MATLAB doc example); this returns 0.003281 and 0.4341.
    """
    if signal_length < 2:
        raise DataError(f"signal length must be >= 2 samples for a CWT, got {signal_length}")
    s_min = wavelet.cutoff_omega(cutoff_percent / 100.0) / math.pi
    s_max = signal_length / (wavelet.sigma_t_matlab * n_std)
    s_max = max(s_max, s_min * 2.0 ** (1.0 / voices_per_octave))
    fmax = min(fs * wavelet.omega_peak / (2 * math.pi * s_min), fs / 2.0)
    fmin = fs * wavelet.omega_peak / (2 * math.pi * s_max)
    return float(fmin), float(fmax)


def make_scales(s_min: float, s_max: float, voices_per_octave: int) -> np.ndarray:
    """``s_min * 2**(j/nv)`` for ``j = 0 .. floor(nv * log2(s_max/s_min))`` (at least 2 scales)."""
    n_oct = max(math.log2(s_max / s_min), 1.0 / voices_per_octave)
    n = int(math.floor(n_oct * voices_per_octave + 1e-9)) + 1
    return s_min * 2.0 ** (np.arange(n) / voices_per_octave)


def fft_length(signal_length: int, boundary: str) -> int:
    """Transform length L: N for periodic, else the smallest 2**a * c >= 2N with c in (1, 3, 5)."""
    if boundary == "periodic":
        return int(signal_length)
    target = 2 * int(signal_length)
    best = None
    for c in (1, 3, 5):
        a = max(0, math.ceil(math.log2(target / c)))
        v = c * 2**a
        while v // 2 >= target and v % 2 == 0:
            v //= 2
        best = v if best is None else min(best, v)
    return int(best)


def _extension_index(n: int, L: int, boundary: str) -> tuple[np.ndarray, int]:
    """Index into ``[x, 0]`` (index n is the zero sample) that extends x to length L; and pad_left."""
    if boundary == "periodic":
        return np.arange(n), 0
    left = (L - n) // 2
    right = L - n - left
    if boundary == "zero":
        idx = np.concatenate([np.full(left, n), np.arange(n), np.full(right, n)])
    else:  # symmetric reflection with the edge sample repeated (MATLAB 'reflection')
        idx = np.pad(np.arange(n), (left, right), mode="symmetric")
    return idx.astype(np.int64), left


# --------------------------------------------------------------------------- the filter bank


def _default_scales(signal_length: int, fs: float, params: CwtParams) -> tuple[np.ndarray, float, float]:
    """The scales of :class:`FilterBank` without ``scales`` given, and the frequency limits (Hz) they span."""
    wavelet = make_wavelet(params)
    if params.freq_limits is None:
        fmin, fmax = cwt_freq_bounds(signal_length, fs, wavelet, voices_per_octave=params.voices_per_octave)
    else:
        fmin, fmax = params.freq_limits
        if fmax > fs / 2 * (1 + 1e-12):
            raise ConfigError(
                f"cwt.freq_limits: fmax {fmax} Hz is above the Nyquist frequency {fs / 2} Hz (fs = {fs} Hz); lower it"
            )
    to_scale = lambda f: fs * wavelet.omega_peak / (2 * math.pi * f)
    return make_scales(to_scale(fmax), to_scale(fmin), params.voices_per_octave), float(fmin), float(fmax)


def _image_columns(n: int, n_fft: int, width: int) -> np.ndarray:
    d = max([d for d in range(1, max(1, n // max(1, width)) + 1) if n_fft % d == 0] or [1])
    t = n // d
    t0 = (n - 1 - d * (t - 1)) // 2
    return t0 + d * np.arange(t)


def transform_geometry(signal_length: int, fs: float, params: CwtParams, width: int) -> dict:
    """What a :class:`FilterBank` of these settings gives an image ``width`` px wide, without building its
    responses (milliseconds, not seconds for long windows): ``frequencies`` (Hz, image row order),
    ``fmin_hz``, ``fmax_hz``, ``time_columns`` and ``n_fft``. A cache's or model file's attributes are
    checked against it."""
    scales, fmin, fmax = _default_scales(int(signal_length), float(fs), params)
    n_fft = fft_length(int(signal_length), params.boundary)
    return {
        "frequencies": fs * make_wavelet(params).omega_peak / (2 * math.pi * scales),
        "fmin_hz": fmin,
        "fmax_hz": fmax,
        "time_columns": _image_columns(int(signal_length), n_fft, width),
        "n_fft": n_fft,
    }


class FilterBank:
    """A CWT filter bank for one signal length / sampling rate / parameter set.

    Build it once and reuse it for every batch: the frequency responses (and, per
    output-column grid, the folded bank of the fast path) are computed once and
    kept on ``device``.
    """

    def __init__(
        self,
        signal_length: int,
        fs: float,
        params: CwtParams | None = None,
        *,
        device: str | torch.device = "cpu",
        scales: Sequence[float] | None = None,
    ):
        self.params = params or CwtParams()
        self.signal_length = int(signal_length)
        self.fs = float(fs)
        if self.signal_length < 2:
            raise DataError(f"signal length must be >= 2 samples, got {signal_length}")
        if not (math.isfinite(self.fs) and self.fs > 0):
            raise ConfigError(f"sampling rate fs must be > 0 Hz, got {fs!r}")
        self.device = torch.device(device)
        self.wavelet = make_wavelet(self.params)
        to_scale = lambda f: self.fs * self.wavelet.omega_peak / (2 * math.pi * f)
        if scales is not None:
            self.scales = np.sort(np.asarray(scales, dtype=np.float64))
            self.fmin_hz = float(to_scale(self.scales[-1]))
            self.fmax_hz = float(to_scale(self.scales[0]))
        else:
            self.scales, self.fmin_hz, self.fmax_hz = _default_scales(self.signal_length, self.fs, self.params)
        #: centre frequencies in Hz, high to low (image row order)
        self.frequencies = self.fs * self.wavelet.omega_peak / (2 * math.pi * self.scales)
        self.n_fft = fft_length(self.signal_length, self.params.boundary)
        idx, self.pad_left = _extension_index(self.signal_length, self.n_fft, self.params.boundary)
        self._ext_index = torch.from_numpy(idx).to(self.device)
        self._needs_zero = self.params.boundary == "zero"
        k = np.arange(self.n_fft // 2 + 1)
        #: float64 frequency responses (S, L//2 + 1) on the rfft grid; row j is psihat(s_j * 2 pi k / L)
        self.responses = self.wavelet.psihat(self.scales[:, None] * (2 * math.pi * k / self.n_fft)[None, :])
        self._bank = torch.from_numpy(self.responses.astype(np.float32)).to(self.device)
        self._folded: dict[tuple[int, int], _Fold] = {}

    # -- geometry -------------------------------------------------------------------------

    @property
    def n_scales(self) -> int:
        return len(self.scales)

    def image_columns(self, width: int) -> np.ndarray:
        """Evenly spaced output columns (stride dividing L) for an image ``width`` pixels wide.

        The stride is the largest divisor D of L with ``floor(N / D) >= width``, so
        ``width <= T < 2 width`` for power-of-two-like L; the grid is centred.
        Short signals (N < 2 * width) get every column.
        """
        return _image_columns(self.signal_length, self.n_fft, width)

    def cone_of_influence(self, n_sigma: float = 2.0) -> np.ndarray:
        """Edge margin (samples) per scale: coefficients closer than this to either end are edge-affected.

        ``n_sigma * s * sigma_t``, sigma_t being the standard deviation of the
        wavelet's energy |psi(t)|^2 at scale 1 (:meth:`Wavelet.time_std`). With
        n_sigma = 2, 95% of the wavelet's energy lies inside the signal. (MATLAB's
        own COI line is more permissive: e-folding of the amor wavelet.)
        """
        return n_sigma * self.scales * self.wavelet.time_std()

    def coi_mask(self, columns: np.ndarray | None = None, n_sigma: float = 2.0) -> np.ndarray:
        """Boolean (S, T): True where column t of scale s is inside the cone of influence."""
        cols = np.arange(self.signal_length) if columns is None else np.asarray(columns)
        dist = np.minimum(cols, self.signal_length - 1 - cols)[None, :]
        return dist >= self.cone_of_influence(n_sigma)[:, None]

    # -- transform --------------------------------------------------------------------------

    def _as_batch(self, x) -> tuple[torch.Tensor, bool]:
        t = torch.as_tensor(x)
        single = t.ndim == 1
        if single:
            t = t[None]
        if t.ndim != 2 or t.shape[1] != self.signal_length:
            raise DataError(
                f"expected signals of shape (B, {self.signal_length}) or ({self.signal_length},), "
                f"got {tuple(torch.as_tensor(x).shape)}; build a FilterBank for this length"
            )
        return t.to(device=self.device, dtype=torch.float32), single

    def _spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """rfft (B, L//2+1) of the boundary-extended signals."""
        if self._needs_zero:
            x = torch.cat([x, x.new_zeros(x.shape[0], 1)], dim=1)
        xp = x.index_select(1, self._ext_index)
        return torch.fft.rfft(xp, n=self.n_fft, dim=1)

    def transform(self, x, columns=None, *, workers: int | None = None, _magnitude: bool = False) -> torch.Tensor:
        """Complex64 CWT of shape (B, S, T) (or (S, T) for a single 1-D signal).

        ``columns=None`` gives all N columns (full resolution). An evenly spaced
        int array whose stride divides L (e.g. :meth:`image_columns`) takes the
        fast folded path; any other column set is computed at full resolution
        and indexed.

        ``workers`` (fast path, CPU only): how many chunks of the batch run at once,
        each on its own thread with one torch intra-op thread; None uses
        ``torch.get_num_threads()``, 1 runs the chunks one after another with
        torch's intra-op threading. Every chunk is computed the same way, so the
        values do not depend on it.
        """
        xb, single = self._as_batch(x)
        if columns is None:
            out = self._full(xb)
        else:
            cols = np.asarray(columns, dtype=np.int64)
            if cols.ndim != 1 or len(cols) == 0 or cols.min() < 0 or cols.max() >= self.signal_length:
                raise DataError(f"columns must be a non-empty 1-D array of indices in [0, {self.signal_length})")
            d = int(cols[1] - cols[0]) if len(cols) > 1 else self.n_fft
            regular = d > 0 and np.all(np.diff(cols) == d) and self.n_fft % d == 0
            if regular:
                out = self._folded_transform(xb, int(cols[0]), d, len(cols), magnitude=_magnitude, workers=workers)
                return self._squeeze(out, single)
            out = self._full(xb)[:, :, torch.from_numpy(cols).to(self.device)]
        out = out.abs() if _magnitude else out
        return self._squeeze(out, single)

    @staticmethod
    def _squeeze(out: torch.Tensor, single: bool) -> torch.Tensor:
        return out[0] if single else out

    def magnitude(self, x, columns=None, *, workers: int | None = None) -> torch.Tensor:
        """|CWT| as float32, same shapes and ``workers`` as :meth:`transform`.

        No complex output buffer is allocated on the fast path.
        """
        return self.transform(x, columns, workers=workers, _magnitude=True)

    def _full(self, xb: torch.Tensor) -> torch.Tensor:
        spec = self._spectrum(xb)  # (B, K)
        y = spec[:, None, :] * self._bank[None, :, :]  # (B, S, K), zero for negative frequencies
        w = torch.fft.ifft(y, n=self.n_fft, dim=2)  # ifft zero-fills bins K..L-1 (negative frequencies)
        return w[:, :, self.pad_left : self.pad_left + self.signal_length]

    def _fold_bank(self, n0: int, d: int) -> "_Fold":
        """Precomputed pieces of the fast path for stride d and first padded index n0."""
        key = (n0, d)
        if key in self._folded:
            return self._folded[key]
        L, K = self.n_fft, self.n_fft // 2 + 1
        m = L // d
        nyq_swap = d % 2 == 0  # bins 1..L/2 fill exactly Q = d/2 rows per residue
        q = d // 2 if nyq_swap else -(-K // m)
        k = np.arange(q * m)
        if nyq_swap:
            k[0] = L // 2  # the Nyquist bin takes the (unused) DC slot
        valid = k < K
        resp = np.where(valid[None, :], self.responses[:, np.where(valid, k, 0)], 0.0) / d  # (S, Q*M)
        # The phase exp(2 pi i k n0 / L) of G is a circular shift of the extended
        # signal by n0 samples: rolling the gather index makes the bank real, so
        # the fold is real arithmetic on (re, im) pairs, half the work of complex.
        index = torch.roll(self._ext_index, -n0)
        elementwise = q <= _ELEMENTWISE_MAX_Q
        if elementwise:
            # Few bins per residue (short signals): a GEMM with inner size Q moves more
            # memory than it computes. Store G as (Q, S, M, 2), the same value for re and
            # im, and fold with Q broadcast multiply-adds straight into (b, S, M) complex:
            # the short inverse FFT then runs along contiguous rows and its output is
            # already in (b, S, T) order, with no transposing copy anywhere.
            g = resp.reshape(self.n_scales, q, m).transpose(1, 0, 2)  # (Q, S, M)
            bank = np.ascontiguousarray(np.repeat(g[..., None], 2, axis=3), dtype=np.float32)
        else:
            bank = np.ascontiguousarray(resp.reshape(self.n_scales, q, m).transpose(2, 1, 0), dtype=np.float32)
        fold = _Fold(
            bank=torch.from_numpy(bank).to(self.device),
            index=index,
            m=m,
            q=q,
            nyq_swap=nyq_swap,
            elementwise=elementwise,
        )
        self._folded[key] = fold
        return fold

    def _folded_transform(
        self, xb: torch.Tensor, t0: int, d: int, t: int, *, magnitude: bool = False, workers: int | None = None
    ) -> torch.Tensor:
        fold = self._fold_bank(t0 + self.pad_left, d)
        m, q, S = fold.m, fold.q, self.n_scales
        b_all = xb.shape[0]
        out = torch.empty((b_all, S, t), dtype=torch.float32 if magnitude else torch.complex64, device=self.device)
        # Chunks keep every intermediate buffer ~1 MB (about one L2 cache): fewer page
        # faults, better cache use, and the unit of work of the batch-parallel path.
        chunk = max(1, int(_CHUNK_BYTES // (8 * m * max(S, q))))
        spans = [(i, min(i + chunk, b_all)) for i in range(0, b_all, chunk)]

        def run(span: tuple[int, int]) -> None:
            i, j = span
            self._fold_chunk(xb[i:j], fold, t, out[i:j], magnitude)

        n_workers = self._resolve_workers(workers, len(spans))
        if n_workers <= 1:
            for span in spans:
                run(span)
        else:
            _run_batch_parallel(run, spans, n_workers)
        return out

    def _resolve_workers(self, workers: int | None, n_chunks: int) -> int:
        """How many chunks to run at once: batch parallelism is a CPU-only technique."""
        if workers is not None and (
            not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1
        ):
            raise ConfigError(f"workers must be a positive integer or None, got {workers!r}")
        if self.device.type != "cpu" or n_chunks < 2 or not _PER_THREAD_INTRAOP:
            return 1
        return min(int(torch.get_num_threads() if workers is None else workers), n_chunks)

    def _fold_chunk(self, x: torch.Tensor, fold: "_Fold", t: int, out: torch.Tensor, magnitude: bool) -> None:
        """The folded transform of one chunk of signals into ``out`` (b, S, T)."""
        m, q, L, S = fold.m, fold.q, self.n_fft, self.n_scales
        b = x.shape[0]
        if self._needs_zero:
            x = torch.cat([x, x.new_zeros(b, 1)], dim=1)
        spec = torch.fft.rfft(x.index_select(1, fold.index), n=L, dim=1)  # (b, K), phase-shifted by n0
        K = spec.shape[1]
        if fold.nyq_swap:
            spec[:, 0] = spec[:, L // 2]
        else:
            spec = torch.nn.functional.pad(spec, (0, q * m - K))
            K = q * m
        # the bins as a (b, Q, M) array of (re, im) pairs, without a copy
        re_im = torch.view_as_real(spec).as_strided((b, q, m, 2), (2 * K, 2 * m, 2, 1))
        if fold.elementwise:
            z = torch.mul(re_im[:, 0, None], fold.bank[0])  # (b, S, M, 2): Z = sum_q X[q] G[q]
            for j in range(1, q):
                z.addcmul_(re_im[:, j, None], fold.bank[j])
            w = torch.fft.ifft(torch.view_as_complex(z), dim=2)  # (b, S, M): short inverse FFT
        else:
            xs = re_im.permute(2, 0, 3, 1).reshape(m, 2 * b, q)  # (M, (b, re/im), Q)
            z = torch.bmm(xs, fold.bank)  # (M, 2b, S): the fold, one batched real GEMM
            zc = torch.view_as_complex(z.view(m, b, 2, S).permute(1, 3, 0, 2).contiguous())
            w = torch.fft.ifft(zc, dim=2)  # (b, S, M): short inverse FFT of length M
        w = w[:, :, :t]
        if not magnitude:
            out.copy_(w)
        elif out.device.type == "cpu":
            # numpy's complex abs is ~4x torch.abs on complex and ~1.5x the three-pass
            # sqrt(re^2 + im^2) on strided views; the result is the same float32 |w|.
            np.abs(w.detach().numpy(), out=out.detach().numpy())
        else:
            torch.abs(w, out=out)


def _run_batch_parallel(run, spans: list[tuple[int, int]], workers: int) -> None:
    """Run ``run(span)`` for every span on ``workers`` threads, each with one intra-op thread.

    For the small FFTs and broadcasts of short segments torch's intra-op threading
    splits each op too finely to pay off; independent chunks on separate threads
    scale almost linearly instead. torch ops release the GIL. With the OpenMP
    backend, ``torch.set_num_threads`` in a worker sets that thread's own OpenMP
    (and MKL) thread count, plus the process default for threads created later,
    which is restored afterwards; the calling thread's setting is untouched.
    Grad/inference mode is thread-local, so the caller's inference mode is
    carried into the workers (in-place writes into inference tensors need it).
    """
    previous = torch.get_num_threads()
    inference = torch.is_inference_mode_enabled()

    def task(span: tuple[int, int]) -> None:
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        with torch.inference_mode(inference):
            run(span)

    try:
        list(_pool(workers).map(task, spans))
    finally:
        torch.set_num_threads(previous)


_POOLS: dict[int, tuple[int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A persistent pool of ``workers`` threads (threads keep their one-thread setting between calls).

    Recreated in a forked child, whose copy of the pool has no threads behind it.
    """
    with _POOLS_LOCK:
        pid, pool = _POOLS.get(workers, (None, None))
        if pool is None or pid != os.getpid():
            pool = ThreadPoolExecutor(workers, thread_name_prefix="ecgcwt-cwt")
            _POOLS[workers] = (os.getpid(), pool)
        return pool


#: Batch parallelism needs per-thread intra-op settings, which the OpenMP backend
#: has (the native backend's thread count is process-wide and fixed once set).
_PER_THREAD_INTRAOP = "parallel backend: OpenMP" in torch.__config__.parallel_info()
_ELEMENTWISE_MAX_Q = 8
_CHUNK_BYTES = 4 << 20


@dataclass(frozen=True)
class _Fold:
    bank: torch.Tensor  # float32 psihat(s w_k) / D at k = r + M q: (Q, S, M, 2) if elementwise, else (M, Q, S)
    index: torch.Tensor  # extension index rolled by n0
    m: int
    q: int
    nyq_swap: bool
    elementwise: bool  # fold by broadcast multiply-adds (few bins per residue) instead of a GEMM


# --------------------------------------------------------------------------- float64 reference


def cwt_reference(x: np.ndarray, fs: float, params: CwtParams | None = None, *, scales=None) -> np.ndarray:
    """Straightforward float64 numpy CWT of the same definition, full resolution.

    Written independently of :class:`FilterBank`'s arithmetic (full complex FFT
    of the extended signal, product with psihat on the whole two-sided grid,
    inverse FFT, crop) so that tests and the benchmark can check the fast path
    against it. Shares only the wavelet formulas and scale/length choices.
    Returns complex128 (B, S, N) (or (S, N) for 1-D input).
    """
    params = params or CwtParams()
    xa = np.asarray(x, dtype=np.float64)
    single = xa.ndim == 1
    xa = np.atleast_2d(xa)
    n = xa.shape[1]
    fb = FilterBank(n, fs, params, scales=scales)  # for the scales and L only
    L = fb.n_fft
    if params.boundary == "periodic":
        xp, left = xa, 0
    else:
        left = (L - n) // 2
        mode = "symmetric" if params.boundary == "reflect" else "constant"
        xp = np.pad(xa, ((0, 0), (left, L - n - left)), mode=mode)
    omega = 2 * np.pi * np.fft.fftfreq(L)  # two-sided grid, radians/sample
    omega[L // 2] = np.pi if L % 2 == 0 else omega[L // 2]  # Nyquist counts as positive (MATLAB)
    psi = fb.wavelet.psihat(fb.scales[:, None] * omega[None, :])  # zero for omega <= 0
    w = np.fft.ifft(np.fft.fft(xp, axis=1)[:, None, :] * psi[None], axis=2)[:, :, left : left + n]
    return w[0] if single else w
