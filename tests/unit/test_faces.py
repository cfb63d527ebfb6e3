"""Every name a wing's lazy face lists resolves to what its module defines (not to a submodule)."""

from __future__ import annotations

import importlib
import types

import pytest

FACES = [
    "ecgcwt.config",
    "ecgcwt.data",
    "ecgcwt.data.download",
    "ecgcwt.imaging",
    "ecgcwt.evaluate",
    "ecgcwt.learn",
    "ecgcwt.learn.cnn2d",
    "ecgcwt.learn.baselines",
    "ecgcwt.apply",
]


@pytest.mark.parametrize("face", FACES)
def test_every_public_name_resolves(face):
    importlib.import_module("ecgcwt.config.load")  # imports config's submodules first, as common.smk does
    module = importlib.import_module(face)
    missing, modules = [], []
    for name in module.__all__:
        try:
            value = getattr(module, name)
        except AttributeError:
            missing.append(name)
            continue
        if isinstance(value, types.ModuleType):
            modules.append(name)
    assert not missing, f"{face} lists {missing}, which its modules do not define"
    assert not modules, f"{face}.{modules} resolve to a submodule of the same name, not the public object"
