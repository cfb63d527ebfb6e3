"""New records classified by the models that read the raw signal: the 1D CNN and the wavelet baseline.

Their model files (``model.pt`` of the 1D CNN, ``model.joblib`` of the wavelet
baseline) carry the classes and the segmentation of their training
(``meta["preprocessing"]``); a record is cut into windows exactly as for a
scalogram CNN (:func:`ecgcwt.apply.predict.iter_record_batches`), and each
window goes to the model as it went in training: the 1D CNN's softmax of
``logits / temperature``, the wavelet pipeline's ``predict_proba``. So
``ecgcwt predict`` and external validation give every kind the same output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ecgcwt.data import preprocessing_from_attrs
from ecgcwt.errors import DataError, EcgCwtError


@dataclass
class SignalModel:
    """A trained model that classifies raw windows (n, window) of a record, resampled to its rate."""

    path: Path
    kind: str
    meta: dict
    classes: list[str]
    prep: dict
    #: float32 windows (n, window), batch size -> probabilities (n, classes)
    classify: Callable[[np.ndarray, int], np.ndarray]
    #: an ensemble's models (this one first), all with the same kind, classes and preprocessing; () for one model
    members: tuple = ()

    @property
    def paths(self) -> list[Path]:
        """The model file(s): one, or every member of an ensemble."""
        return [m.path for m in self.members] if self.members else [self.path]

    def probabilities(self, windows: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (n, classes) of float32 windows; an ensemble's are the mean of its members'."""
        if self.members:
            return np.mean([m.classify(windows, batch_size) for m in self.members], axis=0)
        return self.classify(windows, batch_size)

    def preparation(self) -> dict:
        """What the members of an ensemble must share: the kind, the classes and the segmentation."""
        return {"kind": self.kind, "classes": self.classes, "preprocessing": self.prep}


def _preprocessing(path: Path, meta: dict) -> dict:
    """The model's segmentation: ``meta["preprocessing"]``, else its rate and window with the defaults."""
    prep = meta.get("preprocessing")
    if prep:
        return dict(prep)
    missing = [k for k in ("fs", "window", "classes") if k not in meta]
    if missing:
        from ecgcwt.apply.predict import ModelFileError

        raise ModelFileError(f"model file {str(path)!r} lacks meta {', '.join(missing)}: retrain the model")
    # written before model files carried their segmentation: hop = window, every lead, default limits
    return preprocessing_from_attrs({"fs": meta["fs"], "window": meta["window"]})


def _check_windows(windows: np.ndarray, window: int, kind: str) -> np.ndarray:
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim != 2 or windows.shape[1] != window:
        raise DataError(f"a {kind} model takes windows of {window} samples, got an array of shape {windows.shape}")
    return windows


def cnn1d_predictor(path: Path, saved: dict, device: str = "cpu") -> SignalModel:
    """A 1D-CNN ``model.pt`` (``saved``: its content, read with weights only) as a :class:`SignalModel`."""
    from ecgcwt.learn import load_cnn1d, resolve_device, signal_logits, softmax

    meta = saved["meta"]
    prep = _preprocessing(path, meta)
    dev = resolve_device(device)
    try:
        net, meta = load_cnn1d(path, device=str(dev))
    except (EcgCwtError, KeyError, RuntimeError) as exc:
        from ecgcwt.apply.predict import ModelFileError, exception_line

        first = exception_line(exc)
        raise ModelFileError(f"model file {str(path)!r}: not a usable 1D-CNN model ({first}); retrain it") from None
    temperature = float(meta.get("temperature", 1.0))
    window = int(prep["window"])

    def classify(windows: np.ndarray, batch_size: int) -> np.ndarray:
        x = _check_windows(windows, window, "cnn1d")
        return softmax(signal_logits(net, x, batch_size=max(1, int(batch_size)), device=dev), temperature)

    return SignalModel(path, "cnn1d", meta, list(meta["classes"]), prep, classify)


def wavelet_predictor(path: Path, saved: dict, device: str = "cpu") -> SignalModel:
    """A wavelet baseline's ``model.joblib`` (``saved``: its unpickled content) as a :class:`SignalModel`.

    The pipeline either takes raw windows itself (it computes the features) or the
    sub-band features of :func:`ecgcwt.learn.wavelet_features`: its ``n_features_in_`` says which.
    """
    from ecgcwt.learn import wavelet_features

    pipeline, meta = saved.get("pipeline"), saved["meta"]
    if pipeline is None or not hasattr(pipeline, "predict_proba"):
        from ecgcwt.apply.predict import ModelFileError

        raise ModelFileError(f"model file {str(path)!r} holds no fitted classifier ('pipeline'): retrain the model")
    prep = _preprocessing(path, meta)
    window, classes = int(prep["window"]), list(meta["classes"])
    takes_windows = getattr(pipeline, "n_features_in_", None) == window
    # the classes the classifier saw in training (indices into ``classes``); one never seen gets probability 0
    seen = np.asarray(pipeline.classes_, dtype=np.int64)

    def classify(windows: np.ndarray, batch_size: int) -> np.ndarray:
        x = _check_windows(windows, window, "wavelet")
        out = np.zeros((len(x), len(classes)))
        if len(x):
            inputs = x if takes_windows else wavelet_features(x, meta["wavelet"], meta["level"])
            out[:, seen] = pipeline.predict_proba(inputs)
        return out

    return SignalModel(path, "wavelet", meta, classes, prep, classify)


__all__ = ["SignalModel", "cnn1d_predictor", "wavelet_predictor"]
