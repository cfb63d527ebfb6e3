"""How to cite ecgcwt and its data, read from the citation file (``CITATION.cff``).

The repository's ``CITATION.cff`` ships inside the package as ``ecgcwt/config/CITATION.cff`` (a test
keeps the two identical), so the report's provenance block and ``ecgcwt predict --info`` cite from
the same file, also where the package is installed without its checkout.
"""

from __future__ import annotations

import functools
from importlib import resources

import yaml

CITATION_RESOURCE = "CITATION.cff"


@functools.lru_cache(maxsize=1)
def citation_file() -> dict:
    """The parsed citation file (Citation File Format 1.2.0)."""
    return yaml.safe_load(resources.files(__package__).joinpath(CITATION_RESOURCE).read_text(encoding="utf-8"))


def _authors(people: list[dict]) -> str:
    names = []
    for p in people:
        if "family-names" in p:
            initials = "".join(part[0] for part in str(p.get("given-names", "")).replace("-", " ").split())
            names.append(f"{p['family-names']} {initials}".strip())
        else:
            names.append(str(p.get("name", "")))
    if len(names) > 3:
        names = [*names[:1], "et al."]
    return ", ".join(n for n in names if n).replace(", et al.", " et al.")


def reference_line(ref: dict) -> str:
    """One reference as a line: authors, title, where (journal volume(issue):pages or publisher), year, DOI."""
    where = ref.get("journal") or (ref.get("publisher") or {}).get("name", "")
    if ref.get("volume"):
        where += f" {ref['volume']}"
        if ref.get("issue"):
            where += f"({ref['issue']})"
        if ref.get("start"):
            where += f":{ref['start']}-{ref['end']}" if ref.get("end") else f":{ref['start']}"
    authors = _authors(ref.get("authors") or [])
    parts = [authors if authors != where.strip() else "", str(ref.get("title", "")), where.strip()]
    if ref.get("year"):
        parts.append(str(ref["year"]))
    if ref.get("doi"):
        parts.append(f"doi:{ref['doi']}")
    elif ref.get("url"):
        parts.append(str(ref["url"]))
    return ". ".join(p.rstrip(".") for p in parts if p) + "."


def citation_text() -> str:
    """How to cite, as a few lines of plain text: the software, then each reference."""
    cff = citation_file()
    lines = [
        f"How to cite: {cff['title']}, version {cff.get('version', '?')} ({_authors(cff.get('authors') or [])}; "
        f"{cff.get('license', '')} licence; CITATION.cff in its repository), and the works it builds on:"
    ]
    lines += [f"- {reference_line(ref)}" for ref in cff.get("references") or []]
    return "\n".join(lines)
