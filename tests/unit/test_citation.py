"""LICENSE and CITATION.cff: present, well-formed, agreeing with pyproject.toml, and cited from one place."""

from __future__ import annotations

import yaml

from ecgcwt.config import citation_file, citation_text

from ..conftest import REPO

CFF = REPO / "CITATION.cff"
PACKAGED = REPO / "src" / "ecgcwt" / "config" / "CITATION.cff"


def test_license_is_mit_as_pyproject_says():
    assert '\nlicense = "MIT"\n' in (REPO / "pyproject.toml").read_text()
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 ecgcwt authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_citation_file_parses_and_names_the_software_the_paper_and_the_databases():
    cff = yaml.safe_load(CFF.read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["license"] == "MIT" and cff["authors"] and cff["title"].startswith("ecgcwt")
    assert str(cff["version"]) == __import__("ecgcwt").__version__
    refs = cff["references"]
    assert all({"type", "title", "authors"} <= set(r) for r in refs), "every reference needs type, title, authors"
    titles = " | ".join(r["title"] for r in refs)
    for title in (
        "2D Transfer Learning for ECG Classification using Continuous Wavelet Transform",
        "The impact of the MIT-BIH Arrhythmia Database",  # mitdb
        "Survival of patients with severe congestive heart failure treated with oral milrinone",  # chfdb
        "MIT-BIH Normal Sinus Rhythm Database",  # nsrdb
        "PhysioBank, PhysioToolkit, and PhysioNet",
    ):
        assert title in titles, title
    zhang = next(r for r in refs if r["title"].startswith("2D Transfer"))
    assert zhang["journal"] == "medRxiv" and zhang["year"] == 2024
    goldberger = next(r for r in refs if r["title"].startswith("PhysioBank"))
    assert goldberger["journal"] == "Circulation" and goldberger["year"] == 2000


def test_the_package_cites_from_the_same_file():
    assert PACKAGED.read_bytes() == CFF.read_bytes(), (
        f"{PACKAGED.relative_to(REPO)} differs from CITATION.cff: edit CITATION.cff, then "
        f"`cp CITATION.cff {PACKAGED.relative_to(REPO)}`"
    )
    assert citation_file() == yaml.safe_load(CFF.read_text())
    text = citation_text()
    assert text.startswith("How to cite: ecgcwt")
    for ref in citation_file()["references"]:
        assert ref["title"] in text
    assert "doi:10.1101/2024.07.11.24310258" in text and "Circulation 101(23):e215-e220" in text
