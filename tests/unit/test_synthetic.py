"""Synthetic ECG: seeded, read through the real WFDB path, with class-typical rhythm."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks

from ecgcwt.data.records import read_record, read_record_list
from ecgcwt.data.synthetic import NATIVE_FS, PROFILES, generate_database, rr_intervals
from ecgcwt.errors import ConfigError


def _rr(label, seed, duration=300.0):
    beats, pvc = rr_intervals(PROFILES[label], duration, np.random.default_rng(seed))
    return np.diff(beats), pvc


def test_records_written_in_physionet_layout_at_native_rate(tmp_path):
    names = generate_database("mitdb", "ARR", tmp_path / "mitdb", subjects=3, duration_s=20, seed=1)
    assert names == read_record_list(tmp_path / "mitdb") == ["syn001", "syn002", "syn003"]
    rec = read_record(tmp_path / "mitdb", "syn002")
    assert rec.fs == NATIVE_FS["mitdb"] == 360
    assert rec.signal.shape == (7200, 2) and rec.units == ["mV", "mV"]


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for d, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_database("nsrdb", "NSR", tmp_path / d, subjects=2, duration_s=10, seed=seed)
    a, b, c = ((tmp_path / d / "syn001.dat").read_bytes() for d in "abc")
    assert a == b and a != c


def test_class_typical_rhythm():
    # Mean heart rate and beat-to-beat variability averaged over several subjects.
    stats = {}
    for label in PROFILES:
        hr, cv, pvc = [], [], []
        for seed in range(6):
            rr, is_pvc = _rr(label, seed)
            # normal-to-normal intervals only, as heart-rate variability is defined
            nn = rr[~(is_pvc[1:] | is_pvc[:-1])]
            hr.append(60 / nn.mean())
            cv.append(np.sqrt(np.mean(np.diff(nn) ** 2)) / nn.mean())  # RMSSD / mean NN
            pvc.append(is_pvc.mean())
        stats[label] = (np.mean(hr), np.mean(cv), np.mean(pvc))
    assert 60 <= stats["NSR"][0] <= 82 and 85 <= stats["CHF"][0] <= 110
    assert stats["ARR"][1] > 3 * stats["NSR"][1] > 3 * stats["CHF"][1] > 0  # AF >> sinus HRV >> CHF
    assert stats["ARR"][2] > 0.03 and stats["NSR"][2] == 0


def test_beats_are_visible_in_the_written_signal(tmp_path):
    generate_database("chfdb", "CHF", tmp_path, subjects=1, duration_s=60, seed=3)
    rec = read_record(tmp_path, "syn001")
    x = rec.signal[:, 0]
    peaks, _ = find_peaks(x, height=0.6, distance=int(0.3 * rec.fs))
    bpm = 60 * len(peaks) / 60.0
    assert 80 <= bpm <= 115


def test_unknown_label_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"knows the classes \['ARR', 'CHF', 'NSR'\].*'MI'"):
        generate_database("ptbdb", "MI", tmp_path, subjects=1, duration_s=10, seed=0)
