"""Signal augmentations (training.augment): seeded, and each does what it says on real ECG windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import find_peaks

from ecgcwt.data import DatabaseSource, SegmentSpec, segment_databases
from ecgcwt.errors import ConfigError
from ecgcwt.learn.augment import (
    SIGNAL_AUGMENTATIONS,
    augment_settings,
    augment_signals,
    draw_plan,
)

from ..conftest import require_physionet
from .test_baselines import CNN_CFG, fold_data, store  # noqa: F401  (store: the synthetic segment store fixture)

FS = 128.0


@pytest.fixture(scope="module")
def real():
    """Real windows cut as the workflow cuts them (128 Hz, 1024 samples): ARR (mitdb 100), CHF, NSR, first lead."""
    root = require_physionet()
    sources = [
        DatabaseSource("mitdb", root / "mitdb", "ARR", ["100"]),
        DatabaseSource("chfdb", root / "chfdb", "CHF", ["chf02"]),
        DatabaseSource("nsrdb", root / "nsrdb", "NSR", ["16483"]),
    ]
    signals, table, _, classes = segment_databases(sources, SegmentSpec(max_per_recording=4, leads=[0]))
    assert signals.shape[1] == 1024 and set(table["label"]) == {"ARR", "CHF", "NSR"}
    return torch.from_numpy(signals), table


def only(name: str, **settings) -> dict:
    """training.augment with ``name`` applied to every window (p = 1) and its strength fixed by ``settings``."""
    return {name: {"p": 1.0, **settings}}


def run(augment: dict, x: torch.Tensor, seed: int = 0, epoch: int = 0) -> torch.Tensor:
    plan = draw_plan(augment_settings(augment), len(x), seed, epoch)
    return augment_signals(x, plan, FS)


def band_power(x: torch.Tensor, lo: float, hi: float) -> np.ndarray:
    """Power per window in [lo, hi] Hz (Hann-tapered periodogram, mean removed: little leakage between bands)."""
    a = x.double().numpy()
    spec = np.abs(np.fft.rfft((a - a.mean(axis=1, keepdims=True)) * np.hanning(a.shape[1]), axis=1)) ** 2
    f = np.fft.rfftfreq(a.shape[1], 1 / FS)
    return spec[:, (f >= lo) & (f <= hi)].sum(axis=1)


def snr_db(signal: torch.Tensor, added: torch.Tensor) -> np.ndarray:
    return 10 * np.log10(signal.double().var(dim=1, unbiased=False).numpy() / added.double().pow(2).mean(1).numpy())


def test_two_runs_draw_identical_batches_and_epochs_differ(real):
    x, _ = real
    every = {name: {"p": 0.5} for name in SIGNAL_AUGMENTATIONS}
    a, b = run(every, x, seed=3, epoch=2), run(every, x, seed=3, epoch=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, run(every, x, seed=3, epoch=3))
    assert not torch.equal(a, run(every, x, seed=4, epoch=2))
    # per window: a window's augmentation does not depend on the batch it is computed in
    plan = draw_plan(augment_settings(every), len(x), 3, 2)
    assert torch.equal(augment_signals(x[2:5], plan[2:5], FS), a[2:5])
    # p = 0 everywhere (the default): the windows are unchanged
    assert torch.equal(run({}, x), x)


def test_probability_sets_the_share_of_windows(real):
    plan = draw_plan(augment_settings({"polarity": {"p": 0.3}}), 20_000, 0, 0)
    assert abs(np.mean(plan.sign < 0) - 0.3) < 0.015
    # another augmentation's probability leaves this one's draws as they were
    other = draw_plan(augment_settings({"polarity": {"p": 0.3}, "amplitude": {"p": 0.9}}), 20_000, 0, 0)
    assert np.array_equal(plan.sign, other.sign)


def test_amplitude_scales_by_the_factor(real):
    x, _ = real
    y = run(only("amplitude", range=[1.3, 1.3]), x)
    assert torch.allclose(y, 1.3 * x, rtol=1e-6, atol=1e-6)
    factors = draw_plan(augment_settings(only("amplitude", range=[0.5, 2.0])), 10_000, 0, 0).gain
    assert factors.min() >= 0.5 and factors.max() <= 2.0 and abs(np.median(factors) - 1.0) < 0.05  # log-uniform


def test_polarity_flips_the_sign(real):
    x, _ = real
    assert torch.equal(run(only("polarity"), x), -x)


def test_baseline_wander_adds_power_below_half_a_hertz_only(real):
    x, _ = real
    y = run(only("baseline_wander", amplitude=[0.5, 0.5]), x)
    added = y - x
    # the added component lies below 0.5 Hz (up to the leakage of an 8 s window) ...
    assert np.all(band_power(added, 0.0, 0.75) > 0.99 * band_power(added, 0.0, FS / 2))
    # two sinusoids of peak 0.5 standard deviations: at most 1 standard deviation, about a quarter of the
    # window's power (their sum over 8 s, a fraction of the slowest one's period, is not exactly that)
    std = x.double().std(dim=1, unbiased=False).numpy()
    assert np.all(added.abs().amax(dim=1).numpy() <= 1.0 * std + 1e-5)
    share = added.double().var(dim=1).numpy() / std**2
    assert np.all((share > 0.1) & (share < 0.6)) and 0.15 < np.median(share) < 0.35
    # ... so the low-frequency power rises (the records' own wander adds or cancels, window by window) ...
    assert band_power(y, 0.0, 0.75).mean() > 2 * band_power(x, 0.0, 0.75).mean()
    # ... and the heart's band (5-40 Hz) barely moves
    assert np.allclose(band_power(y, 5, 40), band_power(x, 5, 40), rtol=0.02)


def test_powerline_adds_a_50_hz_hum_at_the_ratio_asked(real):
    x, _ = real
    y = run(only("powerline", snr_db=[20, 20], hz=[50]), x)
    assert np.all(band_power(y, 49.5, 50.5) > 10 * band_power(x, 49.5, 50.5))
    assert np.allclose(snr_db(x, y - x), 20.0, atol=0.1)
    sixty = run(only("powerline", snr_db=[20, 20], hz=[60]), x)
    assert np.all(band_power(sixty - x, 59.5, 60.5) > 0.99 * band_power(sixty - x, 0, FS / 2))


def test_gaussian_noise_at_the_snr_asked(real):
    x, _ = real
    y = run(only("gaussian_noise", snr_db=[15, 15]), x)
    measured = snr_db(x, y - x)
    assert np.allclose(measured, 15.0, atol=0.5)  # 1024 samples: the noise power is estimated to ~4%
    # white: as much power above 32 Hz as below
    added = y - x
    ratio = band_power(added, 32, 64) / band_power(added, 0, 32)
    assert np.all((ratio > 0.7) & (ratio < 1.4))
    wide = draw_plan(augment_settings(only("gaussian_noise", snr_db=[10, 30])), 5000, 0, 0).noise_snr_db
    assert wide.min() >= 10 and wide.max() <= 30


def rr_seconds(w: np.ndarray) -> float:
    """Median interval between R peaks of one real MLII window."""
    prom = 0.5 * (np.percentile(w, 99) - np.percentile(w, 1))
    peaks, _ = find_peaks(w, prominence=prom, distance=int(0.3 * FS))
    assert len(peaks) >= 4, "too few beats found"
    return float(np.median(np.diff(peaks))) / FS


def test_time_stretch_shortens_rr_intervals_by_the_factor(real):
    x, table = real
    arr = x[torch.from_numpy((table["db"] == "mitdb").to_numpy().copy())]
    y = run(only("time_stretch", range=[1.25, 1.25]), arr)
    assert y.shape == arr.shape and torch.isfinite(y).all()
    for before, after in zip(arr.numpy(), y.numpy()):
        assert rr_seconds(after) == pytest.approx(rr_seconds(before) / 1.25, rel=0.04)
    slower = run(only("time_stretch", range=[0.8, 0.8]), arr)
    for before, after in zip(arr.numpy(), slower.numpy()):
        assert rr_seconds(after) == pytest.approx(rr_seconds(before) / 0.8, rel=0.04)
    # the centre sample stays where it was; a factor of 1 is the identity
    assert torch.allclose(run(only("time_stretch", range=[1.0, 1.0]), arr), arr, atol=1e-5)


def test_every_window_keeps_its_place_and_label(real):
    """Nothing mixes or reorders windows: output i is a function of input i alone, so row i's label holds."""
    x, table = real
    every = {name: {"p": 1.0} for name in SIGNAL_AUGMENTATIONS}
    plan = draw_plan(augment_settings(every), len(x), 0, 0)
    y = augment_signals(x, plan, FS)
    labels = table["label"].to_numpy()
    j, k = 0, len(x) - 1  # an ARR window replaced by an NSR one
    assert labels[j] != labels[k]
    x2 = x.clone()
    x2[j] = x[k]
    y2 = augment_signals(x2, plan, FS)
    others = np.arange(len(x)) != j
    assert torch.equal(y2[others], y[others])
    assert not torch.equal(y2[j], y[j])
    # every augmentation applied, yet each window still resembles its own input most (beats aligned
    # near the centre, |correlation| for the flipped polarity)
    mild = {
        **every,
        "time_stretch": {"p": 1.0, "range": [0.98, 1.02]},
        "baseline_wander": {"p": 1.0, "amplitude": [0.1, 0.2]},
    }
    z = augment_signals(x, draw_plan(augment_settings(mild), len(x), 0, 0), FS).double().numpy()
    corr = np.abs(np.corrcoef(z, x.double().numpy())[: len(z), len(z) :])
    assert np.array_equal(labels[corr.argmax(axis=1)], labels)


