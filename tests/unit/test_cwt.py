"""Tests of the CWT definition and the fast torch filter bank (ecgcwt.imaging.cwt)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgcwt.errors import ConfigError, DataError
from ecgcwt.imaging.cwt import (
    AmorWavelet,
    CwtParams,
    FilterBank,
    MorseWavelet,
    cwt_freq_bounds,
    cwt_reference,
    fft_length,
    make_scales,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max() / np.abs(b).max())


def signals(b: int, n: int, seed: int = 0) -> np.ndarray:
    """ECG-like test signals: random walk (strong low frequencies) plus white noise."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((b, n)).cumsum(1) * 0.1 + rng.standard_normal((b, n))).astype(np.float32)


# --------------------------------------------------------------------------- frequency bounds, scales


def test_freq_bounds_match_matlab_documentation():
    # MATLAB doc example: [minfreq,maxfreq] = cwtfreqbounds(1000) -> 0.0033, 0.4341 (cycles/sample,
    # default Morse (3,60)). A public README reports cwtfreqbounds(1080, 1) -> minfreq 0.0031.
    fmin, fmax = cwt_freq_bounds(1000, 1.0, MorseWavelet(3, 60))
    assert round(fmin, 4) == 0.0033 and round(fmax, 4) == 0.4341
    assert round(cwt_freq_bounds(1080, 1.0, MorseWavelet(3, 60))[0], 4) == 0.0031
    # Hz scale linearly with fs (the MathWorks data: 65,536 samples at 128 Hz)
    f128 = cwt_freq_bounds(65536, 128.0, MorseWavelet(3, 60))
    f1 = cwt_freq_bounds(65536, 1.0, MorseWavelet(3, 60))
    assert f128 == pytest.approx((128 * f1[0], 128 * f1[1]))


def test_freq_bounds_formula_properties():
    w = MorseWavelet(3, 60)
    n = 4096
    fmin, fmax = cwt_freq_bounds(n, 1.0, w)
    s_min = w.omega_peak / (2 * math.pi * fmax)
    s_max = w.omega_peak / (2 * math.pi * fmin)
    # the finest wavelet is at half its peak (cutoff 50%: value 1 of peak 2) at Nyquist
    assert w.psihat(np.array([s_min * math.pi]))[0] == pytest.approx(1.0, rel=1e-9)
    # two MATLAB time standard deviations of the coarsest wavelet span the signal
    assert 2 * s_max * w.sigma_t_matlab == pytest.approx(n, rel=1e-9)
    # amor: closed form, psihat(w) = 1 at w = 6 + sqrt(2 ln 2); sigma_t = sqrt(2)
    a = AmorWavelet(6.0)
    fmin_a, fmax_a = cwt_freq_bounds(n, 1.0, a)
    assert fmax_a == pytest.approx(6.0 / (2 * (6 + math.sqrt(2 * math.log(2)))), rel=1e-10)
    assert fmin_a == pytest.approx(6.0 * math.sqrt(2) * 2 / (2 * math.pi * n), rel=1e-10)
    # very short signals: the coarsest scale is kept one voice above the finest
    fmin_s, fmax_s = cwt_freq_bounds(8, 1.0, w, voices_per_octave=12)
    assert fmax_s / fmin_s == pytest.approx(2 ** (1 / 12))


def test_scales_are_a_voice_ladder_high_to_low():
    fb = FilterBank(1024, 128.0)
    assert np.allclose(np.diff(np.log2(fb.scales)), 1 / 12)
    assert np.all(np.diff(fb.frequencies) < 0)
    assert fb.frequencies[0] == pytest.approx(fb.fmax_hz)
    assert fb.frequencies[-1] >= fb.fmin_hz * (1 - 1e-12)
    assert fb.frequencies[-1] < fb.fmin_hz * 2 ** (1 / 12)
    assert len(make_scales(1.0, 8.0, 12)) == 37


