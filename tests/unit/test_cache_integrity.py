"""A damaged or edited scalogram cache is one clear error naming the file and the command that rebuilds it,
never a wrong image, a wrong label or a traceback from deep inside training."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from ecgcwt.data import DatabaseSource, SegmentSpec, generate_database, segment_to_store
from ecgcwt.errors import DataError
from ecgcwt.imaging import (
    ChunkReader,
    build_scalogram_cache,
    image_colormap,
    read_colormap,
    read_scalogram_info,
    read_scalogram_table,
    seal_cache,
)
from ecgcwt.learn.cnn2d.feeding import BatchFeeder, StreamingImages, open_image_source
from ecgcwt.learn.cnn2d.signal_images import read_rows

REBUILD = "rebuild it with `snakemake --forcerun scalograms`"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    sources = []
    for db, label in (("mitdb", "ARR"), ("chfdb", "CHF"), ("nsrdb", "NSR")):
        generate_database(db, label, d / db, subjects=2, duration_s=20, seed=0)
        sources.append(DatabaseSource(db, d / db, label))
    spec = SegmentSpec(fs=128, window=512, hop=512, max_per_recording=2, max_duration_s=None)
    segment_to_store(d / "segments.h5", sources, spec)
    cache = build_scalogram_cache(d / "segments.h5", d / "scalograms.h5", {"image": {"size": 32}})
    with ChunkReader(cache) as reader:
        images = reader.read(np.arange(reader.n_images))
    return {"segments": d / "segments.h5", "cache": cache, "images": images}


def _copy(built, tmp_path):
    path = tmp_path / "scalograms.h5"
    shutil.copy(built["cache"], path)
    return path


def _chunk(path, row: int) -> tuple[int, int]:
    """(byte offset, size) of image ``row``'s stored chunk in the file."""
    with h5py.File(path, "r") as f:
        info = f["images"].id.get_chunk_info(row)
        return int(info.byte_offset), int(info.size)


