"""Type stub of the lazy public face ``ecgcwt.learn.baselines`` (``__init__.py``): each name from its module."""

from ecgcwt.learn.baselines.cnn1d import Cnn1dLearner as Cnn1dLearner
from ecgcwt.learn.baselines.cnn1d import load_cnn1d as load_cnn1d
from ecgcwt.learn.baselines.cnn1d import signal_logits as signal_logits
from ecgcwt.learn.baselines.common import BaselineConfigError as BaselineConfigError
from ecgcwt.learn.baselines.common import check_train_rows as check_train_rows
from ecgcwt.learn.baselines.common import check_window as check_window
from ecgcwt.learn.baselines.common import fold_labels as fold_labels
from ecgcwt.learn.baselines.common import scores as scores
from ecgcwt.learn.baselines.wavelet import WaveletFeatures as WaveletFeatures
from ecgcwt.learn.baselines.wavelet import WaveletLearner as WaveletLearner
from ecgcwt.learn.baselines.wavelet import feature_names as feature_names
from ecgcwt.learn.baselines.wavelet import load_wavelet_model as load_wavelet_model
from ecgcwt.learn.baselines.wavelet import wavelet_features as wavelet_features

__all__ = [
    "BaselineConfigError",
    "Cnn1dLearner",
    "WaveletFeatures",
    "WaveletLearner",
    "check_train_rows",
    "check_window",
    "feature_names",
    "fold_labels",
    "load_cnn1d",
    "load_wavelet_model",
    "scores",
    "signal_logits",
    "wavelet_features",
]
