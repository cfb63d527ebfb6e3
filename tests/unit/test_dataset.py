"""Reading scalogram images: lazy worker-safe file handle, batched reads, normalisation."""

from __future__ import annotations

import os
import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from ecgcwt.data import segment_store
from ecgcwt.errors import DataError
from ecgcwt.imaging import CACHE_FORMAT, image_colormap, read_scalogram_info, read_scalogram_table
from ecgcwt.learn.cnn2d.dataset import ScalogramDataset, make_loader
from tests.conftest import finish_test_cache

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def make_cache(path, n=20, size=16, seed=0):
    """A scalogram cache in the contract format with random colour indices; returns the RGB images they stand for."""
    rng = np.random.default_rng(seed)
    colormap = image_colormap("jet", 128)
    indices = rng.integers(0, len(colormap), (n, size, size), dtype=np.uint8)
    table = pd.DataFrame(
        {
            "segment": np.arange(n),
            "db": "mitdb",
            "record": [str(i // 4) for i in range(n)],
            "subject": [f"mitdb/{i // 4}" for i in range(n)],
            "recording": [f"mitdb/{i // 4}/{i % 2}" for i in range(n)],
            "lead": np.arange(n) % 2,
            "lead_name": "MLII",
            "start": np.arange(n) * 1024,
            "label": "ARR",
            "label_index": 0,
        }
    )
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=indices, chunks=(1, size, size), compression="gzip", compression_opts=1)
        f.create_dataset("colormap", data=colormap)
        f.attrs["cache_format"] = CACHE_FORMAT
        segment_store.write_table_group(f.create_group("table"), table)
        f.attrs["classes"] = np.array(["ARR", "CHF", "NSR"], dtype=object)
        f.attrs["image_size"] = size
        f.attrs["frequencies"] = np.linspace(40.0, 0.5, size)
        finish_test_cache(f, mode="jet", colors=128)
    return colormap[indices]


def expected(images, i):
    x = torch.from_numpy(images[i]).permute(2, 0, 1).float() / 255
    return (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)


def test_item_is_normalised_chw(tmp_path):
    images = make_cache(tmp_path / "s.h5")
    ds = ScalogramDataset(tmp_path / "s.h5", [3, 7], [1, 2], MEAN, STD)
    x, y, row = ds[1]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert y == 2 and row == 7
    assert torch.allclose(x, expected(images, 7), atol=1e-6)


def test_batch_read_keeps_order_and_duplicates(tmp_path):
    images = make_cache(tmp_path / "s.h5")
    rows = [9, 2, 15, 2, 0]
    ds = ScalogramDataset(tmp_path / "s.h5", rows, [0, 1, 2, 1, 0], MEAN, STD)
    x, y, r = ds.__getitems__([0, 1, 2, 3, 4])
    assert r.tolist() == rows and y.tolist() == [0, 1, 2, 1, 0]
    for k, row in enumerate(rows):
        assert torch.allclose(x[k], expected(images, row), atol=1e-6)


def test_file_opened_lazily_and_reopened_in_a_new_process(tmp_path):
    make_cache(tmp_path / "s.h5")
    ds = ScalogramDataset(tmp_path / "s.h5", range(4), [0] * 4, MEAN, STD)
    assert ds._file is None  # nothing opened in __init__ (safe to fork or pickle)
    ds[0]
    assert ds._file is not None and ds._pid == os.getpid()
    first = ds._file
    ds._pid = -1  # as seen from a forked worker: the inherited handle must not be used
    ds[1]
    assert ds._file is not first and ds._pid == os.getpid()
    clone = pickle.loads(pickle.dumps(ds))  # spawn-style workers receive a copy without a handle
    assert clone._file is None
    assert torch.equal(clone[2][0], ds[2][0])
    ds.close()
    clone.close()


def test_loader_covers_every_row_once_in_seeded_order(tmp_path):
    make_cache(tmp_path / "s.h5")
    ds = ScalogramDataset(tmp_path / "s.h5", range(20), np.arange(20) % 3, MEAN, STD)

    def rows_of(loader):
        return [int(r) for _, _, rows in loader for r in rows]

    a = rows_of(make_loader(ds, 6, shuffle=True, seed=5))
    b = rows_of(make_loader(ds, 6, shuffle=True, seed=5))
    c = rows_of(make_loader(ds, 6, shuffle=True, seed=6))
    assert sorted(a) == list(range(20)) and a == b and a != c
    batches = [x.shape[0] for x, _, _ in make_loader(ds, 6, shuffle=False)]
    assert batches == [6, 6, 6, 2]
    assert rows_of(make_loader(ds, 6, shuffle=False)) == list(range(20))


def test_loader_with_a_worker_process(tmp_path):
    make_cache(tmp_path / "s.h5")
    ds = ScalogramDataset(tmp_path / "s.h5", range(10), [0] * 10, MEAN, STD)
    x_workers = torch.cat([x for x, _, _ in make_loader(ds, 4, shuffle=False, num_workers=1)])
    x_main = torch.cat([x for x, _, _ in make_loader(ds, 4, shuffle=False)])
    assert torch.equal(x_workers, x_main)


def test_augment_rolls_along_time_only(tmp_path):
    images = make_cache(tmp_path / "s.h5")
    torch.manual_seed(0)
    ds = ScalogramDataset(tmp_path / "s.h5", [4], [0], MEAN, STD, augment=True)
    x = ds[0][0]
    ref = expected(images, 4)
    assert any(torch.allclose(x, torch.roll(ref, s, dims=2), atol=1e-6) for s in range(16))


def test_out_of_range_row_is_a_data_error(tmp_path):
    make_cache(tmp_path / "s.h5")
    ds = ScalogramDataset(tmp_path / "s.h5", [0, 25], [0, 0], MEAN, STD)
    with pytest.raises(DataError, match="row 25"):
        ds.__getitems__([0, 1])


def test_info_and_table(tmp_path):
    make_cache(tmp_path / "s.h5", n=12, size=16)
    info = read_scalogram_info(tmp_path / "s.h5")
    assert (info.n_images, info.height, info.width) == (12, 16, 16)
    assert info.classes == ("ARR", "CHF", "NSR") and info.attrs["image_size"] == 16
    table = read_scalogram_table(tmp_path / "s.h5")
    assert len(table) == 12 and table["subject"].iloc[5] == "mitdb/1"
    with pytest.raises(DataError, match="does not exist"):
        read_scalogram_info(tmp_path / "missing.h5")
