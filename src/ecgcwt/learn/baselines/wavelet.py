"""Wavelet-feature baseline: discrete-wavelet sub-band statistics + a scikit-learn classifier.

Each window (float32 mV from the segment store, no normalisation) is
decomposed with :func:`pywt.wavedec` (``mode="symmetric"``, PyWavelets'
default) into ``level + 1`` sub-bands ``A{level}, D{level}, ..., D1``; the
level is capped at :func:`pywt.dwt_max_level` for the window length. Per
sub-band ``c`` (:data:`BAND_STATS`):

``mean_abs``       mean |c|
``std``            standard deviation of c (population, ``ddof=0``)
``rel_energy``     sum c² over the sum of c² of all sub-bands (energy share)
``log_energy``     ln(mean c² + 1e-12)
``entropy``        Shannon entropy of the energy distribution p = c²/sum c², over ln(len c) (0..1)
``skewness``       third standardised moment (biased, as ``scipy.stats.skew``)
``kurtosis``       excess kurtosis (biased, Fisher, as ``scipy.stats.kurtosis``)
``zero_crossings`` sign changes of c - mean(c)

and of the window ``x`` itself (:data:`TIME_STATS`, beat-detection free):
``mean``, ``std``, ``range`` (max - min), ``skewness``, ``kurtosis``,
``zero_crossings`` (of x - mean x) and ``mean_abs_diff`` (mean |x[t+1] - x[t]|).
Moments of a (numerically) constant band are 0 rather than NaN, so every
feature is finite. db4 at level 5 gives 6 x 8 + 7 = 55 features.

This is the kind of model MathWorks' wavelet-based ECG classification example
uses (wavelet-variance/entropy/energy features + SVM, ~99% accuracy with
windows split at random; here the folds keep each subject on one side).

The model is one :class:`sklearn.pipeline.Pipeline`: :class:`WaveletFeatures`
(raw windows in, the features above out), a
:class:`~sklearn.preprocessing.StandardScaler` and either
``LogisticRegression(class_weight="balanced")`` or an RBF ``SVC(class_weight=
"balanced")`` whose decision values are mapped to probabilities by Platt
scaling on stratified folds of the training windows
(``CalibratedClassifierCV(SVC, ensemble=False)``, scikit-learn's replacement of
the deprecated ``SVC(probability=True)``). It is fitted on the training rows
only; the validation rows are scored in the history, never used to fit.
So ``model.joblib`` classifies raw windows by itself (``pipeline.predict_proba(windows)``),
with the features its training computed. While fitting, the learner reads the
segment store batch by batch and keeps only the feature matrix: the scaler and the
classifier are fitted on it, the feature step needs nothing but the window length.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pywt
from sklearn.base import BaseEstimator, TransformerMixin

from ecgcwt import __version__
from ecgcwt.atomic import atomic_path
from ecgcwt.config import MODEL_KINDS
from ecgcwt.data import iter_signal_batches, read_info, read_source_facts
from ecgcwt.errors import DataError
from ecgcwt.learn.baselines.common import BaselineConfigError, check_train_rows, check_window, fold_labels, scores

if TYPE_CHECKING:
    from ecgcwt.learn.runner import FoldData

#: Statistics of every sub-band, in feature order.
BAND_STATS = ("mean_abs", "std", "rel_energy", "log_energy", "entropy", "skewness", "kurtosis", "zero_crossings")
#: Statistics of the window itself, after the sub-band features.
TIME_STATS = ("mean", "std", "range", "skewness", "kurtosis", "zero_crossings", "mean_abs_diff")

CLASSIFIERS = ("logistic_regression", "svm")
#: The settings and defaults of the ``wavelet`` kind: one source, the model-kind registry.
DEFAULT_SPEC = dict(MODEL_KINDS["wavelet"].settings)

#: Windows read and featurised at a time (1024 x 1024 samples x 8 B = 8 MB of float64 at once).
FEATURE_BATCH = 1024
#: Folds of the SVM's Platt scaling (fewer when a class has fewer training windows).
SVM_CALIBRATION_FOLDS = 5

_LOG_EPS = 1e-12


# --------------------------------------------------------------------------- features


def _wavelet(name: str) -> pywt.Wavelet:
    if name not in pywt.wavelist(kind="discrete"):
        raise BaselineConfigError(
            f"wavelet {name!r} is not a discrete wavelet of PyWavelets; use one of pywt.wavelist(kind='discrete'), "
            "e.g. db4, sym8, coif3"
        )
    return pywt.Wavelet(name)


def effective_level(window: int, wavelet: str, level: int) -> int:
    """``level`` capped at :func:`pywt.dwt_max_level` for windows of ``window`` samples."""
    max_level = pywt.dwt_max_level(int(window), _wavelet(wavelet).dec_len)
    if max_level < 1:
        raise DataError(
            f"windows of {window} samples are too short for one level of the {wavelet} wavelet "
            f"(filter length {_wavelet(wavelet).dec_len}); use longer windows or a shorter wavelet"
        )
    return min(int(level), max_level)


def band_names(level: int) -> list[str]:
    """Sub-band names in :func:`pywt.wavedec` order: ``A{level}, D{level}, ..., D1``."""
    return [f"A{level}"] + [f"D{j}" for j in range(level, 0, -1)]


def feature_names(wavelet: str, level: int, window: int | None = None) -> list[str]:
    """Names of :func:`wavelet_features`' columns (``{band}_{stat}``, then ``time_{stat}``).

    With ``window`` the level is first capped as :func:`wavelet_features` caps
    it for windows of that length.
    """
    _wavelet(wavelet)
    if window is not None:
        level = effective_level(window, wavelet, level)
    return [f"{b}_{s}" for b in band_names(int(level)) for s in BAND_STATS] + [f"time_{s}" for s in TIME_STATS]


def _moments(c: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise mean, std, skewness, excess kurtosis and zero crossings (about the mean) of ``c`` (n, m)."""
    mu = c.mean(axis=1)
    d = c - mu[:, None]
    d2 = d * d
    m2 = d2.mean(axis=1)
    m3 = (d2 * d).mean(axis=1)
    m4 = (d2 * d2).mean(axis=1)
    # a band that is constant up to rounding has no shape: moments 0, not NaN or rounding noise
    ok = m2 > 1e-12 * (c * c).mean(axis=1) + 1e-30
    safe = np.where(ok, m2, 1.0)
    skew = np.where(ok, m3 / safe**1.5, 0.0)
    kurt = np.where(ok, m4 / safe**2 - 3.0, 0.0)
    zc = np.where(ok, np.count_nonzero(np.diff(np.signbit(d), axis=1), axis=1), 0)
    return mu, np.sqrt(m2), skew, kurt, zc.astype(np.float64)