def test_every_bit_flip_in_an_image_is_an_error_naming_the_file_never_a_wrong_image(built, tmp_path):
    path = _copy(built, tmp_path)
    offset, size = _chunk(path, 3)
    clean = path.read_bytes()
    rng = np.random.default_rng(0)
    for bit in rng.choice(size * 8, 40, replace=False):
        raw = bytearray(clean)
        raw[offset + bit // 8] ^= 1 << int(bit % 8)
        path.write_bytes(bytes(raw))
        with ChunkReader(path, threads=2) as reader:
            with pytest.raises(DataError) as err:
                reader.read([1, 3])
            assert str(path) in str(err.value) and "image 3 is damaged" in str(err.value)
            assert REBUILD in str(err.value)
            np.testing.assert_array_equal(reader.read([0, 1, 2, 4]), built["images"][[0, 1, 2, 4]])


def test_a_chunk_overwritten_with_other_bytes_is_an_error_in_training_not_an_index_error(built, tmp_path):
    path = _copy(built, tmp_path)
    offset, size = _chunk(path, 5)
    with open(path, "r+b") as fh:  # another image's bytes where image 5 was: decodes, but is not image 5
        fh.seek(offset)
        fh.write(np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())
    with ChunkReader(path) as reader:
        feeder = BatchFeeder(StreamingImages(reader), "cpu", (0.5,) * 3, (0.25,) * 3)
        with pytest.raises(DataError, match=r"image 5 is damaged.*forcerun scalograms"):
            list(feeder.batches([np.arange(8)]))


def test_indices_past_the_colour_table_with_a_matching_checksum_are_refused(built, tmp_path):
    path = _copy(built, tmp_path)
    with h5py.File(path, "r+") as f:  # a forged image: valid deltas and checksum, indices 200 for a 128-colour table
        raw = np.full((32, 32), 0, np.uint8)
        raw[0] = 200
        import zstandard

        f["images"].id.write_direct_chunk((2, 0, 0), zstandard.ZstdCompressor(level=3).compress(raw.tobytes()))
        seal_cache(f)
    for budget_mb in (0, 100):  # streamed, and in memory
        with ChunkReader(path) as reader:
            feeder = BatchFeeder(open_image_source(reader, np.arange(6), budget_mb), "cpu", (0.5,) * 3, (0.25,) * 3)
            with pytest.raises(DataError) as err:
                list(feeder.batches([np.arange(6)]))
        msg = str(err.value)
        assert str(path) in msg and "holds colour index 200, the colour table has 128 colours" in msg
        assert REBUILD in msg


def _replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


NOT_THE_TABLE = "/colormap is not the colour table its image_mode 'jet' and colors 128 give"
EDITS = {
    # the colour table: black images, reversed (training and predict would colour differently), cut short
    "colormap zeros": (lambda f: _replace(f, "colormap", np.zeros((128, 3), np.uint8)), NOT_THE_TABLE),
    "colormap reversed": (lambda f: _replace(f, "colormap", f["colormap"][()][::-1].copy()), NOT_THE_TABLE),
    "colormap of 4": (lambda f: _replace(f, "colormap", f["colormap"][:4].copy()), NOT_THE_TABLE),
    # settings that contradict the images (they would be copied into model.pt)
    "image_size": (lambda f: f.attrs.__setitem__("image_size", 64), "attributes were changed after it was built"),
    "fs": (lambda f: f.attrs.__setitem__("fs", 360.0), "attributes were changed after it was built"),
    "wavelet": (lambda f: f.attrs.__setitem__("wavelet", "amor"), "attributes were changed after it was built"),
    "classes reordered": (
        lambda f: f.attrs.__setitem__("classes", np.array(["NSR", "CHF", "ARR"], dtype=object)),
        "attributes were changed after it was built",
    ),
    "checksums missing": (lambda f: f.__delitem__("checksums"), "/checksums must be uint32"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_part_is_one_error_naming_the_file_from_every_reader(built, tmp_path, edit):
    path = _copy(built, tmp_path)
    change, words = EDITS[edit]
    with h5py.File(path, "r+") as f:
        change(f)
    for read in (read_scalogram_info, read_scalogram_table, read_colormap, ChunkReader):
        with pytest.raises(DataError) as err:
            read(path)
        msg = str(err.value)
        assert f"scalogram cache {str(path)!r} is inconsistent" in msg and words in msg and REBUILD in msg, msg


@pytest.mark.parametrize("consistent", [False, True])
def test_edits_that_keep_the_attributes_checksum_are_still_caught(built, tmp_path, consistent):
    """Edited and re-sealed (as a tool that rewrites the checksums would): the parts still disagree."""
    path = _copy(built, tmp_path)
    with h5py.File(path, "r+") as f:
        if consistent:  # label_index that disagrees with label: a model would train on wrong labels
            f["table/label_index"][0] = (f["table/label_index"][0] + 1) % 3
        else:  # image_size of other images, re-sealed: the attribute still contradicts /images
            f.attrs["image_size"] = 64
        seal_cache(f)
    if consistent:
        with pytest.raises(DataError) as err:
            read_scalogram_table(path)
        assert "/table/label_index disagrees with /table/label" in str(err.value) and REBUILD in str(err.value)
    else:
        with pytest.raises(DataError, match=r"image_size is 64 but /images holds 32 x 32 images.*forcerun"):
            ChunkReader(path)


def test_following_the_advice_rebuilds_a_cache_every_reader_takes(built, tmp_path):
    path = _copy(built, tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs["classes"] = np.array(["NSR", "CHF", "ARR"], dtype=object)
    with pytest.raises(DataError, match="forcerun scalograms"):
        read_scalogram_table(path)
    # what `snakemake --forcerun scalograms` runs: the scalograms rule's build from segments.h5
    build_scalogram_cache(built["segments"], path, {"image": {"size": 32}})
    table = read_scalogram_table(path)
    assert (table["label_index"].to_numpy() == table["label"].map({"ARR": 0, "CHF": 1, "NSR": 2})).all()
    with ChunkReader(path) as reader:
        np.testing.assert_array_equal(reader.read(np.arange(reader.n_images)), built["images"])
        np.testing.assert_array_equal(reader.colormap, image_colormap("jet", 128))


def test_a_segment_store_whose_labels_disagree_is_refused_by_the_cache_build(built, tmp_path):
    store = tmp_path / "segments.h5"
    shutil.copy(built["segments"], store)
    with h5py.File(store, "r+") as f:
        f["table/label_index"][0] = 2
    with pytest.raises(DataError) as err:
        build_scalogram_cache(store, tmp_path / "s.h5", {"image": {"size": 32}})
    msg = str(err.value)
    assert str(store) in msg and "/table/label_index disagrees" in msg and "snakemake --forcerun segment`" in msg
    assert not (tmp_path / "s.h5").exists()


def test_a_cache_built_with_other_settings_than_the_runs_is_refused(built):
    from ecgcwt.imaging import check_cache_settings

    check_cache_settings(built["cache"], {"image": {"size": 32}})  # the settings it was built with
    for cfg, words in (
        ({"wavelet": "amor", "image": {"size": 32}}, "built with wavelet 'morse', this run's cwt settings give 'amor'"),
        ({"image": {"size": 32, "mode": "gray3"}}, "built with image_mode 'jet', this run's cwt settings give 'gray3'"),
        ({"image": {"size": 32, "colors": 64}}, "built with colors 128, this run's cwt settings give 64"),
        ({"freq_limits": [1.0, 40.0], "image": {"size": 32}}, "built with freq_limits_source 'matlab_default'"),
    ):
        with pytest.raises(DataError) as err:
            check_cache_settings(built["cache"], cfg)
        assert str(built["cache"]) in str(err.value) and words in str(err.value) and REBUILD in str(err.value)


def test_a_damaged_chunk_of_the_segment_store_is_an_error_never_other_samples(built, tmp_path):
    from ecgcwt.data import iter_signal_batches

    store = tmp_path / "segments.h5"
    shutil.copy(built["segments"], store)
    with h5py.File(store, "r") as f:
        info = f["signals"].id.get_chunk_info(0)
        n = f["signals"].shape[0]
    for k, bit in enumerate((5, 1000, info.size * 8 - 70)):
        raw = bytearray(built["segments"].read_bytes())
        raw[info.byte_offset + bit // 8] ^= 1 << (bit % 8)
        store.write_bytes(bytes(raw))
        with pytest.raises(DataError) as err:
            list(iter_signal_batches(store, 4))
        msg = str(err.value)
        assert str(store) in msg and "the file is damaged" in msg and "snakemake --forcerun segment`" in msg
        with pytest.raises(DataError, match="forcerun segment"):
            build_scalogram_cache(store, tmp_path / f"s{k}.h5", {"image": {"size": 32}})
        with pytest.raises(DataError, match=r"segments.h5'.*the file is damaged.*forcerun segment"):
            read_rows(store, np.arange(n))  # the augmentations' reader
    assert n > 4
