"""Benchmark: our CWT filter bank vs PyWavelets, fCWT (C++) and ssqueezepy, plus the cache's memory.

One run, the same segments and the same 100 scales for every library, for
1000- and 65,536-sample segments. Prints a table, or with ``--json`` one JSON
object keyed by segment length (see benchmarks/README.md).

The common wavelet is the analytic Morlet with omega0 = 2 pi, which every
library implements exactly: ours ``amor`` (psihat = 2 exp(-(w - 2 pi)^2 / 2)),
PyWavelets ``cmor2.0-1.0``, fCWT ``Morlet(1.0)``, ssqueezepy ``morlet`` with
mu = 2 pi. (DESIGN.md measured cmor1.5-1.0; the bandwidth does not change
the cost of an FFT-based CWT, and B = 2 makes the four definitions identical
up to a gain per scale.) The 100 scales are log-spaced between MATLAB's default
frequency bounds (cwtfreqbounds) for that wavelet and segment length.

What is timed, warm (bank/plans built before timing), best of several runs:
each library's fastest way to produce scalogram magnitudes for a batch:
PyWavelets ``cwt(method='fft')`` on the whole batch, fCWT one segment at a time
(its API is 1-D) with ``threads`` OpenMP threads, ssqueezepy on the batch, ours
``FilterBank.magnitude`` at the ~256 columns a 224-px image needs (the point of
our design; peers compute all N columns, they cannot do otherwise), its batch
chunks on ``threads`` threads (``ours_intraop_per_s``: the same chunks in turn,
torch intra-op threading).

Errors: max |W - W_ref| / max |W_ref| over a region, per segment, max over
segments, against a float64 numpy reference of each library's own definition
(same wavelet and scales; gains: PyWavelets sqrt(s)/2 and a half-sample delay,
fCWT and ssqueezepy sqrt(2 pi) pi^-1/4 / 2 = 0.9413 relative to ours). Ours is
measured against ``ecgcwt.imaging.cwt.cwt_reference`` (identical definition, including
the reflection padding) inside the cone of influence (2 sigma) and over all
columns; peers inside a stricter region (8 sigma from the edges), where their
different padding conventions (zero, power-of-two zero padding) no longer matter.

The benchmark installs nothing: a missing peer is reported as null with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# real records laid out as a PhysioNet download ({db}/RECORDS + WFDB files): the workflow's own
# download folder, or ECGCWT_RECORDS; synthetic ECG-like segments where neither has them
PHYSIONET = Path(os.environ.get("ECGCWT_RECORDS", REPO / "resources" / "physionet"))
LENGTHS = (1000, 65536)
N_SCALES = 100
OMEGA0 = 2 * math.pi
TARGETS = {1000: {"pywt": 18.0, "fcwt": 2.0}, 65536: {"pywt": 80.0, "fcwt": 5.0}}


# --------------------------------------------------------------------------- data


def load_segments(n: int, count: int, fs: float = 128.0) -> tuple[np.ndarray, str]:
    """``count`` segments of ``n`` samples of real ECG at 128 Hz if available, else synthetic."""
    try:
        import wfdb
        from scipy.signal import resample_poly

        pieces = []
        records = [
            (db, r)
            for db in ("mitdb", "nsrdb", "chfdb")
            if (PHYSIONET / db / "RECORDS").exists()
            for r in (PHYSIONET / db / "RECORDS").read_text().split()
        ]
        for db, rec in records:
            path = PHYSIONET / db / rec
            if not Path(str(path) + ".hea").exists():
                continue
            r = wfdb.rdrecord(str(path))
            for lead in range(r.p_signal.shape[1]):
                from fractions import Fraction

                frac = Fraction(int(fs), int(r.fs)).limit_denominator(1000)
                sig = resample_poly(np.nan_to_num(r.p_signal[:, lead]), frac.numerator, frac.denominator)
                for start in range(0, len(sig) - n + 1, max(n, len(sig) // max(1, count))):
                    pieces.append(sig[start : start + n])
            if len(pieces) >= count:
                break
        if len(pieces) >= count:
            return np.stack(pieces[:count]).astype(np.float32), "real ECG (PhysioNet, resampled to 128 Hz)"
    except Exception as e:  # noqa: BLE001 - fall back to synthetic data, said in the output
        print(f"note: real ECG unavailable ({e}); using synthetic", file=sys.stderr)
    return synthetic_ecg(count, n, fs), "synthetic ECG-like"


def synthetic_ecg(count: int, n: int, fs: float = 128.0, seed: int = 0) -> np.ndarray:
    """Gaussian-bump beats (P, QRS, T) at a jittered rate, baseline wander and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    out = np.empty((count, n), np.float32)
    for i in range(count):
        rr = 60.0 / rng.uniform(55, 110)
        beats = np.cumsum(rr * rng.uniform(0.9, 1.1, size=int(t[-1] / rr) + 3)) - rr * rng.uniform()
        x = 0.15 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t) + 0.02 * rng.standard_normal(n)
        for b in beats:
            for off, amp, width in ((-0.2, 0.12, 0.025), (0.0, 1.0, 0.01), (0.25, 0.3, 0.04)):
                x += amp * np.exp(-((t - b - off) ** 2) / (2 * width**2))
        out[i] = x
    return out