def wavelet_features(signals: np.ndarray, wavelet: str = "db4", level: int = 5) -> np.ndarray:
    """Features of each window: ``(n, n_features)`` float64, columns as :func:`feature_names`.

    ``signals``: ``(n, window)`` (or one window, ``(window,)``). The level is
    capped at :func:`pywt.dwt_max_level` for ``window``.
    """
    x = np.asarray(signals, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"signals must have shape (n, window), got {np.shape(signals)}")
    lev = effective_level(x.shape[1], wavelet, level)
    n_features = (lev + 1) * len(BAND_STATS) + len(TIME_STATS)
    if len(x) == 0:
        return np.empty((0, n_features))
    coeffs = pywt.wavedec(x, _wavelet(wavelet), mode="symmetric", level=lev, axis=-1)
    energies = [np.sum(c * c, axis=1) for c in coeffs]
    total = np.sum(energies, axis=0)
    cols: list[np.ndarray] = []
    for c, e in zip(coeffs, energies):
        mu, sd, skew, kurt, zc = _moments(c)
        p = c * c / np.where(e > 0, e, 1.0)[:, None]
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        entropy = -plogp.sum(axis=1) / np.log(c.shape[1]) if c.shape[1] > 1 else np.zeros(len(c))
        cols += [
            np.abs(c).mean(axis=1),
            sd,
            e / np.where(total > 0, total, 1.0),
            np.log(e / c.shape[1] + _LOG_EPS),
            entropy,
            skew,
            kurt,
            zc,
        ]
    mu, sd, skew, kurt, zc = _moments(x)
    cols += [mu, sd, x.max(axis=1) - x.min(axis=1), skew, kurt, zc, np.abs(np.diff(x, axis=1)).mean(axis=1)]
    return np.stack(cols, axis=1)


