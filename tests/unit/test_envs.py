"""Software on compute nodes: every rule's conda env against what its script imports and against the pip lock.

Generic over the workflow: the rules are read from the Snakefile and
workflow/rules/*.smk, so a new rule is checked as soon as it exists. For every
rule with ``conda:`` and ``script:``:

- every third-party package its script imports at module level, directly or
  through the ``ecgcwt`` modules it imports (followed transitively), is in the
  rule's env;
- every package of the env is pinned with ``==`` to exactly the version of the
  lock the tests run with (requirements.txt, requirements-dev.txt), and so is
  every package of the lock that an env package pulls in (so nothing of the
  lock floats to another version in an env);
- an env holds nothing that none of its rules imports or needs (light envs:
  no torch outside the rules that use it).

The container recipes install the same lock.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from ecgcwt.config import EXTRA_BACKBONES

from ..conftest import REPO

SRC = REPO / "src"
LOCK_FILES = (REPO / "requirements.txt", REPO / "requirements-dev.txt")
#: rules that need the internet run on the submit host (localrules), never on an offline compute node
NETWORK_MODULES = {
    "urllib.request",
    "http.client",
    "requests",
    "aiohttp",
    "socket",
    "ecgcwt.data.download.physionet",
    "ecgcwt.learn.cnn2d.weights",
}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            pins.update(read_lock(path.parent / line[3:].strip()))
            continue
        name, sep, version = line.partition("==")
        assert sep, f"{path.name}: {raw!r} is not pinned with =="
        pins[normalise(name)] = version.strip()
    return pins


LOCK = {k: v for f in LOCK_FILES for k, v in read_lock(f).items()}


# ---------------------------------------------------------------- the workflow's rules, from the .smk files

RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
#: `use rule train as train_all with:` -- the new rule inherits every directive it does not override
USE_RULE_RE = re.compile(r"^use\s+rule\s+(\w+)\s+as\s+(\w+)(?:\s+with)?\s*:", re.M)
DIRECTIVE_RE = re.compile(r"^    (conda|script)\s*:\s*(?:\n\s+)?[rf]?([\"'])(.+?)\2", re.M)


def smk_files() -> list[Path]:
    return [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def parse_rules() -> dict[str, dict]:
    """rule name -> {"file", "body", "conda", "script"} (paths resolved like Snakemake: relative to the .smk file).

    A ``use rule A as B with:`` rule is A's directives updated with B's own, its body A's then B's.
    """
    rules, derived = {}, []
    for path in smk_files():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            m, use = RULE_RE.match(line), USE_RULE_RE.match(line)
            if not (m or use):
                continue
            body = []  # the rule's indented block
            for following in lines[i + 1 :]:
                if following.strip() and not following.startswith((" ", "\t")):
                    break
                body.append(following)
            rule = {"file": path, "body": "\n".join(body)}
            for d in DIRECTIVE_RE.finditer(rule["body"]):
                rule[d.group(1)] = (path.parent / d.group(3)).resolve()
            if m:
                rules[m.group(1)] = rule
            else:
                derived.append((use.group(1), use.group(2), rule))
    for base, name, rule in derived:
        rules[name] = {**rules[base], **rule, "body": rules[base]["body"] + "\n" + rule["body"]}
    return rules


def local_rules() -> set[str]:
    """Names in the `localrules:` directives (on the same line or the indented lines below)."""
    names: set[str] = set()
    for path in smk_files():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("localrules"):
                continue
            block = [line.split(":", 1)[1]]
            for following in lines[i + 1 :]:
                if following.strip() and not following.startswith((" ", "\t")):
                    break
                block.append(following.split("#", 1)[0])
            names.update(re.findall(r"\w+", " ".join(block)))
    return names


# ---------------------------------------------------------------- module-level imports, followed through ecgcwt


def module_imports(path: Path, package: str | None, anywhere: bool = False) -> set[str]:
    """Absolute names imported by the module's top-level statements (not inside functions or classes),
    or by any statement with ``anywhere``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()

    def visit(stmts):
        for node in stmts:
            if anywhere and not isinstance(node, (ast.Import, ast.ImportFrom)):
                visit(ast.iter_child_nodes(node))
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x / from .x import y
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    mod = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    mod = node.module
                found.add(mod)
                # `from pkg import submodule`: the submodule is imported too
                found.update(f"{mod}.{alias.name}" for alias in node.names)
                # `from wing import name`: a wing's face imports the module that defines the name
                face = face_modules(mod)
                found.update(f"{mod}{face[alias.name]}" for alias in node.names if alias.name in face)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):  # still module level
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for sub in getattr(node, field, []):
                        visit(sub.body if isinstance(sub, ast.ExceptHandler) else [sub])

    visit(tree.body)
    return found


