"""Shared test fixtures: paths to the repository and to the real PhysioNet records."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Real PhysioNet records (mitdb, chfdb, nsrdb) kept beside the checkout, never copied into it.
PHYSIONET_DIR = REPO.parent / "shared" / "data" / "physionet"


def require_physionet() -> Path:
    if not (PHYSIONET_DIR / "mitdb" / "RECORDS").is_file():
        pytest.skip(f"real PhysioNet records not found at {PHYSIONET_DIR} (they live beside the checkout in ../shared)")
    return PHYSIONET_DIR


#: A six-row file in the layout of MathWorks' ECGData.mat (mitdb 100, chfdb chf02, nsrdb 16483, two leads each,
#: millivolts at 128 Hz, 32,768 samples per row), kept beside the checkout, never copied into it.
MATHWORKS_FILE = REPO.parent / "shared" / "data" / "mathworks" / "ECGData_6rows.mat"


def require_mathworks() -> Path:
    if not MATHWORKS_FILE.is_file():
        pytest.skip(f"the six-row ECGData file was not found at {MATHWORKS_FILE} (it lives beside the checkout)")
    return MATHWORKS_FILE


@pytest.fixture
def physionet_dir() -> Path:
    return require_physionet()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def finish_test_cache(f, *, mode: str, colors: int = 256, classes=None) -> None:
    """Give a scalogram cache written by a test (``/images``, ``/colormap``, ``/table`` in the open file ``f``) the
    image attributes and checksums ecgcwt's readers check, as the cache build writes them."""
    import numpy as np

    from ecgcwt.imaging import CwtParams, seal_cache

    for key, value in CwtParams().to_attrs().items():  # the default transform's settings, where not given
        if key not in f.attrs:
            f.attrs[key] = value
    size = f["images"].shape[1]
    f.attrs.update({"image_size": size, "image_mode": mode, "colors": colors, "log": False})
    if classes is not None or "classes" not in f.attrs:
        f.attrs["classes"] = np.array(classes or ["ARR", "CHF", "NSR"], dtype=object)
    seal_cache(f)