def test_frequency_limits_from_config():
    fb = FilterBank(1024, 128.0, CwtParams(freq_limits=(1.0, 40.0)))
    assert fb.frequencies[0] == pytest.approx(40.0)
    assert 1.0 <= fb.frequencies[-1] < 2 ** (1 / 12)
    with pytest.raises(ConfigError, match="freq_limits"):
        CwtParams(freq_limits=(40.0, 1.0))
    with pytest.raises(ConfigError, match="freq_limits"):
        CwtParams.from_config({"freq_limits": [0.0, 10.0]})
    with pytest.raises(ConfigError, match="Nyquist"):
        FilterBank(1024, 128.0, CwtParams(freq_limits=(1.0, 70.0)))


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"wavelet": "mexh"}, "cwt.wavelet"),
        ({"boundary": "mirror"}, "cwt.boundary"),
        ({"voices_per_octave": 0}, "cwt.voices_per_octave"),
        ({"morse_gamma": 0.5}, "cwt.morse_gamma"),
        ({"morse_time_bandwidth": 2.0}, "cwt.morse_time_bandwidth"),
        ({"amor_omega0": 1.0}, "cwt.amor_omega0"),
    ],
)
def test_bad_parameters_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        CwtParams(**kwargs)


def test_fft_length_choices():
    assert fft_length(1000, "reflect") == 2048
    assert fft_length(1024, "reflect") == 2048
    assert fft_length(1300, "zero") == 3072  # 3 * 1024 >= 2600 beats 4096
    assert fft_length(1250, "zero") == 2560  # 5 * 512
    assert fft_length(65536, "reflect") == 131072
    assert fft_length(1000, "periodic") == 1000


# --------------------------------------------------------------------------- wavelets


def test_morse_peak_frequency_and_normalisation():
    for gamma, p2 in ((3.0, 60.0), (3.0, 20.0), (2.0, 12.0)):
        w = MorseWavelet(gamma, p2)
        beta = p2 / gamma
        assert w.beta == pytest.approx(beta)
        assert w.omega_peak == pytest.approx((beta / gamma) ** (1 / gamma))
        grid = np.linspace(1e-3, 6.0, 600_001)
        psi = w.psihat(grid)
        assert grid[np.argmax(psi)] == pytest.approx(w.omega_peak, abs=2e-5)
        assert psi.max() == pytest.approx(2.0, rel=1e-9)  # peak 2: L1 normalisation
        assert w.psihat(np.array([0.0, -1.0]))[:].tolist() == [0.0, 0.0]  # analytic, no DC


def test_morse_time_domain_l1_norm_is_scale_independent_and_energy_scales_as_1_over_s():
    """Daughter wavelets psihat(s w) are (1/s) psi(t/s) in time: equal L1 norms, energy ~ 1/s."""
    w = MorseWavelet(3, 60)
    n = 1 << 16
    omega = 2 * np.pi * np.fft.fftfreq(n)
    l1, l2 = [], []
    for s in (4.0, 8.0, 16.0, 32.0):
        psi_t = np.fft.ifft(w.psihat(s * omega))  # sampled daughter wavelet (circular, well inside n)
        l1.append(np.abs(psi_t).sum())
        l2.append((np.abs(psi_t) ** 2).sum())
    assert np.ptp(l1) / np.mean(l1) < 1e-3
    assert np.allclose(np.array(l2) * np.array([4, 8, 16, 32]), l2[0] * 4, rtol=1e-3)
    # its time spread (std of |psi|^2) at scale 1 by Parseval matches the sampled wavelet at scale 32
    psi_t = np.fft.fftshift(np.fft.ifft(w.psihat(32.0 * omega)))
    t = np.arange(n) - n // 2
    p = np.abs(psi_t) ** 2
    std = math.sqrt((p * t**2).sum() / p.sum())
    assert std == pytest.approx(32.0 * w.time_std(), rel=1e-3)
    # MATLAB's dimensionless spread for (3, 60): close to P/sqrt(2) = 5.477
    assert w.sigma_t_matlab == pytest.approx(5.5008, abs=1e-3)


def test_amor_time_std_closed_form_matches_quadrature():
    a = AmorWavelet(6.0)
    assert super(AmorWavelet, a).time_std() == pytest.approx(1 / math.sqrt(2), rel=1e-6)


# --------------------------------------------------------------------------- fast path vs float64 reference


@pytest.mark.parametrize("wavelet", ["morse", "amor"])
@pytest.mark.parametrize("boundary", ["reflect", "periodic", "zero"])
def test_filter_bank_equals_float64_reference(wavelet, boundary):
    params = CwtParams(wavelet=wavelet, boundary=boundary)
    x = signals(3, 1000)
    fb = FilterBank(1000, 128.0, params)
    ref = cwt_reference(x.astype(np.float64), 128.0, params)
    full = fb.transform(x).numpy()
    assert full.shape == (3, fb.n_scales, 1000) and full.dtype == np.complex64
    assert rel(full, ref) < 1e-5
    cols = fb.image_columns(224)
    dec = fb.transform(x, cols).numpy()
    assert rel(dec, ref[:, :, cols]) < 1e-5
    mag = fb.magnitude(x, cols).numpy()
    assert mag.dtype == np.float32 and rel(mag, np.abs(ref[:, :, cols])) < 1e-5


