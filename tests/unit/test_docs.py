"""The documentation cannot point at nothing, and the README's commands are each run or marked.

Checked on README.md, docs/*.md and benchmarks/README.md:

- every relative Markdown link resolves to a file or folder of the checkout, and a ``#anchor``
  into a Markdown page names one of its headings (GitHub's heading slugs);
- every file path of the checkout named in the text (a path under one of the checkout's
  top-level folders, or one of its top-level files) exists; paths with ``{placeholders}`` or
  ``<...>`` are patterns, and a path with ``*`` must match at least one file.

And on README.md: every shell code block (```bash, ```sh, ```console) is preceded by one marker
line saying who runs it:

- ``<!-- run-by: tests/PATH.py::test_name -->``: that test exists and reads README.md, or checks
  the commands' recipe (the Makefile) itself;
- ``<!-- not-run: REASON -->``: not runnable here, REASON starting with one of ``NOT_RUN_REASONS``
  (needs internet, a cluster, a GPU, the full databases or the real run's results).

Every other code block of the README names its language (``yaml``, ``text``, ...), so that no
command hides in an unlabelled block.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import REPO

PAGES = sorted([REPO / "README.md", REPO / "benchmarks" / "README.md", *(REPO / "docs").glob("*.md")])
TOP_FOLDERS = ("src", "workflow", "config", "tests", "benchmarks", "profiles", "envs", "containers", "docs", ".ci")
TOP_FILES = (
    "Makefile",
    "Snakefile",
    "config.yaml",
    "pyproject.toml",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-bench.txt",
    "LICENSE",
    "CITATION.cff",
)
#: Paths inside the checkout's folders that the docs name as what a command writes (never committed).
BUILT = {"containers/ecgcwt.sif"}
SHELL = {"bash", "sh", "shell", "console"}
NOT_RUN_REASONS = (
    "needs internet",
    "needs a cluster",
    "needs a GPU",
    "needs the full databases",
    "needs the real run's",
    "the whole demo",
)
MARKER = re.compile(r"^\s*<!--\s*(run-by|not-run):\s*(.+?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FOLDER_PATH = re.compile(r"(?<![\w./~$-])((?:%s)/[\w.*{}<>\-/]*)" % "|".join(re.escape(f) for f in TOP_FOLDERS))
FILE_PATH = re.compile(r"(?<![\w./~$-])(%s)(?![\w-]|\.\w)" % "|".join(re.escape(f) for f in TOP_FILES))


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line index of the opening fence, language, body) of each fenced block."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang, body = i, m.group(2), []
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append((start, lang, "\n".join(body)))
        i += 1
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    out, seen = set(), {}
    text = page.read_text()
    in_code = {i for start, _, body in code_blocks(text) for i in range(start, start + body.count("\n") + 3)}
    for i, line in enumerate(text.splitlines()):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and i not in in_code:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    bad = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: {dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading '#{anchor}' in {dest.relative_to(REPO)}")
    assert not bad, f"{page.relative_to(REPO)} links to nothing:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_file_path_named_exists(page):
    text, bad = page.read_text(), []
    named = [m.rstrip(".,:;)") for m in FOLDER_PATH.findall(text)] + FILE_PATH.findall(text)
    for path in sorted(set(named)):
        if any(c in path for c in "{}<>") or path in BUILT:
            continue
        if "*" in path:
            if not list(REPO.glob(path)):
                bad.append(f"{path}: matches no file")
        elif not (REPO / path).exists():
            bad.append(f"{path}: no such file or folder in the checkout")
    assert not bad, f"{page.relative_to(REPO)} names paths that do not exist:\n" + "\n".join(bad)


def readme_shell_blocks() -> list[tuple[str | None, str | None, str]]:
    """(marker kind, marker value, body) of each shell block of README.md."""
    lines = (REPO / "README.md").read_text().splitlines()
    out = []
    for start, lang, body in code_blocks("\n".join(lines)):
        if lang not in SHELL:
            continue
        prev = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        m = MARKER.match(prev)
        out.append((m.group(1), m.group(2), body) if m else (None, None, body))
    return out


def test_readme_has_shell_blocks_and_every_block_names_its_language():
    text = (REPO / "README.md").read_text()
    unlabelled = [body.splitlines()[:1] for _, lang, body in code_blocks(text) if not lang]
    assert not unlabelled, f"README.md has code blocks without a language (```text, ```yaml, ...): {unlabelled}"
    assert len(readme_shell_blocks()) >= 4


def test_every_readme_command_is_run_by_a_test_or_marked_not_runnable():
    problems = []
    for kind, value, body in readme_shell_blocks():
        first = body.strip().splitlines()[0] if body.strip() else "(empty)"
        if kind is None:
            problems.append(
                f"block starting `{first}` has no marker: put `<!-- run-by: tests/FILE.py::test_name -->` "
                f"or `<!-- not-run: REASON -->` (REASON one of {NOT_RUN_REASONS}) on the line before it"
            )
        elif kind == "not-run":
            if not value.startswith(NOT_RUN_REASONS):
                problems.append(f"block starting `{first}`: not-run reason '{value}' is not one of {NOT_RUN_REASONS}")
        else:
            path, _, name = value.partition("::")
            test_file = REPO / path
            if not (path.startswith("tests/") and test_file.is_file()):
                problems.append(f"block starting `{first}`: run-by names {path}, which is not a test file")
                continue
            source = test_file.read_text()
            if not re.search(rf"^def {re.escape(name)}\(", source, flags=re.M):
                problems.append(f"block starting `{first}`: {path} has no test {name}")
            elif "README.md" not in source:
                problems.append(f"block starting `{first}`: {path} does not read README.md")
    assert not problems, "README.md:\n" + "\n".join(problems)


def test_markers_elsewhere_are_well_formed():
    # the docs pages may mark their blocks too; a marker that is there must follow the scheme
    bad = []
    for page in PAGES:
        for line in page.read_text().splitlines():
            if "<!--" in line and ("run-by" in line or "not-run" in line):
                m = MARKER.match(line)
                if not m or (m.group(1) == "not-run" and not m.group(2).startswith(NOT_RUN_REASONS)):
                    bad.append(f"{page.relative_to(REPO)}: {line.strip()}")
    assert not bad, "malformed run markers:\n" + "\n".join(bad)


def test_the_link_checker_catches_what_it_should():
    # the checks above would pass vacuously if the patterns found nothing: they find the README's own
    text = (REPO / "README.md").read_text()
    assert "docs/configuration.md" in LINK.findall(text)
    assert "config/demo.yaml" in FOLDER_PATH.findall(text)
    assert "requirements-dev.txt" in FILE_PATH.findall(text)
    assert "quick-start" in anchors(REPO / "README.md")
    assert slug("`bench_cwt.py`: the scalogram engine") == "bench_cwtpy-the-scalogram-engine"
    assert slug("What holds on every machine") == "what-holds-on-every-machine"
