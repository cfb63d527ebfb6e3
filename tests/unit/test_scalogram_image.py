"""Tests of scalogram magnitudes -> uint8 images (ecgcwt.imaging.image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgcwt.errors import ConfigError
from ecgcwt.imaging import (
    apply_colormap,
    image_colormap,
    jet_colormap,
    rescale_per_image,
    scalogram_images,
    scalogram_indices,
)


def test_jet_matches_matlab_values():
    # MATLAB: jet(128) first row [0 0 0.5312], last row [0.5 0 0]; jet(64) (the old
    # default colormap) first row [0 0 0.5625], last [0.5 0 0]; jet(4) = [0 0 1; 0 1 1; 1 1 0; 1 0 0].
    j128 = jet_colormap(128)
    assert j128.shape == (128, 3)
    assert np.allclose(j128[0], [0, 0, 0.53125]) and np.allclose(j128[-1], [0.5, 0, 0])
    j64 = jet_colormap(64)
    assert np.allclose(j64[0], [0, 0, 0.5625]) and np.allclose(j64[-1], [0.5, 0, 0])
    assert np.allclose(jet_colormap(4), [[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])
    # the map runs blue -> cyan -> yellow -> red: blue falls last, red rises first
    assert np.all((j128 >= 0) & (j128 <= 1))
    assert np.argmax(j128[:, 2]) < np.argmax(j128[:, 1]) < np.argmax(j128[:, 0])


def test_shape_dtype_and_orientation():
    b, s, t = 3, 40, 300
    mag = torch.zeros(b, s, t)
    mag[:, :5, :] = 1.0  # energy only at the highest frequencies (rows 0..4)
    img = scalogram_images(mag, size=64)
    assert img.shape == (b, 64, 64, 3) and img.dtype == np.uint8
    lut = np.round(jet_colormap(128) * 255).astype(np.uint8)
    assert np.array_equal(img[0, 0, 0], lut[-1])  # top row: highest frequency, hottest colour
    assert np.array_equal(img[0, -1, 0], lut[0])  # bottom row: coldest colour


def test_rescale_per_image_and_constant_image():
    mag = torch.stack([torch.linspace(2, 5, 600).view(20, 30), torch.full((20, 30), 7.0)])
    v = rescale_per_image(mag)
    assert float(v[0].min()) == 0.0 and float(v[0].max()) == 1.0
    assert torch.all(v[1] == 0)  # a constant image has no contrast: all minimum, not NaN
    img = scalogram_images(mag, size=16)
    lut = np.round(jet_colormap(128) * 255).astype(np.uint8)
    assert np.all(img[1] == lut[0])


def test_gray3_and_log():
    ramp = torch.linspace(0.0, 1.0, 200) ** 4  # smooth, so that resizing keeps the full range
    mag = ramp.expand(2, 30, 200)
    g = scalogram_images(mag, size=32, mode="gray3")
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 0], g[..., 2])
    assert g.max() > 200 and g.min() < 30
    glog = scalogram_images(mag, size=32, mode="gray3", log=True)
    # log compresses the dynamic range: the median pixel gets brighter
    assert np.median(glog) > np.median(g)


def test_resize_antialiases_time_axis():
    """Shrinking 1000 alternating columns to 50 averages them (anti-aliasing), rather than
    picking every 20th column (which would be all-high or all-low)."""
    mag = torch.zeros(1, 50, 1000)
    mag[:, :, ::2] = 1.0
    mag[:, 0, 0] = 2.0  # keep a maximum so that 1.0 maps to ~0.5
    g = scalogram_images(mag, size=50, mode="gray3")
    row = g[0, 25, :, 0].astype(int)
    assert np.all(np.abs(row - 64) <= 3)  # 0.5 * 0.5 * 255


@pytest.mark.parametrize(
    "kwargs, key",
    [({"size": 4}, "size"), ({"mode": "viridis"}, "mode"), ({"colors": 1}, "colors"), ({"log": "yes"}, "log")],
)
def test_bad_image_settings_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"cwt.image.{key}"):
        scalogram_images(torch.ones(1, 4, 4), **kwargs)


def _rgb_the_old_way(mag, size, mode, colors, log):
    """scalogram_images as ecgcwt built RGB before the index cache (format 1), verbatim: the reference."""
    m = torch.as_tensor(mag)
    out = np.empty((m.shape[0], size, size, 3), dtype=np.uint8)
    lut = np.round(jet_colormap(colors) * 255.0).astype(np.uint8)
    v = rescale_per_image(m, log=log)
    v = torch.nn.functional.interpolate(
        v[:, None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )[:, 0]
    v = v.clamp_(0.0, 1.0)
    if mode == "jet":
        out[:] = lut[torch.round(v * (colors - 1)).to(torch.uint8).cpu().numpy()]
    else:
        out[..., 0] = torch.round(v * 255.0).to(torch.uint8).cpu().numpy()
        out[..., 1:] = out[..., :1]
    return out


@pytest.mark.parametrize(
    "mode,colors,log", [("jet", 128, False), ("jet", 256, True), ("jet", 7, False), ("gray3", 128, False)]
)
def test_indices_through_the_colour_table_are_the_old_rgb_images_bit_for_bit(mode, colors, log):
    g = torch.Generator().manual_seed(3)
    mag = torch.rand(5, 40, 300, generator=g) ** 3  # skewed, like |W|
    mag[2] = 0.25  # a constant image
    old = _rgb_the_old_way(mag, 32, mode, colors, log)
    idx = scalogram_indices(mag, size=32, mode=mode, colors=colors, log=log)
    table = image_colormap(mode, colors)
    assert idx.shape == (5, 32, 32) and idx.dtype == np.uint8 and int(idx.max()) < len(table)
    np.testing.assert_array_equal(table[idx], old)
    np.testing.assert_array_equal(apply_colormap(torch.from_numpy(idx), torch.from_numpy(table)).numpy(), old)
    np.testing.assert_array_equal(scalogram_images(mag, size=32, mode=mode, colors=colors, log=log), old)


def test_the_matrix_resize_agrees_with_interpolate_at_the_workflow_size():
    """224 px from 85 x 256 magnitudes (the default CWT grid): the two-matmul resize is F.interpolate up to rounding.

    Float rounding can move a value across a rounding boundary: at most one colour index, on very few pixels
    (2.3e-6 of them on 256 such images when measured).
    """
    g = torch.Generator().manual_seed(5)
    mag = torch.rand(16, 85, 256, generator=g) ** 3
    old = _rgb_the_old_way(mag, 224, "gray3", 128, False)[..., 0].astype(int)  # gray3: the index itself
    new = scalogram_indices(mag, size=224, mode="gray3").astype(int)
    assert np.abs(new - old).max() <= 1
    assert np.mean(new != old) < 1e-4
