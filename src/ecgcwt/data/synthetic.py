"""Seeded synthetic ECG written as WFDB records, for the offline demo and controlled tests.

Each beat is a sum of Gaussian waves (P, Q, R, S, T) placed relative to the R
peak, the beat model of McSharry et al. (IEEE TBME 2003, "ECGSYN") in its
explicit time-domain form. The classes differ in the rhythm features a
cardiologist would name:

* NSR: 60-80 bpm, normal heart-rate variability (respiratory sinus arrhythmia
  at ~0.25 Hz plus a ~0.1 Hz Mayer wave; SDNN ~40-60 ms), upright P and T.
* CHF: faster rate (85-105 bpm) with low variability (SDNN ~10-20 ms), a
  widened QRS and flattened T (conduction delay and repolarisation changes).
* ARR: irregularly irregular RR intervals without P waves (atrial
  fibrillation-like) and premature ventricular beats (wide, tall, no P) followed
  by a compensatory pause.

Records are written at each database's native rate (mitdb 360 Hz, chfdb 250 Hz,
nsrdb 128 Hz) with two leads, format 16, in PhysioNet's layout, so the workflow
reads them through exactly the same path as real downloads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from ecgcwt.atomic import write_text
from ecgcwt.data.settings import synthetic_record_names
from ecgcwt.errors import ConfigError

NATIVE_FS = {"mitdb": 360, "chfdb": 250, "nsrdb": 128}
DEFAULT_FS = 250

# wave: (offset from R in units of sqrt(RR) seconds, width s, amplitude mV) for lead 1;
# the sqrt(RR) scaling is Bazett's rule for how the QT interval shortens with rate.
_NORMAL_WAVES = {
    "P": (-0.20, 0.025, 0.15),
    "Q": (-0.035, 0.010, -0.12),
    "R": (0.0, 0.011, 1.2),
    "S": (0.035, 0.010, -0.25),
    "T": (0.28, 0.045, 0.30),
}
# amplitude factors of lead 2 (a different projection of the same dipole)
_LEAD2_GAIN = {"P": 0.6, "Q": 0.5, "R": 0.55, "S": 1.6, "T": 0.8}


@dataclass(frozen=True)
class RhythmProfile:
    hr_range: tuple[float, float]  # bpm
    sdnn_s: tuple[float, float]  # beat-to-beat variability
    af: bool  # irregularly irregular RR, no P waves
    pvc_rate: float  # fraction of beats that are premature ventricular
    qrs_width: float  # factor on Q/R/S widths
    t_gain: float  # factor on T amplitude


PROFILES = {
    "NSR": RhythmProfile((60, 80), (0.04, 0.06), af=False, pvc_rate=0.0, qrs_width=1.0, t_gain=1.0),
    "CHF": RhythmProfile((85, 105), (0.01, 0.02), af=False, pvc_rate=0.01, qrs_width=1.6, t_gain=0.4),
    "ARR": RhythmProfile((70, 110), (0.0, 0.0), af=True, pvc_rate=0.08, qrs_width=1.0, t_gain=0.9),
}


def rr_intervals(profile: RhythmProfile, duration_s: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and a per-beat PVC flag for one synthetic subject."""
    hr = rng.uniform(*profile.hr_range)
    mean_rr = 60.0 / hr
    times, pvc = [], []
    t = rng.uniform(0.1, mean_rr)
    resp_f, mayer_f = rng.uniform(0.2, 0.3), rng.uniform(0.08, 0.12)
    sdnn = rng.uniform(*profile.sdnn_s) if profile.sdnn_s[1] > 0 else 0.0
    phase = rng.uniform(0, 2 * np.pi, size=2)
    while t < duration_s:
        if profile.af:
            # AF: RR drawn independently from a wide distribution (coefficient of variation ~20%)
            rr = float(np.clip(rng.normal(mean_rr, 0.2 * mean_rr), 0.3, 2.0))
        else:
            mod = 0.7 * np.sin(2 * np.pi * resp_f * t + phase[0]) + 0.5 * np.sin(2 * np.pi * mayer_f * t + phase[1])
            rr = mean_rr + sdnn * (mod + 0.4 * rng.standard_normal())
        if profile.pvc_rate and pvc and not pvc[-1] and rng.random() < profile.pvc_rate:
            # premature beat at 60% of the interval, then a compensatory pause
            times.append(t - 0.4 * rr)
            pvc.append(True)
            t += 0.6 * rr
        times.append(t)
        pvc.append(False)
        t += rr
    times, pvc = np.array(times), np.array(pvc)
    keep = (times > 0) & (times < duration_s)
    return times[keep], pvc[keep]


