"""docs/configuration.md is the config schema, written out: it cannot drift from it."""

from __future__ import annotations

import re
import subprocess
import sys

from ecgcwt.config import RUN_ONLY_KEYS, default_config, flat_settings, load_schema
from ecgcwt.config.reference import REGENERATE, entries, render

from ..conftest import REPO

PAGE = REPO / "docs" / "configuration.md"
WORKFLOW_SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_the_page_is_the_schema_written_out():
    assert PAGE.is_file(), f"{PAGE.relative_to(REPO)} is missing: run {REGENERATE}"
    assert PAGE.read_text() == render(load_schema(WORKFLOW_SCHEMA)), (
        f"{PAGE.relative_to(REPO)} does not match {WORKFLOW_SCHEMA.relative_to(REPO)}: after changing the schema, "
        f"run {REGENERATE} and commit the page"
    )


def test_every_key_of_the_default_config_is_on_the_page_with_its_default():
    page = PAGE.read_text()
    # free names (databases, models) are documented once as <db> / <name>; a mapping's entries by the mapping
    keys = [
        re.compile(re.sub(r"<\w+>", r"[^.]+", re.escape(key).replace(r"\<", "<").replace(r"\>", ">")) + r"(\..*)?")
        for key, node in entries()
        # a section's keys; a top-level key that is no section (experiments) stands for itself
        if "." in key or "properties" not in node
    ]
    missing = [dotted for dotted in flat_settings(default_config()) if not any(k.fullmatch(dotted) for k in keys)]
    assert not missing, f"keys of the default configuration missing from the reference: {missing}"
    for key, node in entries():
        assert (f"### `{key}`" if "." in key else f"## {key}\n") in page, key
        if "." in key and "default" in node:
            section = page.split(f"### `{key}`", 1)[1].split("\n### ", 1)[0]
            assert "default: `" in section and "changes results: " in section, key


def test_run_only_keys_are_marked_as_not_changing_results():
    page = PAGE.read_text()
    for key in RUN_ONLY_KEYS:
        section = page.split(f"### `{key}`", 1)[1].split("\n### ", 1)[0]
        assert "changes results: no" in section, key
    section = page.split("### `training.lr`", 1)[1].split("\n### ", 1)[0]
    assert "changes results: yes" in section
    section = page.split("### `external.path`", 1)[1].split("\n### ", 1)[0]
    assert "changes results: external only" in section


def test_the_command_writes_the_page_and_check_tells_how_to_regenerate(tmp_path):
    out = tmp_path / "configuration.md"
    cmd = [sys.executable, "-m", "ecgcwt.config.reference"]
    r = subprocess.run([*cmd, str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == PAGE.read_text()
    assert subprocess.run([*cmd, "--check", str(out)], capture_output=True, timeout=120).returncode == 0
    out.write_text(out.read_text().replace("### `data.source`", "### `data.origin`"))
    r = subprocess.run([*cmd, "--check", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "make docs" in r.stderr


def test_make_docs_writes_the_page():
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "-m ecgcwt.config.reference docs/configuration.md" in recipe


def test_string_keys_allow_only_strings():
    # YAML reads off/on/yes/no as booleans: an enum written [error, warn, off] would hold False, not "off"
    bad = []
    for key, node in entries():
        for alt in [node, *node.get("oneOf", []), *node.get("anyOf", [])]:
            if alt.get("type") == "string" and any(not isinstance(v, str) for v in alt.get("enum", [])):
                bad.append(f"{key}: {alt['enum']}")
    assert not bad, f"string keys whose allowed values are not all strings (quote them in the schema): {bad}"
