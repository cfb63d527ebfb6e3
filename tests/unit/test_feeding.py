"""Feeding images to the model: raw chunk reads, in-memory and streaming sources, device-side conversion.

Every path is compared with a plain h5py read of each index image
(``images[i]``, HDF5's own gzip filter), the trusted reference, coloured with
the cache's table, and the normalised batch with a float64 computation of
``(x / 255 - mean) / std``, and bit for bit with the RGB cache's feeder.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from ecgcwt.errors import DataError
from ecgcwt.imaging import CACHE_FORMAT, ChunkReader, image_colormap
from ecgcwt.learn.cnn2d.feeding import BatchFeeder, InMemoryImages, StreamingImages, open_image_source, roll_columns
from tests.conftest import finish_test_cache

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


COLORMAP = image_colormap("jet", 128)


def write_cache(path, n=40, size=16, seed=0, **dataset_kwargs):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, len(COLORMAP), (n, size, size), dtype=np.uint8)
    kwargs = {"chunks": (1, size, size), "compression": "gzip", "compression_opts": 1, **dataset_kwargs}
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, **kwargs)
        f.create_dataset("colormap", data=COLORMAP)
        f.attrs["cache_format"] = CACHE_FORMAT
        finish_test_cache(f, mode="jet", colors=128)
    return images


def plain_read(path, rows):
    """Index images, HDF5's own read."""
    with h5py.File(path, "r") as f:
        return np.stack([f["images"][int(r)] for r in rows])


def plain_rgb(path, rows):
    return COLORMAP[plain_read(path, rows)]


ROWS = np.array([7, 3, 3, 39, 0, 12, 25, 8])  # unsorted, with a repeat


@pytest.mark.parametrize(
    "layout",
    [
        {},  # the cache's own: one deflated image per chunk (raw chunk path)
        {"compression": None, "compression_opts": None},  # uncompressed chunks
        {"shuffle": True},  # another filter pipeline
        {"chunks": (4, 16, 16)},  # several images per chunk
        {"compression": "lzf", "compression_opts": None},  # HDF5's filter
    ],
    ids=["gzip-per-image", "uncompressed", "shuffle+gzip", "4-per-chunk", "lzf"],
)
@pytest.mark.parametrize("threads", [1, 3])
def test_reader_equals_plain_read(tmp_path, layout, threads):
    path = tmp_path / "s.h5"
    write_cache(path, **layout)
    with ChunkReader(path, threads=threads) as reader:
        np.testing.assert_array_equal(reader.read(ROWS), plain_read(path, ROWS))
        assert reader.read([]).shape == (0, 16, 16)
        np.testing.assert_array_equal(reader.colormap, COLORMAP)


def test_memory_and_stream_sources_give_the_plain_images(tmp_path):
    path = tmp_path / "s.h5"
    write_cache(path)
    with ChunkReader(path, threads=2) as reader:
        held = np.arange(0, 40, 2)
        memory = open_image_source(reader, held, budget_mb=1)  # 20 images of 256 B: fits
        stream = open_image_source(reader, held, budget_mb=0.001)  # 5 kB: does not
        assert isinstance(memory, InMemoryImages) and isinstance(stream, StreamingImages)
        rows = np.array([38, 0, 4, 4, 20])
        for source in (memory, stream):
            np.testing.assert_array_equal(source.batch(rows).numpy(), plain_read(path, rows))
        with pytest.raises(KeyError):
            memory.batch(np.array([1]))  # odd rows were not loaded


@pytest.mark.parametrize("budget_mb", [1.0, 0.0], ids=["memory", "stream"])
def test_feeder_batches_are_normalised_plain_images_in_order(tmp_path, budget_mb):
    path = tmp_path / "s.h5"
    write_cache(path)
    batches = [np.array([5, 1, 9]), np.array([0]), np.array([33, 33, 2, 17])]
    with ChunkReader(path, threads=2) as reader:
        source = open_image_source(reader, np.arange(40), budget_mb=budget_mb)
        for channels_last in (True, False):
            feeder = BatchFeeder(source, torch.device("cpu"), MEAN, STD, channels_last=channels_last, prefetch=2)
            got = list(feeder.batches(batches))
            assert len(got) == len(batches)
            for rows, x in zip(batches, got):
                ref = (plain_rgb(path, rows).astype(np.float64) / 255 - MEAN) / STD  # NHWC
                assert x.shape == (len(rows), 3, 16, 16) and x.dtype == torch.float32
                assert x.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
                np.testing.assert_allclose(x.permute(0, 2, 3, 1).numpy(), ref, rtol=0, atol=1e-5)