# --------------------------------------------------------------------------- timing


def best_rate(fn, n_items: int, reps: int, min_time: float = 0.0) -> float:
    """Items per second of the fastest of ``reps`` warm runs of ``fn`` (after one warm-up)."""
    fn()
    best = float("inf")
    start = time.perf_counter()
    r = 0
    while r < reps or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        r += 1
    return n_items / best


def rel_error(out: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    """max |out - ref| / max |ref| over ``mask`` (S, T), max over segments (B, S, T)."""
    errs = []
    for o, r in zip(out, ref):
        d = np.abs(o - r)[mask]
        errs.append(float(d.max() / np.abs(r)[mask].max()))
    return max(errs)


def pywt_delays(scales: np.ndarray) -> np.ndarray:
    """Fraction of a sample by which PyWavelets' output column t is centred off t, per scale.

    pywt.cwt convolves with the integrated wavelet sampled on ``K = len(arange(16 s + 1))``
    points over [-8, 8], differentiates (a half-sample shift) and trims
    ``floor((K - 2) / 2)`` samples: the kernel centre lands ``8 s + 1.5 + floor((K-2)/2) - K``
    samples off, which we take modulo one sample (its integer part is the trimming).
    """
    k = np.array([len(np.arange(a * 16 + 1)) for a in scales])
    d = -(np.floor((k - 2) / 2) - k + 1.5 + 8 * scales)
    return d - np.round(d)


def peer_reference(x: np.ndarray, scales: np.ndarray, gain: np.ndarray, delay=0.0) -> np.ndarray:
    """float64 full-resolution CWT, zero padding to 2N, amor(2 pi) times ``gain`` per scale,
    delayed by ``delay`` samples (scalar or per scale)."""
    from ecgcwt.imaging import AmorWavelet

    b, n = x.shape
    L = 2 * n
    om = 2 * np.pi * np.fft.fftfreq(L)
    om[L // 2] = np.pi
    delay = np.broadcast_to(np.asarray(delay, dtype=np.float64), scales.shape)
    psi = AmorWavelet(OMEGA0).psihat(scales[:, None] * om[None, :]) * np.exp(-1j * om[None, :] * delay[:, None])
    xf = np.fft.fft(np.pad(x.astype(np.float64), ((0, 0), (0, L - n))), axis=1)
    w = np.fft.ifft(xf[:, None, :] * psi[None], axis=2)[:, :, :n]
    return w * gain[None, :, None]


# --------------------------------------------------------------------------- libraries


def run_length(n: int, threads: int, quick: bool) -> dict:
    import torch

    from ecgcwt.imaging import AmorWavelet, CwtParams, FilterBank, cwt_freq_bounds, cwt_reference

    torch.set_num_threads(threads)
    long = n > 10_000
    batch = 16 if long else 128
    reps = 2 if quick else (3 if long else 5)
    x, source = load_segments(n, batch)
    wav = AmorWavelet(OMEGA0)
    fmin, fmax = cwt_freq_bounds(n, 1.0, wav)
    freqs = np.geomspace(fmax, fmin, N_SCALES)  # cycles/sample, high to low
    scales = OMEGA0 / (2 * np.pi * freqs)
    params = CwtParams(wavelet="amor", amor_omega0=OMEGA0, boundary="reflect")
    fb = FilterBank(n, 1.0, params, scales=scales)
    cols = fb.image_columns(224)
    xt = torch.from_numpy(x)
    res: dict = {
        "segments": source,
        "n_scales": N_SCALES,
        "freq_range_cycles_per_sample": [fmin, fmax],
        "our_columns": int(len(cols)),
        "missing": {},
    }

    with torch.inference_mode():
        # default: the batch cut into chunks that run on `threads` threads (workers=None);
        # for reference, the same chunks one after another with torch's intra-op threading
        res["ours_per_s"] = best_rate(lambda: fb.magnitude(xt, cols), batch, reps * 2, min_time=0.5 if quick else 2.0)
        res["ours_intraop_per_s"] = best_rate(
            lambda: fb.magnitude(xt, cols, workers=1), batch, reps, min_time=0.25 if quick else 1.0
        )

    # accuracy of ours: same definition in float64
    n_err = 2 if long else 8
    ref = cwt_reference(x[:n_err].astype(np.float64), 1.0, params, scales=scales)
    with torch.inference_mode():
        ours = fb.transform(xt[:n_err], cols).numpy()
    res["max_rel_error"] = rel_error(ours, ref[:, :, cols], fb.coi_mask(cols, 2.0))
    res["max_rel_error_all_columns"] = rel_error(ours, ref[:, :, cols], np.ones((len(scales), len(cols)), bool))
    strict = fb.coi_mask(None, 8.0)
    del ref

    # PyWavelets, FFT method: one segment per call in float64 (how it is usually called, and
    # how DESIGN.md measured it), and its fastest way: the whole batch in one float32 call.
    try:
        from importlib.metadata import version

        import pywt

        nb = 2 if long else 32
        xs = x[:nb]

        def pywt_single():
            for i in range(nb):
                np.abs(pywt.cwt(xs[i].astype(np.float64), scales, "cmor2.0-1.0", method="fft")[0])

        res["pywt_per_s"] = best_rate(pywt_single, nb, 1 if long else reps)
        res["pywt_batched_float32_per_s"] = best_rate(
            lambda: np.abs(pywt.cwt(xs, scales, "cmor2.0-1.0", method="fft", axis=-1)[0]), nb, 1 if long else reps
        )
        c = np.moveaxis(pywt.cwt(x[:n_err], scales, "cmor2.0-1.0", method="fft", axis=-1)[0], 0, 1)
        pref = peer_reference(x[:n_err], scales, np.sqrt(scales) / 2, delay=pywt_delays(scales))
        # magnitudes: pywt's kernel sampling also jitters the phase, which an image never shows
        res["pywt_max_rel_error"] = rel_error(np.abs(c), np.abs(pref), strict)
        res["pywt_version"] = version("PyWavelets")
    except ImportError as e:
        res["pywt_per_s"] = res["pywt_batched_float32_per_s"] = None
        res["missing"]["pywt"] = f"not importable: {e}"

    peer_gain = math.sqrt(2 * math.pi) * math.pi**-0.25 / 2 * np.ones(len(scales))
    # fCWT: 1-D API, one segment at a time, `threads` OpenMP threads
    try:
        import fcwt

        morl = fcwt.Morlet(1.0)  # kept referenced: fCWT segfaults if it is collected
        # fCWT's log scales are fs/f1 .. fs/f0, geometric: the same as ours
        fsc = fcwt.Scales(morl, fcwt.FCWT_LOGSCALES, 1, float(freqs[-1]), float(freqs[0]), N_SCALES)
        nb = 4 if long else 64
        outbuf = np.zeros((N_SCALES, n), np.complex64)
        # fCWT's own OpenMP threading is much slower than 1 thread here at 65,536 samples
        # (0.6/s vs 23/s on this machine): time it at 1 and at `threads` threads, keep its best.
        rates = {}
        for th in sorted({1, threads}):
            engine = fcwt.FCWT(morl, th, False, True)

            def run_fcwt(k=nb):
                for i in range(k):
                    engine.cwt(np.ascontiguousarray(x[i]), fsc, outbuf)
                    np.abs(outbuf)

            rates[th] = best_rate(run_fcwt, nb, reps if th == 1 or not long else 1)
        best_th = max(rates, key=rates.get)
        res["fcwt_per_s"] = rates[best_th]
        res["fcwt_threads"] = best_th
        res["fcwt_per_s_by_threads"] = {str(k): v for k, v in rates.items()}
        engine = fcwt.FCWT(morl, best_th, False, True)
        outs = []
        for i in range(n_err):
            o = np.zeros((N_SCALES, n), np.complex64)
            engine.cwt(np.ascontiguousarray(x[i]), fsc, o)
            outs.append(o)
        res["fcwt_max_rel_error"] = rel_error(np.stack(outs), peer_reference(x[:n_err], scales, peer_gain), strict)
        res["_fcwt_refs"] = (morl, fsc, engine)
    except Exception as e:  # noqa: BLE001 - ImportError, or a missing libfftw3f at import
        res["fcwt_per_s"] = None
        res["missing"]["fcwt"] = f"not importable: {e}"

    # ssqueezepy: batched
    try:
        os.environ.setdefault("SSQ_PARALLEL", "1")
        import ssqueezepy

        wavelet = ssqueezepy.Wavelet(("morlet", {"mu": OMEGA0}))
        nb = 2 if long else 32
        sc32 = scales.astype(np.float32)
        # zero padding, so that the float64 zero-padded reference is its exact definition
        ssq = lambda xx: np.asarray(ssqueezepy.cwt(xx, wavelet, scales=sc32, padtype="zero", l1_norm=True)[0])
        res["ssqueezepy_per_s"] = best_rate(lambda: np.abs(ssq(x[:nb])), nb, 1 if long else reps)
        w = ssq(x[:n_err])
        res["ssqueezepy_max_rel_error"] = rel_error(w, peer_reference(x[:n_err], scales, peer_gain), strict)
        res["ssqueezepy_version"] = ssqueezepy.__version__
    except Exception as e:  # noqa: BLE001
        res["ssqueezepy_per_s"] = None
        res["missing"]["ssqueezepy"] = f"unavailable: {e}"

    res.pop("_fcwt_refs", None)
    for peer in ("pywt", "pywt_batched_float32", "fcwt", "ssqueezepy"):
        v = res.get(f"{peer}_per_s")
        res[f"speedup_vs_{peer}"] = (res["ours_per_s"] / v) if v else None
    tg = TARGETS[n]
    res["targets"] = {
        f"speedup_vs_pywt>={tg['pywt']}": bool(res["speedup_vs_pywt"] and res["speedup_vs_pywt"] >= tg["pywt"]),
        f"speedup_vs_fcwt>={tg['fcwt']}": bool(res["speedup_vs_fcwt"] and res["speedup_vs_fcwt"] >= tg["fcwt"]),
        "max_rel_error<=1e-3": res["max_rel_error"] <= 1e-3,
    }
    return res


# --------------------------------------------------------------------------- cache memory


def _child_make_segments(path: str, n: int, window: int) -> None:
    import pandas as pd

    from ecgcwt.data import write_segment_store

    sig = synthetic_ecg(min(n, 64), window)  # 64 distinct beats patterns, tiled: realistic compression
    sig = np.resize(sig, (n, window)).astype(np.float32)
    sig += 0.01 * np.random.default_rng(1).standard_normal(sig.shape).astype(np.float32)
    classes = ["ARR", "CHF", "NSR"]
    idx = np.arange(n)
    table = pd.DataFrame(
        {
            "segment": idx,
            "db": "synth",
            "record": [str(i // 100) for i in idx],
            "subject": [f"synth/{i // 100}" for i in idx],
            "recording": [f"synth/{i // 100}/0" for i in idx],
            "lead": 0,
            "lead_name": "MLII",
            "start": (idx % 100) * window,
            "label": [classes[(i // 100) % 3] for i in idx],
            "label_index": (idx // 100) % 3,
        }
    )
    write_segment_store(path, sig, table, fs=128.0, window=window, hop=window, classes=classes)


def _child_build_cache(seg: str, out: str, threads: int) -> None:
    import yaml

    from ecgcwt.imaging import build_scalogram_cache

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())["cwt"]
    t = time.perf_counter()
    build_scalogram_cache(seg, out, cfg, threads=threads)
    dt = time.perf_counter() - t
    # VmHWM: this process's peak resident set. (ru_maxrss would include the parent's
    # RSS at fork time, which Linux carries across exec.)
    rss = None
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024.0
    if rss is None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": dt, "peak_rss_mb": rss}))


def measure_cache(n: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        seg, out = f"{d}/segments.h5", f"{d}/scalograms.h5"
        subprocess.run([sys.executable, __file__, "--_child", "segments", seg, str(n)], check=True)
        p = subprocess.run(
            [sys.executable, __file__, "--_child", "cache", seg, out, str(threads)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(p.stdout.strip().splitlines()[-1])
        size = os.path.getsize(out)
    return {
        "segments": n,
        "window": 1024,
        "image_size": 224,
        "peak_rss_mb": r["peak_rss_mb"],
        "seconds": r["seconds"],
        "images_per_s": n / r["seconds"],
        "file_mb_per_1000": size / n * 1000 / 1e6,
        "peak_rss_limit_mb": 1500,
        "within_limit": r["peak_rss_mb"] < 1500,
    }


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, 2,000-segment cache (about a minute)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    ap.add_argument("--cache-segments", type=int, default=None, help="segments for the cache memory run (20000)")
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._child:
        kind, *rest = a._child
        if kind == "segments":
            _child_make_segments(rest[0], int(rest[1]), 1024)
        else:
            _child_build_cache(rest[0], rest[1], int(rest[2]))
        return 0

    out: dict = {}
    for n in LENGTHS:
        out[str(n)] = run_length(n, a.threads, a.quick)
    n_cache = a.cache_segments or (2000 if a.quick else 20000)
    cache = measure_cache(n_cache, a.threads)
    out["cache_peak_rss_mb"] = cache["peak_rss_mb"]
    out["cache"] = cache
    import torch

    out["setup"] = {
        "threads": a.threads,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "quick": a.quick,
        "wavelet": "amor omega0=2pi == cmor2.0-1.0 == fcwt Morlet(1.0)",
    }
    if a.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    fmt = lambda v, f="{:,.0f}": "null" if v is None else f.format(v)
    print(f"CWT, {N_SCALES} scales, amor(2 pi) / cmor2.0-1.0, {a.threads} threads, scalograms/s")
    print(
        f"{'length':>7} {'ours':>8} {'pywt':>7} {'fcwt':>7} {'ssq':>7} "
        f"{'x pywt':>7} {'x fcwt':>7} {'x ssq':>6} {'err ours':>9}"
    )
    print("        (pywt: one float64 segment per call; batched float32 pywt in the JSON)")
    for n in LENGTHS:
        r = out[str(n)]
        print(
            f"{n:>7} {fmt(r['ours_per_s']):>8} {fmt(r['pywt_per_s'], '{:,.1f}'):>7} "
            f"{fmt(r['fcwt_per_s'], '{:,.1f}'):>7} "
            f"{fmt(r['ssqueezepy_per_s'], '{:,.1f}'):>7} {fmt(r['speedup_vs_pywt'], '{:.1f}'):>7} "
            f"{fmt(r['speedup_vs_fcwt'], '{:.1f}'):>7} {fmt(r['speedup_vs_ssqueezepy'], '{:.1f}'):>6} "
            f"{r['max_rel_error']:>9.1e}"
        )
        for k, v in r["missing"].items():
            print(f"        {k}: null ({v})")
        print(
            f"        peer errors: pywt {r.get('pywt_max_rel_error')}, fcwt {r.get('fcwt_max_rel_error')}, "
            f"ssqueezepy {r.get('ssqueezepy_max_rel_error')}; targets {r['targets']}"
        )
    print(
        f"cache: {cache['segments']} segments, peak RSS {cache['peak_rss_mb']:.0f} MB "
        f"(limit 1500), {cache['images_per_s']:.0f} images/s, {cache['file_mb_per_1000']:.1f} MB per 1000 images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