@pytest.mark.parametrize("n, stride, t0", [(1024, 4, 1), (1024, 8, 3), (1000, 16, 0), (1000, 1, 0), (1000, 5, 2)])
def test_decimated_equals_full_resolution_sampled(n, stride, t0):
    """The fold (stride dividing L, even or odd) and the fallback (stride not dividing L) agree with
    the full-resolution transform at those columns."""
    x = signals(2, n, seed=1)
    fb = FilterBank(n, 128.0)
    cols = np.arange(t0, n, stride)
    full = fb.transform(x).numpy()
    dec = fb.transform(x, cols).numpy()
    assert rel(dec, full[:, :, cols]) < 2e-6
    irregular = np.array([0, 3, 10, 500, n - 1])
    assert rel(fb.transform(x, irregular).numpy(), full[:, :, irregular]) < 1e-6


def test_batched_equals_single_segment_on_cpu():
    x = signals(5, 1024, seed=2)
    fb = FilterBank(1024, 128.0)
    cols = fb.image_columns(224)
    batch = fb.magnitude(x, cols)
    for i in range(len(x)):
        single = fb.magnitude(x[i], cols)
        assert single.shape == batch.shape[1:]
        assert torch.allclose(single, batch[i], rtol=0, atol=1e-6 * float(batch[i].max()))