def test_time_shift_rolls_columns_only(tmp_path):
    path = tmp_path / "s.h5"
    write_cache(path)
    rows = np.array([4, 11])
    shifts = torch.tensor([3, 15])
    with ChunkReader(path) as reader:
        feeder = BatchFeeder(StreamingImages(reader), torch.device("cpu"), (0, 0, 0), (1, 1, 1))
        x = next(feeder.batches([rows], [shifts]))
    plain = plain_rgb(path, rows)
    for i, s in enumerate(shifts.tolist()):
        expected = np.roll(plain[i], s, axis=1).astype(np.float32) / 255  # axis 1 of HWC: columns (time)
        np.testing.assert_allclose(x[i].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    u8 = torch.from_numpy(plain)
    assert torch.equal(roll_columns(u8, torch.zeros(2, dtype=torch.long)), u8)
    idx = torch.from_numpy(plain_read(path, rows))  # rolling the index image, then colouring, is the same
    assert torch.equal(torch.from_numpy(COLORMAP)[roll_columns(idx, shifts).long()], roll_columns(u8, shifts))


@pytest.mark.parametrize("budget_mb", [1.0, 0.0], ids=["memory", "stream"])
def test_feeder_batch_is_bit_identical_to_the_rgb_cache_feeder(tmp_path, budget_mb):
    """Indices + colour table on the device give the float batch the RGB cache gave, bit for bit."""
    path = tmp_path / "s.h5"
    write_cache(path)
    rows = np.array([9, 2, 2, 31])
    with ChunkReader(path, threads=2) as reader:
        source = open_image_source(reader, np.arange(40), budget_mb=budget_mb)
        x = next(BatchFeeder(source, torch.device("cpu"), MEAN, STD).batches([rows]))
    # the RGB cache's feeder, verbatim: addcmul over the flattened NHWC uint8 RGB batch
    rgb = torch.from_numpy(plain_rgb(path, rows))
    mean_t, std_t = torch.tensor(MEAN, dtype=torch.float32), torch.tensor(STD, dtype=torch.float32)
    y = rgb.reshape(len(rows), -1).to(torch.float32)
    torch.addcmul((-mean_t / std_t).repeat(256), y, (1.0 / (255.0 * std_t)).repeat(256), out=y)
    assert torch.equal(x.permute(0, 2, 3, 1).contiguous(), y.view(rgb.shape))


def test_in_memory_indices_from_an_array(tmp_path):
    idx = np.random.default_rng(1).integers(0, 128, (3, 8, 8), dtype=np.uint8)
    source = InMemoryImages.from_array(idx, COLORMAP)
    x = next(BatchFeeder(source, torch.device("cpu"), (0, 0, 0), (1, 1, 1)).batches([np.array([2, 0])]))
    np.testing.assert_allclose(x.permute(0, 2, 3, 1).numpy(), COLORMAP[idx[[2, 0]]] / 255, atol=1e-6)
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W\)"):
        InMemoryImages.from_array(COLORMAP[idx], COLORMAP)  # RGB given where indices are expected


def test_streaming_prefetch_stops_cleanly_when_the_consumer_stops(tmp_path):
    path = tmp_path / "s.h5"
    write_cache(path)
    with ChunkReader(path) as reader:
        feeder = BatchFeeder(StreamingImages(reader), torch.device("cpu"), MEAN, STD, prefetch=1)
        it = feeder.batches([np.array([i]) for i in range(40)])
        next(it)
        it.close()  # the producer thread must not hang on a full queue


def test_damaged_image_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "s.h5"
    write_cache(path)
    with h5py.File(path, "r+") as f:
        f["images"].id.write_direct_chunk((5, 0, 0), b"not deflate data")
    with ChunkReader(path, threads=2) as reader:
        np.testing.assert_array_equal(reader.read([4]), plain_read(path, [4]))
        with pytest.raises(DataError, match=r"s\.h5.*image 5.*forcerun scalograms"):
            reader.read([4, 5])
        feeder = BatchFeeder(StreamingImages(reader), torch.device("cpu"), MEAN, STD)
        with pytest.raises(DataError, match="image 5"):
            list(feeder.batches([np.array([1]), np.array([5])]))  # raised through the prefetch thread
        with pytest.raises(DataError, match="row 40 requested"):
            reader.read([40])


def test_missing_cache_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist.*scalograms step"):
        ChunkReader(tmp_path / "absent.h5")
