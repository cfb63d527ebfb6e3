"""Type stub of the lazy public face ``ecgcwt.learn`` (``__init__.py``): each name from its module."""

from ecgcwt.learn.augment import SIGNAL_AUGMENTATIONS as SIGNAL_AUGMENTATIONS
from ecgcwt.learn.augment import AugmentPlan as AugmentPlan
from ecgcwt.learn.augment import AugmentSettings as AugmentSettings
from ecgcwt.learn.augment import augment_settings as augment_settings
from ecgcwt.learn.augment import augment_signals as augment_signals
from ecgcwt.learn.augment import draw_plan as draw_plan
from ecgcwt.learn.augment import time_stretch as time_stretch
from ecgcwt.learn.balance import CLASS_BALANCE as CLASS_BALANCE
from ecgcwt.learn.balance import balanced_order as balanced_order
from ecgcwt.learn.balance import class_counts as class_counts
from ecgcwt.learn.balance import class_weights as class_weights
from ecgcwt.learn.baselines import Cnn1dLearner as Cnn1dLearner
from ecgcwt.learn.baselines import WaveletLearner as WaveletLearner
from ecgcwt.learn.baselines import load_cnn1d as load_cnn1d
from ecgcwt.learn.baselines import load_wavelet_model as load_wavelet_model
from ecgcwt.learn.baselines import signal_logits as signal_logits
from ecgcwt.learn.baselines import wavelet_features as wavelet_features
from ecgcwt.learn.calibration import CALIBRATE as CALIBRATE
from ecgcwt.learn.calibration import fit_temperature as fit_temperature
from ecgcwt.learn.calibration import mean_nll as mean_nll
from ecgcwt.learn.calibration import softmax as softmax
from ecgcwt.learn.cnn2d import IMAGENET_MEAN as IMAGENET_MEAN
from ecgcwt.learn.cnn2d import IMAGENET_STD as IMAGENET_STD
from ecgcwt.learn.cnn2d import BatchFeeder as BatchFeeder
from ecgcwt.learn.cnn2d import BuiltModel as BuiltModel
from ecgcwt.learn.cnn2d import Cnn2dLearner as Cnn2dLearner
from ecgcwt.learn.cnn2d import InMemoryImages as InMemoryImages
from ecgcwt.learn.cnn2d import ScalogramDataset as ScalogramDataset
from ecgcwt.learn.cnn2d import SignalImageFeeder as SignalImageFeeder
from ecgcwt.learn.cnn2d import StreamingImages as StreamingImages
from ecgcwt.learn.cnn2d import build_model as build_model
from ecgcwt.learn.cnn2d import choose_numerics as choose_numerics
from ecgcwt.learn.cnn2d import fetch_imagenet_weights as fetch_imagenet_weights
from ecgcwt.learn.cnn2d import open_image_source as open_image_source
from ecgcwt.learn.cnn2d import predict_logits as predict_logits
from ecgcwt.learn.cnn2d import predict_probabilities as predict_probabilities
from ecgcwt.learn.cnn2d import resolve_device as resolve_device
from ecgcwt.learn.cnn2d import train_fold as train_fold
from ecgcwt.learn.loop import Checkpoint as Checkpoint
from ecgcwt.learn.loop import TrainingInterrupted as TrainingInterrupted
from ecgcwt.learn.loop import create_optimizer as create_optimizer
from ecgcwt.learn.loop import create_scheduler as create_scheduler
from ecgcwt.learn.loop import fit_epochs as fit_epochs
from ecgcwt.learn.loop import run_identity as run_identity
from ecgcwt.learn.loop import train_one_epoch as train_one_epoch
from ecgcwt.learn.runner import SPLITS as SPLITS
from ecgcwt.learn.runner import FoldData as FoldData
from ecgcwt.learn.runner import Learner as Learner
from ecgcwt.learn.runner import epoch_seed as epoch_seed
from ecgcwt.learn.runner import random_window_split as random_window_split
from ecgcwt.learn.runner import run_fold as run_fold
from ecgcwt.learn.runner import split_rows as split_rows
from ecgcwt.learn.runner import split_subjects as split_subjects
from ecgcwt.learn.train import build_learner as build_learner
from ecgcwt.learn.train import learner_class as learner_class
from ecgcwt.learn.train import train_model as train_model

__all__ = [
    "AugmentPlan",
    "AugmentSettings",
    "BatchFeeder",
    "BuiltModel",
    "CALIBRATE",
    "CLASS_BALANCE",
    "Checkpoint",
    "Cnn1dLearner",
    "Cnn2dLearner",
    "FoldData",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "InMemoryImages",
    "Learner",
    "SIGNAL_AUGMENTATIONS",
    "SPLITS",
    "ScalogramDataset",
    "SignalImageFeeder",
    "StreamingImages",
    "TrainingInterrupted",
    "WaveletLearner",
    "augment_settings",
    "augment_signals",
    "balanced_order",
    "build_learner",
    "build_model",
    "choose_numerics",
    "class_counts",
    "class_weights",
    "create_optimizer",
    "create_scheduler",
    "draw_plan",
    "epoch_seed",
    "fetch_imagenet_weights",
    "fit_epochs",
    "fit_temperature",
    "learner_class",
    "load_cnn1d",
    "load_wavelet_model",
    "mean_nll",
    "open_image_source",
    "predict_logits",
    "predict_probabilities",
    "random_window_split",
    "resolve_device",
    "run_fold",
    "run_identity",
    "signal_logits",
    "softmax",
    "split_rows",
    "split_subjects",
    "time_stretch",
    "train_fold",
    "train_model",
    "train_one_epoch",
    "wavelet_features",
]
