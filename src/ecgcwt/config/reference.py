"""The configuration reference (``docs/configuration.md``), written from the schema.

Every key of the schema gets its type, default, allowed values, description and whether it
changes results (the settings the report lists and hashes, :func:`ecgcwt.config.result_settings`,
against the run-only keys :data:`ecgcwt.config.RUN_ONLY_KEYS` and the sections outside the
report). The page is never edited by hand::

    python -m ecgcwt.config.reference docs/configuration.md     # or: make docs
    python -m ecgcwt.config.reference --check docs/configuration.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from ecgcwt.config.provenance import RESULT_SECTIONS, RUN_ONLY_KEYS
from ecgcwt.config.validate import load_schema

REGENERATE = "make docs (or: python -m ecgcwt.config.reference docs/configuration.md)"

HEADER = """\
<!-- Generated from workflow/schemas/config.schema.yaml by `python -m ecgcwt.config.reference`; do not edit.
     After changing the schema run `make docs`. -->
# Configuration reference

Every key of `config.yaml`, from the schema that validates it
(`workflow/schemas/config.schema.yaml`; a byte-identical copy ships in the package). A missing
key takes its default; a bad value stops the run before any job starts, naming the key. Put
your settings in a file of your own and merge it over the defaults
(`snakemake --configfile config.yaml my.yaml`); `ecgcwt config config.yaml my.yaml` prints the
merged configuration, validated.

**Changes results** says whether a key is one of the settings that shape results: those are
listed in the report's provenance block and enter its configuration hash, and changing one
reruns the steps it feeds. *No* marks the keys that only say how the work runs (memory,
checkpoints, batching; results bit-identical); *external only* marks the keys of external
validation, which change `results/external/` but not the report.
"""


def _text(value: Any) -> str:
    return " ".join(str(value).split())


def _json(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _type(node: dict) -> str:
    if "oneOf" in node or "anyOf" in node:
        return " or ".join(_type(alt) for alt in node.get("oneOf", node.get("anyOf", [])))
    kind = node.get("type")
    if kind is None:
        return "any"
    kinds = kind if isinstance(kind, list) else [kind]
    out = []
    for k in kinds:
        if k == "array" and isinstance(node.get("items"), dict) and node["items"].get("type"):
            out.append(f"list of {_type(node['items'])}")
        elif k == "object" and "additionalProperties" in node and not node.get("properties"):
            extra = node["additionalProperties"]
            out.append(f"mapping of {_type(extra)}" if isinstance(extra, dict) else "mapping")
        else:
            out.append(k)
    return " or ".join(out)


def _allowed(node: dict) -> str:
    parts = []
    alternatives = node.get("oneOf", node.get("anyOf", []))
    if alternatives:
        parts.append(" or ".join(_allowed(alt) or _type(alt) for alt in alternatives))
    if "enum" in node:
        parts.append(", ".join(f"`{_json(v) if not isinstance(v, str) else v}`" for v in node["enum"]))
    bounds = [
        (">=", node.get("minimum")),
        (">", node.get("exclusiveMinimum")),
        ("<=", node.get("maximum")),
        ("<", node.get("exclusiveMaximum")),
    ]
    parts += [f"{op} {v}" for op, v in bounds if v is not None]
    if "pattern" in node:
        parts.append(f"matching `{node['pattern']}`")
    if node.get("minItems"):
        parts.append(f"at least {node['minItems']} item{'s' if node['minItems'] > 1 else ''}")
    if node.get("maxItems"):
        parts.append(f"at most {node['maxItems']} items")
    if node.get("uniqueItems"):
        parts.append("distinct items")
    items = node.get("items")
    if isinstance(items, dict):
        sub = _allowed(items)
        if sub:
            parts.append(f"each item {sub}")
    if node.get("minProperties"):
        parts.append(f"at least {node['minProperties']} entries")
    names = node.get("propertyNames", {}).get("pattern")
    if names:
        parts.append(f"names matching `{names}`")
    return "; ".join(parts)


def changes_results(key: str) -> str:
    section = key.split(".", 1)[0]
    if section not in RESULT_SECTIONS:
        return "external only" if section == "external" else "no"
    leaf = key.split(".")
    # models.<name>.training.<run-only key> follows training's run-only keys
    for run_only in RUN_ONLY_KEYS:
        if key == run_only or key.startswith(run_only + "."):
            return "no"
        if section == "models" and run_only.startswith("training.") and leaf[-1] == run_only.split(".", 1)[1]:
            return "no"
    return "yes"


def _entries(node: dict, prefix: str) -> Iterator[tuple[str, dict]]:
    for name, sub in (node.get("properties") or {}).items():
        key = f"{prefix}{name}"
        yield key, sub
        yield from _entries(sub, f"{key}.")
    # a key that is either a plain value or a mapping (e.g. training.augment: true, or its settings)
    for alt in node.get("oneOf", node.get("anyOf", [])):
        yield from _entries(alt, prefix)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("properties"):
        placeholder = {"databases": "<db>", "models": "<name>"}.get(prefix.rstrip(".").rsplit(".", 1)[-1], "<name>")
        yield from _entries(extra, f"{prefix}{placeholder}.")


def entries(schema: dict | None = None) -> list[tuple[str, dict]]:
    """``(dotted key, schema node)`` of every key, in the schema's order (``<db>``/``<name>`` for free names)."""
    return list(_entries(schema if schema is not None else load_schema(), ""))


def render(schema: dict | None = None) -> str:
    """The whole page as Markdown."""
    schema = schema if schema is not None else load_schema()
    out = [HEADER]
    for section, node in (schema.get("properties") or {}).items():
        out.append(f"## {section}\n\n{_text(node.get('description', ''))}\n")
        for key, sub in _entries(node, f"{section}."):
            facts = [f"type: {_type(sub)}"]
            if "default" in sub:
                facts.append(f"default: `{_json(sub['default'])}`")
            allowed = _allowed(sub)
            if allowed:
                facts.append(f"allowed: {allowed}")
            facts.append(f"changes results: {changes_results(key)}")
            out.append(f"### `{key}`\n\n{' · '.join(facts)}\n")
            if sub.get("description"):
                out.append(f"{_text(sub['description'])}\n")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the configuration reference from the config schema.")
    ap.add_argument("output", type=Path, help="the page to write, e.g. docs/configuration.md")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 if the page differs")
    ap.add_argument("--schema", type=Path, default=None, help="schema file (default: the packaged schema)")
    args = ap.parse_args(argv)
    page = render(load_schema(args.schema))
    if args.check:
        current = args.output.read_text() if args.output.is_file() else ""
        if current != page:
            print(f"{args.output} does not match the config schema: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    from ecgcwt.atomic import write_text

    write_text(args.output, page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