class WaveletFeatures(TransformerMixin, BaseEstimator):
    """The first step of the wavelet pipeline: windows ``(n, window)`` -> :func:`wavelet_features` ``(n, n_features)``.

    ``fit`` learns nothing but the window length (``n_features_in_``; zero rows
    will do); ``transform`` works :data:`FEATURE_BATCH` windows at a time, so its
    float64 copies stay small whatever the number of windows.
    """

    def __init__(self, wavelet: str = "db4", level: int = 5) -> None:
        self.wavelet = wavelet
        self.level = level

    def fit(self, X, y=None) -> "WaveletFeatures":
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"wavelet features take windows of shape (n, window), got an array of shape {X.shape}")
        effective_level(X.shape[1], self.wavelet, self.level)  # refuses windows too short for the wavelet
        self.n_features_in_ = int(X.shape[1])
        return self

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise DataError(
                f"the wavelet model takes windows of {self.n_features_in_} samples, got an array of shape {X.shape}"
            )
        names = self.get_feature_names_out()
        out = np.empty((len(X), len(names)))
        for i in range(0, len(X), FEATURE_BATCH):
            out[i : i + FEATURE_BATCH] = wavelet_features(X[i : i + FEATURE_BATCH], self.wavelet, self.level)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(feature_names(self.wavelet, self.level, self.n_features_in_), dtype=object)


# --------------------------------------------------------------------------- spec and classifier


def resolve_spec(spec: dict | None) -> dict:
    """The wavelet baseline's settings with defaults filled in (:data:`DEFAULT_SPEC`), checked."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(DEFAULT_SPEC))
    if unknown:
        raise BaselineConfigError(f"wavelet baseline: unknown setting(s) {unknown}; allowed: {', '.join(DEFAULT_SPEC)}")
    out = {**DEFAULT_SPEC, **spec}
    if out["classifier"] not in CLASSIFIERS:
        raise BaselineConfigError(
            f"wavelet baseline: unknown classifier {out['classifier']!r}; allowed: {', '.join(CLASSIFIERS)}"
        )
    _wavelet(out["wavelet"])
    level = out["level"]
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 1:
        raise BaselineConfigError(f"wavelet baseline: level must be an integer >= 1, got {level!r}")
    C = out["C"]
    if isinstance(C, bool) or not isinstance(C, (int, float, np.floating, np.integer)) or not np.isfinite(C) or C <= 0:
        raise BaselineConfigError(f"wavelet baseline: C must be a positive number, got {C!r}")
    out["level"], out["C"] = int(level), float(C)
    return out


def make_classifier(spec: dict, seed: int, y: np.ndarray, level: int | None = None):
    """The unfitted pipeline (features, scaler, classifier) of ``spec`` for training labels ``y``.

    ``level``: the decomposition level in use (``spec["level"]`` capped for the window length; default: as given).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if spec["classifier"] == "logistic_regression":
        clf = LogisticRegression(C=spec["C"], class_weight="balanced", max_iter=10_000, random_state=seed)
    else:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        present = np.bincount(y)
        smallest = int(present[present > 0].min()) if len(y) else 0
        if smallest < 2:
            raise DataError(
                "wavelet baseline with classifier svm: a class has fewer than 2 training windows, too few to "
                "calibrate its probabilities; use classifier logistic_regression or more training subjects"
            )
        svc = SVC(kernel="rbf", C=spec["C"], gamma="scale", class_weight="balanced", random_state=seed)
        folds = StratifiedKFold(n_splits=min(SVM_CALIBRATION_FOLDS, smallest))
        clf = CalibratedClassifierCV(svc, method="sigmoid", cv=folds, ensemble=False)
    features = WaveletFeatures(spec["wavelet"], spec["level"] if level is None else int(level))
    return Pipeline([("features", features), ("scale", StandardScaler()), ("clf", clf)])