@lru_cache(maxsize=None)
def face_modules(package: str) -> dict[str, str]:
    """A wing's lazy face (``ecgcwt._exports.lazy_face``): public name -> defining module, relative."""
    init = ecgcwt_file(package) if package.split(".")[0] == "ecgcwt" else None
    if init is None or init.name != "__init__.py":
        return {}
    return dict(re.findall(r'^\s+"(\w+)": "(\.[\w.]+)"', init.read_text(), re.M))


def ecgcwt_file(module: str) -> Path | None:
    parts = module.split(".")
    base = SRC.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


@lru_cache(maxsize=None)
def imports_of_script(script: Path, anywhere: bool = False) -> frozenset[str]:
    """Every module imported at module level by the script and, transitively, by the ecgcwt modules it imports
    (``anywhere``: imports inside functions too, i.e. everything the script may import when it runs)."""
    seen: set[str] = set()
    todo = [(script, None)]
    done: set[Path] = set()
    while todo:
        path, package = todo.pop()
        if path in done:
            continue
        done.add(path)
        for name in module_imports(path, package, anywhere):
            seen.add(name)
            if name.split(".")[0] != "ecgcwt":
                continue
            # importing ecgcwt.a.b runs ecgcwt/__init__.py, ecgcwt/a/__init__.py, then b
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                mod = ".".join(parts[:i])
                file = ecgcwt_file(mod)
                if file is not None:
                    pkg = mod if file.name == "__init__.py" else mod.rpartition(".")[0]
                    todo.append((file, pkg))
    return frozenset(seen)


#: Rules that classify new records with every kind that can (``ModelKind.predictor``).
PREDICTING_RULES = ("external",)


def imports_of_rule(rule: str, anywhere: bool = False) -> frozenset[str]:
    """:func:`imports_of_script` of the rule's script, plus (``anywhere``) the modules it imports by a registry
    entry when it runs: the learner of each model kind the rule trains (``ecgcwt.learn.train``), and for
    external validation every kind's predictor and the learner that wrote its model file (a model.joblib
    unpickles the learner's scikit-learn classes)."""
    from ecgcwt.config import MODEL_KINDS

    seen = set(imports_of_script(RULES[rule]["script"], anywhere))
    if anywhere:
        for kind in MODEL_KINDS.values():
            modules = []
            if kind.rule == rule:
                modules.append(kind.learner.partition(":")[0])
            if rule in PREDICTING_RULES and kind.predictor:
                modules += [kind.predictor.partition(":")[0], kind.learner.partition(":")[0]]
            for module in modules:
                seen |= {module} | imports_of_script(ecgcwt_file(module), anywhere)
    return frozenset(seen)


@lru_cache(maxsize=None)
def distributions_of(top_module: str) -> tuple[str, ...]:
    return tuple(normalise(d) for d in importlib.metadata.packages_distributions().get(top_module, ()))


def third_party(modules, optional_ok: bool = False) -> dict[str, str]:
    """top-level module -> its distribution, for the modules that are neither stdlib nor ecgcwt
    (``optional_ok``: leave out modules that are not installed, e.g. an optional backbone's)."""
    out = {}
    for name in modules:
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("ecgcwt", "__future__"):
            continue
        dists = distributions_of(top)
        if not dists and optional_ok:
            continue
        assert dists, f"cannot tell which package provides the module {top!r} (not installed in this venv?)"
        out[top] = dists[0]
    return out


