"""Grad-CAM maps: the right layer, deterministic, model-dependent (Adebayo et al. 2018), on real axes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from ecgcwt.apply import band_shares, find_target_layer, grad_cam, image_axes, top_band


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a.ravel())).astype(float)
    rb = np.argsort(np.argsort(b.ravel())).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("resnet18", {}, "layer4"),
        ("squeezenet1_1", {}, "classifier.1"),
        ("googlenet", {"aux_logits": False, "init_weights": False}, "inception5b"),
    ],
)
def test_target_layer_is_last_conv_stage(name, kwargs, expected):
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, num_classes=3, **kwargs).eval()
    assert find_target_layer(model, 64) == expected
    maps, probs = grad_cam(model, torch.randn(2, 3, 64, 64))
    assert maps.shape == (2, 64, 64) and probs.shape == (2, 3)
    assert maps.min() >= 0 and maps.max() <= 1


def _band_images(n: int, rng: np.random.Generator, size: int = 32):
    """Scalogram-like images: class 0 energy in rows 4-10, class 1 in rows 20-26, noise elsewhere."""
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 3, size, size)).astype(np.float32)
    for i, c in enumerate(y):
        lo = 4 if c == 0 else 20
        x[i, :, lo : lo + 6, :] += 2.0
    return torch.from_numpy(x), torch.from_numpy(y)


def test_maps_are_deterministic_and_depend_on_the_weights():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    model = torchvision.models.resnet18(weights=None, num_classes=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(10):
        x, y = _band_images(12, rng)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    x, y = _band_images(8, np.random.default_rng(1))
    maps, probs = grad_cam(model, x, y.numpy())
    assert (probs.argmax(1) == y.numpy()).mean() >= 0.75  # the model learnt the bands
    again, _ = grad_cam(model, x, y.numpy())
    assert np.array_equal(maps, again)  # same input -> identical maps

    torch.manual_seed(123)
    random_model = torchvision.models.resnet18(weights=None, num_classes=2).eval()
    random_maps, _ = grad_cam(random_model, x, y.numpy())
    rho = np.mean([_spearman(a, b) for a, b in zip(maps, random_maps)])
    assert rho < 0.5, f"maps of trained and re-initialised weights correlate (Spearman {rho:.2f})"


def test_axes_and_band_of_a_known_frequency():
    freqs = np.geomspace(64.0, 0.5, 48)  # high to low, as the cache stores them (row 0 = highest)
    attrs = {"frequencies": freqs, "fs": 128.0, "time_columns": np.arange(256), "window": 256}
    time_s, freq_hz = image_axes(attrs, 32, 32)
    assert freq_hz[0] > freq_hz[-1]  # low frequency at the bottom of the image
    assert freq_hz[0] <= 64.0 and freq_hz[-1] >= 0.5
    assert time_s[0] == pytest.approx(3.5 / 128, abs=1e-9) and time_s[-1] == pytest.approx(251.5 / 128)
    cam = np.zeros((32, 32))
    cam[(freq_hz >= 4.5) & (freq_hz < 7.5)] = 1.0
    shares = band_shares(cam, freq_hz)
    assert top_band(shares) == (4.0, 8.0)
    assert shares["share"].sum() == pytest.approx(1.0)
    assert shares.loc[shares["band_hz_low"] == 4.0, "share"].item() == pytest.approx(1.0)