def predict_signals(model, meta: dict, signals: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, len(meta["classes"]))`` float64 of windows, with a fitted model and its meta.

    ``signals`` must be windows of ``meta["window"]`` samples at ``meta["fs"]``.
    A class the model never saw in training gets probability 0.
    """
    signals = np.asarray(signals)
    if signals.ndim != 2 or signals.shape[1] != meta["window"]:
        raise DataError(
            f"wavelet model expects windows of {meta['window']} samples, got signals of shape {signals.shape}"
        )
    if not isinstance(model.steps[0][1], WaveletFeatures):  # a pipeline fitted on the features themselves
        signals = wavelet_features(signals, meta["wavelet"], meta["level"])
    return _full_proba(model, signals, len(meta["classes"]))


def _full_proba(model, inputs: np.ndarray, n_classes: int) -> np.ndarray:
    """``model.predict_proba(inputs)`` in columns of every class (0 for a class the model never saw)."""
    out = np.zeros((len(inputs), n_classes))
    if len(inputs):
        out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(inputs)
    return out


def load_wavelet_model(path: str | Path):
    """``(pipeline, meta)`` from a ``model.joblib`` written by :meth:`WaveletLearner.save`.

    The file is a pickle: loading it runs code it names. Load only files you trust
    (ones this workflow wrote).
    """
    import joblib

    obj = joblib.load(path)
    if not isinstance(obj, dict) or obj.get("meta", {}).get("kind") != WaveletLearner.kind:
        raise DataError(f"{str(path)!r} is not a wavelet baseline model written by ecgcwt")
    return obj["pipeline"], obj["meta"]


# --------------------------------------------------------------------------- learner


@contextlib.contextmanager
def _thread_limit(threads: int | None):
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):
        yield


class WaveletLearner:
    """Wavelet sub-band features + logistic regression or SVM (see the module docstring).

    ``spec``: ``{"wavelet": "db4", "level": 5, "classifier": "logistic_regression" | "svm",
    "C": 1.0}`` (missing keys take these defaults; unknown keys and values raise
    :class:`~ecgcwt.learn.baselines.BaselineConfigError`, a ``ValueError``).
    ``seed`` fixes the classifier's randomness: the same data and seed give the
    same model. ``threads`` caps the BLAS/OpenMP threads of fit and predict.
    """

    kind = "wavelet"
    model_file = "model.joblib"

    @classmethod
    def from_spec(cls, spec: dict, *, threads: int | None = None, **_) -> "WaveletLearner":
        """The learner of a ``models:`` entry's spec (``ecgcwt.config.model_specs``, in ``ecgcwt.config.models``)."""
        return cls({k: spec[k] for k in DEFAULT_SPEC if k in spec}, seed=spec.get("seed", 0), threads=threads)

    def __init__(self, spec: dict | None = None, *, seed: int = 0, threads: int | None = None) -> None:
        self.spec = resolve_spec(spec)
        self.seed = int(seed)
        self.threads = threads
        self.pipeline = None
        self.meta: dict | None = None
        self._facts: dict = {}

    # ---- features of store rows
    def features(self, source: str | Path, rows: Sequence[int]) -> np.ndarray:
        """Feature matrix of segment-store ``rows`` (the fitted pipeline's feature step), read
        :data:`FEATURE_BATCH` windows at a time."""
        step = self.pipeline.named_steps["features"]
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), len(step.get_feature_names_out())))
        i = 0
        for _, sig in iter_signal_batches(source, FEATURE_BATCH, rows):
            out[i : i + len(sig)] = step.transform(sig)
            i += len(sig)
        return out

    def fit(self, data: "FoldData", out_dir: Path, log: Callable[[str], None] = print) -> list[dict]:
        t0 = time.perf_counter()
        train = check_train_rows(data, self.kind)
        val = np.asarray(data.rows.get("val", ()), dtype=np.int64)
        info = read_info(data.source)
        level = effective_level(info.window, self.spec["wavelet"], self.spec["level"])
        if level < self.spec["level"]:
            log(
                f"wavelet: level {self.spec['level']} capped at {level}, the most {self.spec['wavelet']} allows "
                f"for windows of {info.window} samples"
            )
        with _thread_limit(self.threads):
            y_train, y_val = fold_labels(data, train), fold_labels(data, val)
            self.pipeline = pipeline = make_classifier(self.spec, self.seed, y_train, level)
            pipeline.named_steps["features"].fit(np.empty((0, info.window), np.float32))
            x_train = self.features(data.source, train)
            x_val = self.features(data.source, val)
            t_feat = time.perf_counter() - t0
            # the scaler and the classifier, on the features computed batch by batch above
            after_features = pipeline[1:]
            t1 = time.perf_counter()
            after_features.fit(x_train, y_train)
            t_fit = time.perf_counter() - t1
            n_classes = len(data.classes)
            tr = scores(y_train, _full_proba(after_features, x_train, n_classes))
            va = scores(y_val, _full_proba(after_features, x_val, n_classes))
        self.meta = {
            "kind": self.kind,
            "classes": list(data.classes),
            "window": info.window,
            "fs": info.fs,
            "wavelet": self.spec["wavelet"],
            "level": level,
            "feature_names": feature_names(self.spec["wavelet"], level),
            "spec": dict(self.spec),
            "seed": self.seed,
            "fold": data.fold,
            "ecgcwt_version": __version__,
            # segmentation and data source: new records are cut alike (ecgcwt predict, external validation)
            **read_source_facts(data.source),
        }
        seconds = time.perf_counter() - t0
        self._facts = {
            "n_features": int(x_train.shape[1]),
            "level": level,
            "n_train": int(len(train)),
            "n_val": int(len(val)),
            "feature_seconds": t_feat,
            "fit_seconds": t_fit,
        }
        log(
            f"wavelet fold {data.fold}: {self.spec['classifier']} on {x_train.shape[1]} features "
            f"({self.spec['wavelet']} level {level}) of {len(train)} windows: train acc {tr['acc']:.3f} | "
            f"val loss {va['loss']:.4f} bal.acc {va['balanced_acc']:.3f} | features {t_feat:.2f} s, "
            f"fit {t_fit:.2f} s"
        )
        return [
            {
                "epoch": 1,
                "train_loss": tr["loss"],
                "train_acc": tr["acc"],
                "val_loss": va["loss"],
                "val_acc": va["acc"],
                "val_balanced_acc": va["balanced_acc"],
                "lr": float("nan"),
                "seconds": seconds,
            }
        ]

    def _require_fitted(self) -> None:
        if self.pipeline is None or self.meta is None:
            raise RuntimeError("WaveletLearner: call fit() before predict_proba() or save()")

    def predict_proba(self, data: "FoldData", rows: np.ndarray) -> np.ndarray:
        self._require_fitted()
        check_window("wavelet model was fitted", self.meta["window"], data.source)
        with _thread_limit(self.threads):
            feats = self.features(data.source, rows)
            return _full_proba(self.pipeline[1:], feats, len(self.meta["classes"]))

    def save(self, path: Path, data: "FoldData") -> None:
        """``joblib.dump`` of ``{"pipeline", "meta"}``, atomically. The file is a pickle: load only files you trust."""
        import joblib
        import sklearn

        self._require_fitted()
        meta = {**self.meta, "sklearn_version": sklearn.__version__, "pywt_version": pywt.__version__}
        with atomic_path(path, suffix=".joblib.tmp") as tmp:
            joblib.dump({"pipeline": self.pipeline, "meta": meta}, tmp)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "classifier": self.spec["classifier"],
            "wavelet": self.spec["wavelet"],
            "params": dict(self.spec),
            # unequal class sizes: scikit-learn's class_weight="balanced" (training.class_balance is for the CNNs)
            "class_balance": "class_weight=balanced",
            "seed": self.seed,
            "threads": self.threads,
            **self._facts,
        }
