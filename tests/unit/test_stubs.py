"""The type stubs of the lazy public faces (``__init__.pyi``) name exactly the faces' names.

Each wing's ``__init__.py`` makes its names with :func:`ecgcwt._exports.lazy_face` (imported on
first use), which a type checker cannot follow; the ``__init__.pyi`` beside it imports each name
from its module, so mypy and editors see the public names and their types. The package ships
``py.typed``. A face changed without its stub fails here; rewrite the stubs with
``python -m tests.unit.test_stubs`` (it sorts their imports with ruff, as ``make format`` would).
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "ecgcwt"


def face_mapping(init: Path) -> dict[str, str] | None:
    """``name -> module`` of the ``lazy_face(...)`` call in a face's ``__init__.py`` (None: not a lazy face)."""
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_face":
            names = node.args[1]
            assert isinstance(names, ast.Dict), f"{init}: lazy_face's names must be a dict literal"
            return {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(names.keys, names.values)}
    return None


def faces() -> list[Path]:
    return [p for p in sorted(SRC.rglob("__init__.py")) if face_mapping(p) is not None]


def package_of(init: Path) -> str:
    return ".".join(init.parent.relative_to(SRC.parent).parts)


def stub_text(init: Path) -> str:
    package = package_of(init)
    names = face_mapping(init)
    lines = [f'"""Type stub of the lazy public face ``{package}`` (``__init__.py``): each name from its module."""', ""]
    lines += [
        f"from {package}{module} import {name} as {name}"
        for name, module in sorted(names.items(), key=lambda item: (item[1], item[0]))
    ]
    lines += ["", "__all__ = ["]
    lines += [f'    "{name}",' for name in sorted(names)]
    lines += ["]", ""]
    return "\n".join(lines)


def stub_names(stub: Path) -> tuple[dict[str, str], list[str]]:
    """``name -> module`` of a stub's ``from module import name as name`` lines, and its ``__all__``."""
    imported, exported = {}, []
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                assert alias.asname == alias.name, f"{stub}: {alias.name} must be re-exported as itself"
                imported[alias.name] = node.module
        elif isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]:
            exported = list(ast.literal_eval(node.value))
    return imported, exported


@pytest.mark.parametrize("init", faces(), ids=lambda p: package_of(p))
def test_each_face_has_a_stub_naming_exactly_its_names(init):
    stub = init.with_suffix(".pyi")
    assert stub.is_file(), f"{stub.relative_to(REPO)} is missing; run python -m tests.unit.test_stubs"
    package, names = package_of(init), face_mapping(init)
    imported, exported = stub_names(stub)
    assert imported == {name: package + module for name, module in names.items()}, (
        f"{stub.relative_to(REPO)} differs from the face in {init.name}; run python -m tests.unit.test_stubs"
    )
    assert sorted(exported) == sorted(names)
    face = importlib.import_module(package)
    assert sorted(face.__all__) == sorted(names)


def test_the_package_ships_py_typed_and_its_stubs():
    assert (SRC / "py.typed").is_file()
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["ecgcwt"] and "*.pyi" in data["*"]


def test_mypy_sees_a_lazy_faces_names_and_their_types(tmp_path):
    """Through the stubs a caller's wrong argument is caught; without them every face name would be Any."""
    api = pytest.importorskip("mypy.api", reason="mypy is in requirements-dev.txt (make lint runs it)")
    use = tmp_path / "use.py"
    use.write_text("from ecgcwt.config import run_table\n\nrows = run_table(['m'], [0], [0], 7)\n")
    out, err, status = api.run(
        [str(use), "--config-file", str(REPO / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache")]
    )
    assert status == 1, out + err
    assert 'Argument 4 to "run_table" has incompatible type "int"; expected "str"' in out


if __name__ == "__main__":  # rewrite every stub from its face
    import subprocess

    stubs = []
    for init in faces():
        stubs.append(init.with_suffix(".pyi"))
        stubs[-1].write_text(stub_text(init))
        print(stubs[-1].relative_to(REPO), file=sys.stderr)
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run([*ruff, "check", "--fix", "-q", "--select", "I", *map(str, stubs)], check=True, cwd=REPO)
    subprocess.run([*ruff, "format", "-q", *map(str, stubs)], check=True, cwd=REPO)