def test_legacy_boolean_is_the_time_shift_alone():
    on, off = augment_settings(True), augment_settings(False)
    assert on.shift and not off.shift and not on.signal_on and not off.signal_on
    assert augment_settings({"gaussian_noise": {"p": 0.2}}).signal_on


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match=r"training.augment.amplitude.range.*low <= high"):
        augment_settings({"amplitude": {"p": 0.5, "range": [1.5, 0.5]}})
    with pytest.raises(ConfigError, match=r"training.augment.gaussian_noise.p"):
        augment_settings({"gaussian_noise": {"p": 2}})
    with pytest.raises(ConfigError, match=r"training.augment.*'jitter' was unexpected"):
        augment_settings({"jitter": {"p": 0.5}})
    with pytest.raises(ConfigError, match=r"models.m.training.augment.time_stretch.range"):
        augment_settings({"time_stretch": {"range": [1.2, 1.1]}}, key="models.m.training.augment")
    hum = {"powerline": {"p": 0.5, "hz": [50, 60]}}
    assert augment_settings(hum, fs=128.0).signal_on
    with pytest.raises(ConfigError, match=r"powerline.hz \[60\].*Nyquist.*55 Hz"):
        augment_settings(hum, fs=110.0)


# --------------------------------------------------------------------------- in training


