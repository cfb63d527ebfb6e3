"""The shape of the package (docs/development.md, "How the code is organised"), checked on the source.

* imports between wings run one way: config -> data -> imaging -> evaluate -> learn -> apply
  (a wing imports only wings before it, and the shared top-level modules);
* ``workflow/scripts`` and ``benchmarks`` import only the wings' public faces (``__all__``);
* every public name of a face resolves, and none is shadowed by a submodule of the same name;
* the top level stays small and no module grows past 800 lines;
* a training job's import loads no scipy, wfdb, scikit-learn or matplotlib (start-up time).

Imports are read with ``ast`` (those inside functions too), so a lazy import that runs
against the order is caught without running it.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

from ..conftest import REPO

SRC = REPO / "src" / "ecgcwt"
WINGS = ("config", "data", "imaging", "evaluate", "learn", "apply")
#: top-level modules every wing may use (they import no wing)
SHARED = {"errors", "atomic", "logs", "_exports"}


def _modules(root: Path):
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _ecgcwt_imports(tree: ast.AST):
    """(module, names) of every ``import ecgcwt...`` / ``from ecgcwt... import`` in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ecgcwt" or node.module.startswith("ecgcwt."):
                yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ecgcwt."):
                    yield alias.name, []


def _wing_of(path: Path) -> str | None:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 and rel[0] in WINGS else None


def test_imports_between_wings_run_one_way():
    against = []
    for path, tree in _modules(SRC):
        wing = _wing_of(path)
        for module, _ in _ecgcwt_imports(tree):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else None
            if wing is None:
                if path.name in {f"{s}.py" for s in SHARED} and target in WINGS:
                    against.append(f"{path.relative_to(REPO)} (shared) imports {module}")
                continue
            if target in WINGS and WINGS.index(target) > WINGS.index(wing):
                against.append(f"{path.relative_to(REPO)} ({wing}) imports {module} ({target})")
            if target not in WINGS and target not in SHARED and target is not None and target != wing:
                against.append(f"{path.relative_to(REPO)} ({wing}) imports the top-level {module}")
    assert not against, "imports against the wing order:\n" + "\n".join(against)


def test_other_wings_scripts_and_benchmarks_use_only_public_faces():
    offenders = []
    places = [(p, t, _wing_of(p)) for p, t in _modules(SRC)]
    places += [(p, t, None) for root in (REPO / "workflow" / "scripts", REPO / "benchmarks") for p, t in _modules(root)]
    for path, tree, wing in places:
        for module, names in _ecgcwt_imports(tree):
            parts = module.split(".")
            if len(parts) < 2 or parts[1] not in WINGS or parts[1] == wing:
                continue
            if len(parts) > 2:
                offenders.append(f"{path.relative_to(REPO)}: {module} (a wing's inside)")
                continue
            face = importlib.import_module(module)
            hidden = [n for n in names if n not in face.__all__]
            offenders += [f"{path.relative_to(REPO)}: {module}.{n} is not public" for n in hidden]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("face", [*WINGS, "learn.cnn2d", "learn.baselines", "data.download"])
def test_every_public_name_resolves_and_no_submodule_shadows_one(face):
    package = importlib.import_module(f"ecgcwt.{face}")
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert not set(package.__all__) & submodules, "a public name equal to a submodule's is shadowed by it"
    for name in package.__all__:
        if face in ("learn", "learn.cnn2d", "apply") or "torch" in name.lower():
            pytest.importorskip("torch")
        assert getattr(package, name) is not None


def test_the_top_level_is_small_and_no_module_is_over_800_lines():
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert len(top) <= 8, top
    long = {str(p.relative_to(REPO)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 800}
    assert not long, long


def test_a_training_job_imports_no_scipy_wfdb_sklearn_or_matplotlib():
    """A training job's start-up is mostly imports; these four packages are not on its path.

    Measured on 2 cores: ``scipy.signal`` (reached through the segmentation code) alone
    added 1.4 s to every training job's start-up.
    """
    import subprocess
    import sys

    probe = (
        "import sys; from ecgcwt.learn import train_fold; "
        "print(' '.join(m for m in ('scipy', 'wfdb', 'sklearn', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "", f"importing the training job loads {out.stdout.strip()}"