def requirement_closure(names) -> set[str]:
    """The packages ``names`` pull in (installed metadata, extras left out), ``names`` included."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = normalise(todo.pop())
        if name in out:
            continue
        out.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(re.match(r"[A-Za-z0-9_.\-]+", req).group(0))
    return out


def read_env(path: Path) -> dict[str, str]:
    """pip package -> pinned version of a conda env file; its conda part may only be python and pip."""
    env = yaml.safe_load(path.read_text())
    pins: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, sep, version = line.partition("==")
                assert sep and version.strip(), f"{path.name}: pip package {line!r} is not pinned with =="
                pins[normalise(name)] = version.strip()
        else:
            assert re.fullmatch(r"python=3\.\d+|pip", dep), (
                f"{path.name}: conda package {dep!r}: the envs install the pip lock only (python and pip from conda)"
            )
    return pins


def conda_script_rules() -> dict[str, dict]:
    return {name: r for name, r in parse_rules().items() if "conda" in r and "script" in r}


RULES = conda_script_rules()


def test_the_smk_parser_sees_the_workflows_rules():
    # guards the parser itself: these rules exist and carry both directives
    for name in ("download_physionet", "synthetic_database", "segment", "folds", "scalograms", "gallery", "train"):
        assert name in RULES, sorted(RULES)
    assert RULES["segment"]["conda"] == REPO / "envs" / "data.yaml"
    assert RULES["train"]["script"] == REPO / "workflow" / "scripts" / "train.py"
    assert {"download_physionet", "weights"} <= local_rules()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_env_has_every_package_its_script_imports_at_the_locks_pin(rule):
    r = RULES[rule]
    assert r["conda"].is_file(), f"rule {rule}: conda env {r['conda']} does not exist"
    env = read_env(r["conda"])
    needed = third_party(imports_of_script(r["script"]))
    missing = {mod: dist for mod, dist in needed.items() if dist not in env}
    assert not missing, (
        f"rule {rule} ({r['script'].name}) imports {sorted(missing)} but {r['conda'].relative_to(REPO)} lacks "
        f"{sorted(set(missing.values()))}; add them at the pins of requirements.txt"
    )
    off = {name: (version, LOCK.get(name)) for name, version in env.items() if LOCK.get(name) != version}
    assert not off, f"{r['conda'].relative_to(REPO)}: pins differ from the lock (env, lock): {off}"
    floating = sorted(p for p in requirement_closure(env) if p in LOCK and p not in env)
    assert not floating, (
        f"{r['conda'].relative_to(REPO)}: its packages pull in {floating}, which the lock pins; pin them in the env"
    )


def test_envs_are_light():
    # an env holds only what the rules using it import (inside functions too: e.g. matplotlib for the
    # gallery), plus the lock's packages those pull in
    by_env: dict[Path, set[str]] = {}
    for rule, r in RULES.items():
        imported = third_party(imports_of_rule(rule, anywhere=True), optional_ok=True)
        by_env.setdefault(r["conda"], set()).update(imported.values())
    for env_path, imported in by_env.items():
        env = read_env(env_path)
        allowed = requirement_closure(imported)
        if "torchvision" in env:
            # backbone families outside torchvision are imported by name (ecgcwt.config.EXTRA_BACKBONES)
            allowed |= {p for family in EXTRA_BACKBONES.values() for p in family.pip.split()}
        extra = sorted(set(env) - allowed)
        assert not extra, f"{env_path.relative_to(REPO)}: {extra} are imported by none of its rules; remove them"
    unused = sorted(p.name for p in (REPO / "envs").glob("*.yaml") if p.resolve() not in by_env)
    assert not unused, f"envs used by no rule: {unused}"


def test_torch_only_in_the_envs_of_rules_that_import_it():
    for rule, r in RULES.items():
        imports_torch = "torch" in third_party(imports_of_script(r["script"]))
        if not imports_torch:
            assert "torch" not in read_env(r["conda"]) or any(
                "torch" in third_party(imports_of_script(o["script"]))
                for o in RULES.values()
                if o["conda"] == r["conda"]
            ), f"rule {rule}: its env has torch, which none of the env's rules imports"
    assert "torch" not in read_env(REPO / "envs" / "data.yaml")


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rules_that_need_the_network_are_local_rules(rule):
    # a compute node may be offline: downloads happen on the submit host (localrules) or a login node
    net = sorted(m for m in imports_of_script(RULES[rule]["script"]) if m in NETWORK_MODULES)
    if net:
        assert rule in local_rules(), f"rule {rule} imports {net} (network) but is not a localrule"


def test_container_recipes_install_the_lock():
    for recipe in (REPO / "containers" / "ecgcwt.def", REPO / "containers" / "Dockerfile"):
        text = recipe.read_text()
        # the same lock as the venv and the tests; a fixed Python base image
        assert "requirements.txt" in text, recipe
        assert re.search(r"python:3\.11\.\d+-slim-bookworm", text), recipe
        assert re.search(r"pip install -r /opt/ecgcwt/requirements\.txt", text), recipe
    snakefile = (REPO / "Snakefile").read_text()
    assert re.search(r"^container:\s", snakefile, re.M), "the Snakefile has no top-level container: directive"
