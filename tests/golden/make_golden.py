"""Regenerate the golden files of tests/unit/test_cwt.py.

Run from the repository root: ``.venv/bin/python tests/golden/make_golden.py``.

pywt_cmor2.npz
    PyWavelets' ``pywt.cwt(x, scales, "cmor2.0-1.0", method="fft")`` (float64)
    of the deterministic signal below. cmor2.0-1.0 is the analytic Morlet with
    omega0 = 2 pi, i.e. our ``amor`` wavelet with ``amor_omega0 = 2 pi``; PyWavelets
    normalises by sqrt(scale) (L2) where we use L1 with peak 2, so
    ``|ours| = |pywt| * 2 / sqrt(scale)``. Independent of our code.
reference_definition.npz
    ``ecgcwt.imaging.cwt.cwt_reference`` (float64 numpy) of a deterministic signal for
    the default Morse (3, 60) with reflection and for amor (omega0 6) with
    periodic boundary (every 6th scale stored): a regression golden that fails if the definition
    (wavelet formulas, scales, padding) changes by accident.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def golden_signal(n: int) -> np.ndarray:
    """Two tones (periods 16 and 40 samples), a Gaussian pulse and a slow drift."""
    t = np.arange(n, dtype=np.float64)
    return (
        np.cos(2 * np.pi * t / 16.0)
        + 0.5 * np.sin(2 * np.pi * t / 40.0 + 0.3)
        + 2.0 * np.exp(-((t - 0.6 * n) ** 2) / (2 * 3.0**2))
        + 0.3 * t / n
    )


def main() -> None:
    import pywt

    from ecgcwt.imaging.cwt import CwtParams, cwt_reference

    x = golden_signal(512)
    scales = np.geomspace(6.0, 40.0, 12)
    coefs, _ = pywt.cwt(x, scales, "cmor2.0-1.0", method="fft")
    np.savez_compressed(
        HERE / "pywt_cmor2.npz",
        x=x,
        scales=scales,
        coefs=coefs.astype(np.complex128),
        pywt_version=np.array(pywt.__version__),
    )

    y = golden_signal(256)
    morse = cwt_reference(y, 128.0, CwtParams())
    amor = cwt_reference(y, 128.0, CwtParams(wavelet="amor", boundary="periodic"))
    # every 6th scale keeps the file small
    np.savez_compressed(
        HERE / "reference_definition.npz", x=y, fs=128.0, morse_reflect=morse[::6], amor_periodic=amor[::6]
    )


if __name__ == "__main__":
    main()