def synthesize(profile: RhythmProfile, duration_s: float, fs: float, rng: np.random.Generator) -> np.ndarray:
    """A two-lead synthetic ECG, shape (n_samples, 2), in mV."""
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    sig = np.zeros((n, 2))
    beats, pvc = rr_intervals(profile, duration_s, rng)
    rr = np.diff(beats, prepend=beats[0] - 60.0 / np.mean(profile.hr_range)) if len(beats) else beats
    amp_jitter = rng.uniform(0.85, 1.15)
    for tb, is_pvc, rr_b in zip(beats, pvc, rr):
        scale = np.sqrt(np.clip(rr_b, 0.3, 2.0))
        for wave, (off, width, amp) in _NORMAL_WAVES.items():
            if wave == "P" and (profile.af or is_pvc):
                continue
            w, a = width, amp * amp_jitter
            if wave in "QRS":
                w *= profile.qrs_width * (2.5 if is_pvc else 1.0)
                a *= 1.6 if (is_pvc and wave == "R") else 1.0
            if wave == "T":
                a *= -profile.t_gain if is_pvc else profile.t_gain  # PVC: discordant T wave
                off = off * scale
            center = tb + off
            lo, hi = np.searchsorted(t, [center - 5 * w, center + 5 * w])
            g = np.exp(-0.5 * ((t[lo:hi] - center) / w) ** 2)
            sig[lo:hi, 0] += a * g
            sig[lo:hi, 1] += a * _LEAD2_GAIN[wave] * g
    if profile.af:
        # fibrillatory f-waves (4-8 Hz) replace the P waves
        f = rng.uniform(4, 8)
        fw = 0.05 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * (1 + 0.3 * np.sin(2 * np.pi * 0.3 * t))
        sig += fw[:, None] * np.array([1.0, 0.7])
    # baseline wander (respiration) and measurement noise
    wander = 0.1 * np.sin(2 * np.pi * rng.uniform(0.15, 0.35) * t + rng.uniform(0, 2 * np.pi))
    sig += wander[:, None] + 0.02 * rng.standard_normal(sig.shape)
    return sig


def generate_database(
    db: str,
    label: str,
    dest: str | os.PathLike,
    *,
    subjects: int,
    duration_s: float,
    seed: int,
    fs: float | None = None,
) -> list[str]:
    """Write ``subjects`` synthetic records of class ``label`` into ``dest`` (WFDB + RECORDS).

    The seed is combined with the database name so that databases differ while
    every run with the same seed writes identical files.
    """
    if label not in PROFILES:
        raise ConfigError(
            f"data.source: synthetic knows the classes {sorted(PROFILES)}, but data.databases.{db}.label is {label!r}. "
            f"Use one of those labels, or a real data source for other classes."
        )
    profile = PROFILES[label]
    fs = float(fs or NATIVE_FS.get(db, DEFAULT_FS))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ss = np.random.SeedSequence([seed, *db.encode()])
    names = []
    for i, (name, child) in enumerate(zip(synthetic_record_names(subjects), ss.spawn(subjects))):
        rng = np.random.default_rng(child)
        sig = synthesize(profile, duration_s, fs, rng)
        # wrsamp writes into write_dir; a killed run leaves no RECORDS, so the folder counts as incomplete
        wfdb.wrsamp(
            name,
            fs=fs,
            units=["mV", "mV"],
            sig_name=["ECG1", "ECG2"],
            p_signal=sig,
            fmt=["16", "16"],
            adc_gain=[200.0, 200.0],
            baseline=[0, 0],
            comments=[f"synthetic {label} subject {i + 1}, ecgcwt seed {seed}"],
            write_dir=str(dest),
        )
        names.append(name)
    write_text(dest / "RECORDS", "".join(f"{n}\n" for n in names))
    return names