@pytest.mark.parametrize("n", [1000, 16384])  # elementwise fold (Q = 2) and GEMM fold (Q = 32)
def test_batch_parallel_equals_serial_exactly(n):
    """Chunks run on worker threads (one intra-op thread each) give bit-identical values to the
    same chunks run one after another at one intra-op thread; the caller's thread count and
    inference mode are left as they were."""
    b = 23 if n == 1000 else 11  # 3 chunks of up to 11 and 2 of up to 7 signals, the last one short
    x = torch.from_numpy(signals(b, n, seed=3))
    fb = FilterBank(n, 128.0, CwtParams(wavelet="amor"))
    cols = fb.image_columns(224)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial_mag = fb.magnitude(x, cols, workers=1)
        serial_cw = fb.transform(x, cols, workers=1)
        torch.set_num_threads(2)
        with torch.inference_mode():
            parallel_mag = fb.magnitude(x, cols, workers=2)
        assert torch.get_num_threads() == 2
        parallel_cw = fb.transform(x, cols, workers=3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(parallel_mag, serial_mag)
    assert torch.equal(parallel_cw, serial_cw)
    assert rel(serial_mag, serial_cw.abs()) < 1e-6
    with pytest.raises(ConfigError, match="workers"):
        fb.magnitude(x, cols, workers=0)


def test_reference_definition_golden():
    """cwt_reference against values it produced when this test was written (see tests/golden/make_golden.py)."""
    g = np.load(GOLDEN / "reference_definition.npz")
    morse = cwt_reference(g["x"], float(g["fs"]), CwtParams())
    amor = cwt_reference(g["x"], float(g["fs"]), CwtParams(wavelet="amor", boundary="periodic"))
    assert morse[::6].shape == g["morse_reflect"].shape  # every 6th scale is stored (small file)
    assert rel(morse[::6], g["morse_reflect"]) < 1e-12
    assert rel(amor[::6], g["amor_periodic"]) < 1e-12


def test_against_pywavelets_golden():
    """Magnitudes match PyWavelets' cmor2.0-1.0 (= amor with omega0 = 2 pi) inside the cone of influence.

    Golden values: pywt.cwt(x, scales, "cmor2.0-1.0", method="fft") by tests/golden/make_golden.py.
    PyWavelets normalises by sqrt(scale) (we: L1, peak 2), samples its integrated wavelet on a
    grid (~2% amplitude error at these scales) and centres its output within half a sample,
    so we compare magnitudes, scaled by 2 / sqrt(scale), with a 3% tolerance of the peak, far
    (8 energy standard deviations) from the edges where padding conventions differ.
    """
    g = np.load(GOLDEN / "pywt_cmor2.npz")
    x, scales, coefs = g["x"], g["scales"], g["coefs"]
    params = CwtParams(wavelet="amor", amor_omega0=2 * math.pi)
    fb = FilterBank(len(x), 1.0, params, scales=scales)
    ours = fb.magnitude(x.astype(np.float32)).numpy()
    theirs = np.abs(coefs) * (2 / np.sqrt(scales))[:, None]
    mask = fb.coi_mask(None, 8.0)
    assert mask.sum() > 500
    err = np.abs(ours - theirs)[mask].max() / theirs[mask].max()
    assert err < 0.03
    # and the float64 reference agrees with the fast path far tighter
    ref = np.abs(cwt_reference(x, 1.0, params, scales=scales))
    assert rel(ours, ref) < 1e-5


# --------------------------------------------------------------------------- physics


@pytest.mark.parametrize("wavelet", ["morse", "amor"])
def test_pure_tone_peaks_at_its_frequency_with_unit_magnitude(wavelet):
    fs, n = 128.0, 2048
    fb = FilterBank(n, fs, CwtParams(wavelet=wavelet))
    j = 20
    f0 = fb.frequencies[j]
    t = np.arange(n) / fs
    x = np.cos(2 * np.pi * f0 * t + 0.4).astype(np.float32)
    mag = fb.magnitude(x).numpy()
    interior = slice(n // 4, 3 * n // 4)
    profile = mag[:, interior].mean(axis=1)
    assert int(np.argmax(profile)) == j
    # L1 normalisation: a unit-amplitude sinusoid at a scale's centre frequency has |W| = 1 there
    assert profile[j] == pytest.approx(1.0, abs=2e-3)
    # ... and off-centre tones (between voices) peak at the nearest voice
    f_between = math.sqrt(fb.frequencies[30] * fb.frequencies[31]) * 2 ** (0.3 / 12)
    mag2 = fb.magnitude(np.cos(2 * np.pi * f_between * t).astype(np.float32)).numpy()
    assert int(np.argmax(mag2[:, interior].mean(axis=1))) == 30


def test_boundary_modes_on_a_constant_and_a_shift():
    n = 512
    x = np.full(n, 3.0, np.float32)
    for boundary, expect_flat in (("reflect", True), ("periodic", True), ("zero", False)):
        mag = FilterBank(n, 128.0, CwtParams(boundary=boundary)).magnitude(x).numpy()
        # DC is removed by every analytic wavelet; reflection and wrap-around keep a constant constant
        if expect_flat:
            assert mag.max() < 1e-4
        else:
            assert mag.max() > 0.1  # the zero padding makes steps at both edges
    # periodic: circular shift in, circular shift out
    fb = FilterBank(n, 128.0, CwtParams(boundary="periodic"))
    y = signals(1, n, seed=3)[0]
    a = fb.transform(np.roll(y, 37)).numpy()
    b = np.roll(fb.transform(y).numpy(), 37, axis=1)
    assert rel(a, b) < 1e-5


def test_cone_of_influence_and_image_columns():
    fb = FilterBank(1024, 128.0, CwtParams(wavelet="amor"))
    margin = fb.cone_of_influence(2.0)
    assert margin == pytest.approx(2 * fb.scales / math.sqrt(2))
    mask = fb.coi_mask()
    inside = mask.sum(axis=1)
    assert np.all(np.diff(inside) <= 0)  # coarser scales: fewer columns free of edge effects
    assert inside[0] > 1000 and inside[-1] < 0.05 * 1024  # MATLAB's coarsest scale: 2 sigma_t ~ N/2
    cols = fb.image_columns(224)
    assert len(cols) == 256 and np.all(np.diff(cols) == 4)
    long = FilterBank(65536, 128.0)
    assert len(long.image_columns(224)) == 256 and np.all(np.diff(long.image_columns(224)) == 256)
    assert len(FilterBank(100, 128.0).image_columns(224)) == 100


def test_input_errors():
    fb = FilterBank(256, 128.0)
    with pytest.raises(DataError, match="256"):
        fb.transform(np.zeros((2, 255), np.float32))
    with pytest.raises(DataError, match="columns"):
        fb.transform(np.zeros(256, np.float32), np.array([0, 300]))
    with pytest.raises(ConfigError, match="fs"):
        FilterBank(256, 0.0)
