"""Lazy public faces for the wings: ``from ecgcwt.data import read_record`` imports only what it names.

Each wing's ``__init__`` lists its public names and the module that defines
each one. A name is imported on first use (PEP 562 module ``__getattr__``),
so that a training job importing ``ecgcwt.learn`` does not pay for the
report's matplotlib, and the config check on a login node does not import
torch. ``__all__`` is the face: other wings, ``workflow/scripts`` and
``benchmarks`` import only these names.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_face(
    package: str, names: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package``; ``names`` maps a public name to its module (relative)."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        importlib.import_module(package).__dict__[name] = value  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return sorted(names), __getattr__, __dir__