SIGNAL_AUG = {
    "shift": True,
    "amplitude": {"p": 0.5},
    "polarity": {"p": 0.5},
    "baseline_wander": {"p": 0.5},
    "gaussian_noise": {"p": 0.5},
    "powerline": {"p": 0.5, "hz": [50]},
    "time_stretch": {"p": 0.5},
}


def test_cnn1d_trains_on_augmented_windows_reproducibly(store, tmp_path):
    from ecgcwt.learn import Cnn1dLearner

    data = fold_data(store)
    cfg = {**CNN_CFG, "epochs": 2, "augment": SIGNAL_AUG}
    runs = []
    for _ in range(2):
        learner = Cnn1dLearner(cfg, device="cpu", threads=1)
        history = learner.fit(data, tmp_path, lambda s: None)
        runs.append((history, learner.predict_proba(data, data.rows["test"])))
    assert [r["train_loss"] for r in runs[0][0]] == [r["train_loss"] for r in runs[1][0]]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    plain = Cnn1dLearner({**cfg, "augment": True}, device="cpu", threads=1)
    plain_history = plain.fit(data, tmp_path, lambda s: None)
    assert plain_history[0]["train_loss"] != runs[0][0][0]["train_loss"]  # the augmentations were applied


def test_an_experiment_grid_varies_an_augmentation():
    import yaml

    from ecgcwt.config import augment_signal_on
    from ecgcwt.config.experiments import expand_experiments

    from ..conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiment_grid"] = {"training.augment.gaussian_noise.p": [0.0, 0.5]}
    experiments = expand_experiments(config)
    assert len(experiments) == 2
    on = {name: augment_signal_on(cfg["training"]["augment"]) for name, cfg in experiments.items()}
    assert sorted(on.values()) == [False, True]
    noisy = next(cfg for name, cfg in experiments.items() if on[name])
    assert noisy["training"]["augment"]["gaussian_noise"] == {"p": 0.5, "snr_db": [15, 35]}
