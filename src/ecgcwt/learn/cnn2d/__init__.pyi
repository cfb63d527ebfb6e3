"""Type stub of the lazy public face ``ecgcwt.learn.cnn2d`` (``__init__.py``): each name from its module."""

from ecgcwt.learn.cnn2d.backbones import IMAGENET_MEAN as IMAGENET_MEAN
from ecgcwt.learn.cnn2d.backbones import IMAGENET_STD as IMAGENET_STD
from ecgcwt.learn.cnn2d.backbones import STRATEGIES as STRATEGIES
from ecgcwt.learn.cnn2d.backbones import BuiltModel as BuiltModel
from ecgcwt.learn.cnn2d.backbones import build_model as build_model
from ecgcwt.learn.cnn2d.backbones import replace_head as replace_head
from ecgcwt.learn.cnn2d.backbones import set_train_mode as set_train_mode
from ecgcwt.learn.cnn2d.backbones import supported_backbones as supported_backbones
from ecgcwt.learn.cnn2d.dataset import ScalogramDataset as ScalogramDataset
from ecgcwt.learn.cnn2d.dataset import make_loader as make_loader
from ecgcwt.learn.cnn2d.feeding import BatchFeeder as BatchFeeder
from ecgcwt.learn.cnn2d.feeding import InMemoryImages as InMemoryImages
from ecgcwt.learn.cnn2d.feeding import StreamingImages as StreamingImages
from ecgcwt.learn.cnn2d.feeding import open_image_source as open_image_source
from ecgcwt.learn.cnn2d.feeding import predict_logits as predict_logits
from ecgcwt.learn.cnn2d.feeding import predict_probabilities as predict_probabilities
from ecgcwt.learn.cnn2d.feeding import roll_columns as roll_columns
from ecgcwt.learn.cnn2d.learner import HISTORY_COLUMNS as HISTORY_COLUMNS
from ecgcwt.learn.cnn2d.learner import Cnn2dLearner as Cnn2dLearner
from ecgcwt.learn.cnn2d.learner import TrainingInterrupted as TrainingInterrupted
from ecgcwt.learn.cnn2d.learner import resolve_training_config as resolve_training_config
from ecgcwt.learn.cnn2d.learner import train_fold as train_fold
from ecgcwt.learn.cnn2d.numerics import Numerics as Numerics
from ecgcwt.learn.cnn2d.numerics import choose_numerics as choose_numerics
from ecgcwt.learn.cnn2d.numerics import cpu_has_native_bf16 as cpu_has_native_bf16
from ecgcwt.learn.cnn2d.numerics import resolve_device as resolve_device
from ecgcwt.learn.cnn2d.numerics import resolve_precision as resolve_precision
from ecgcwt.learn.cnn2d.signal_images import SignalImageFeeder as SignalImageFeeder
from ecgcwt.learn.cnn2d.weights import fetch_imagenet_weights as fetch_imagenet_weights
from ecgcwt.learn.cnn2d.weights import imagenet_weights_url as imagenet_weights_url

__all__ = [
    "BatchFeeder",
    "BuiltModel",
    "Cnn2dLearner",
    "HISTORY_COLUMNS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "InMemoryImages",
    "Numerics",
    "STRATEGIES",
    "ScalogramDataset",
    "SignalImageFeeder",
    "StreamingImages",
    "TrainingInterrupted",
    "build_model",
    "choose_numerics",
    "cpu_has_native_bf16",
    "fetch_imagenet_weights",
    "imagenet_weights_url",
    "make_loader",
    "open_image_source",
    "predict_logits",
    "predict_probabilities",
    "replace_head",
    "resolve_device",
    "resolve_precision",
    "resolve_training_config",
    "roll_columns",
    "set_train_mode",
    "supported_backbones",
    "train_fold",
]
