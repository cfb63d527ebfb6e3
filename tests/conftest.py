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


@pytest.fixture
def physionet_dir() -> Path:
    return require_physionet()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
