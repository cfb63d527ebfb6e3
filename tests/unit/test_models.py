"""Backbones by name, the generic head replacement, weight sources and strategies."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from ecgcwt.errors import ConfigError
from ecgcwt.learn.cnn2d.backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_model,
    replace_head,
    set_train_mode,
    supported_backbones,
)

# At least ten architectures whose heads live in different places:
# fc, classifier[1] conv, classifier[-1], classifier[3], densenet "classifier", ...
BACKBONES = [
    "googlenet",
    "squeezenet1_1",
    "resnet18",
    "resnet50",
    "alexnet",
    "mobilenet_v3_small",
    "mobilenet_v2",
    "efficientnet_b0",
    "densenet121",
    "shufflenet_v2_x1_0",
    "convnext_tiny",
    "regnet_y_400mf",
    "mnasnet0_5",
]


@pytest.fixture(autouse=True)
def _two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_builds_with_new_head(name):
    torch.manual_seed(0)
    built = build_model(name, 3, pretrained="none", image_size=64)
    built.model.eval()
    with torch.no_grad():
        out = built.model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 3)  # a plain tensor: no auxiliary outputs (googlenet)
    assert built.mean == IMAGENET_MEAN and built.std == IMAGENET_STD
    # exactly one dropout of the configured rate right before the new classifier
    head = [built.model.get_submodule(n) for n in built.head_names]
    drops = [m for h in head for m in h.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in drops] == [0.6]
    classifiers = [m for h in head for m in h.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(classifiers) == 1
    assert getattr(classifiers[0], "out_features", getattr(classifiers[0], "out_channels", None)) == 3


def test_squeezenet_keeps_relu_and_pooling_after_its_conv_head():
    built = build_model("squeezenet1_1", 4, pretrained="none", dropout=0.3)
    cls = built.model.classifier
    assert isinstance(cls[1], nn.Conv2d) and cls[1].out_channels == 4 and cls[1].kernel_size == (1, 1)
    assert isinstance(cls[2], nn.ReLU) and isinstance(cls[3], nn.AdaptiveAvgPool2d)
    assert cls[0].p == 0.3
    assert built.head_names == ["classifier.0", "classifier.1"]


def test_resnet_gets_a_dropout_inserted_before_fc():
    built = build_model("resnet18", 3, pretrained="none", dropout=0.25)
    fc = built.model.fc
    assert isinstance(fc, nn.Sequential) and isinstance(fc[0], nn.Dropout) and fc[0].p == 0.25
    assert fc[1].in_features == 512 and fc[1].out_features == 3


def test_googlenet_has_no_auxiliary_heads():
    built = build_model("googlenet", 3, pretrained="none")
    assert built.model.aux_logits is False and built.model.aux1 is None and built.model.aux2 is None
    built.model.train()
    out = built.model(torch.randn(2, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3)


def test_unknown_backbone_lists_supported_names():
    with pytest.raises(ConfigError) as err:
        build_model("resnet19", 3, pretrained="none")
    assert "resnet18" in str(err.value) and "googlenet" in str(err.value)
    assert "resnet19" in str(err.value)
    assert len(supported_backbones()) >= 10


def test_bad_strategy_and_dropout_are_config_errors():
    with pytest.raises(ConfigError, match="strategy"):
        build_model("resnet18", 3, pretrained="none", strategy="finetune_all")
    with pytest.raises(ConfigError, match="dropout"):
        build_model("resnet18", 3, pretrained="none", dropout=1.0)


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError) as err:
        build_model("resnet18", 3, pretrained=str(missing))
    assert str(missing) in str(err.value) and "imagenet" in str(err.value)


def test_weights_file_is_loaded_before_the_head_is_replaced(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)  # full 1000-class model, as torchvision saves it
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    built = build_model("resnet18", 3, pretrained=str(path))
    assert built.weights_source == str(path)
    assert torch.equal(built.model.conv1.weight, reference.conv1.weight)
    assert torch.equal(built.model.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert built.model.fc[1].out_features == 3


def test_googlenet_weights_file_with_aux_heads(tmp_path):
    # torchvision's googlenet ImageNet file contains the aux heads; emulate it without a download
    torch.manual_seed(2)
    reference = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    built = build_model("googlenet", 3, pretrained=str(path))
    assert built.model.aux1 is None and built.model.transform_input is True
    assert built.model_kwargs["transform_input"] is True  # needed to rebuild the same model later
    assert torch.equal(built.model.conv1.conv.weight, reference.conv1.conv.weight)


def test_wrong_architecture_weights_file(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ConfigError, match="does not match"):
        build_model("resnet50", 3, pretrained=str(path))


def test_scratch_ignores_pretrained(tmp_path):
    built = build_model("resnet18", 3, pretrained=str(tmp_path / "missing.pth"), strategy="scratch")
    assert built.weights_source == "none"


def test_linear_probe_freezes_backbone_and_keeps_bn_in_eval():
    built = build_model("resnet18", 3, pretrained="none", strategy="linear_probe")
    trainable = [n for n, p in built.model.named_parameters() if p.requires_grad]
    assert trainable == ["fc.1.weight", "fc.1.bias"]
    set_train_mode(built, "linear_probe")
    assert built.model.fc.training and not built.model.bn1.training and not built.model.layer1.training
    before = built.model.bn1.running_mean.clone()
    built.model(torch.randn(4, 3, 32, 32))
    assert torch.equal(before, built.model.bn1.running_mean)  # frozen statistics
    set_train_mode(built, "finetune")
    assert built.model.bn1.training


def test_replace_head_refuses_a_model_without_imagenet_classifier():
    with pytest.raises(ConfigError, match="1000-class"):
        replace_head(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 10)), 3, 0.5)


def test_image_smaller_than_architecture_minimum():
    with pytest.raises(ConfigError, match="cwt.image.size"):
        build_model("inception_v3", 3, pretrained="none", image_size=32)
