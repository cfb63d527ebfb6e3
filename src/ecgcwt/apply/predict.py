"""Classify new WFDB recordings with a trained model (``ecgcwt predict``).

A ``model.pt`` written by :func:`ecgcwt.learn.cnn2d.learner.train_fold` carries
everything needed to prepare a recording exactly as the training windows
were: the classes, the segmentation (``meta["preprocessing"]``: sampling rate,
window, leads, quality limits), every CWT and image setting
(``meta["scalogram_attrs"]``) and the backbone's normalisation. For each
record this module

1. reads it (:func:`ecgcwt.data.records.read_record`), resamples each lead to the
   model's rate and cuts windows of the model's length, by default every
   ``window`` samples (no overlap), dropping the windows that fail the
   training's quality checks (:func:`ecgcwt.data.segmentation.classify_windows`);
   ``max_windows`` keeps at most that many per lead, spread evenly as
   ``segments.max_per_recording`` does; ``max_duration_s`` reads only the
   first seconds of each record, as ``data.max_duration_s`` does in training
   (long Holter records);
2. turns the windows into colour-index images in memory with the functions
   that build the scalogram cache (:class:`ecgcwt.imaging.cwt.FilterBank`,
   :func:`ecgcwt.imaging.image.scalogram_indices`): the same segment gives
   the same uint8 index image, bit for bit;
3. colours, normalises and classifies them as evaluation does
   (:class:`ecgcwt.learn.cnn2d.feeding.BatchFeeder`, with the colour table of
   the model's image settings) and averages the windows' softmax
   probabilities: the record's probability is their mean, as at the report's
   ``recording`` level.

Models saved before ``meta["preprocessing"]`` existed still work: the
segmentation is then derived from ``scalogram_attrs`` (hop = window, every
lead, the default quality limits).

A record that cannot be classified is reported in ``errors`` (record and
reason) and the other records are still classified.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from ecgcwt.config import MODEL_KINDS, kind_of_meta
from ecgcwt.data import (
    CHUNK_WINDOWS,
    QualityLimits,
    RecordWindows,
    UnusableRecord,
    open_record,
    preprocessing_from_attrs,
)
from ecgcwt.errors import EcgCwtError, RecordError
from ecgcwt.imaging import (
    CWT_ATTRS,
    IMAGE_SETTINGS,
    CwtParams,
    FilterBank,
    image_colormap,
    image_from_attrs,
    scalogram_indices,
)
from ecgcwt.learn import (
    BatchFeeder,
    BuiltModel,
    InMemoryImages,
    choose_numerics,
    predict_probabilities,
    resolve_device,
)


def predict_kinds() -> tuple[str, ...]:
    """The model kinds ``ecgcwt predict`` takes: those whose registry entry has a predictor (read at call time)."""
    return tuple(k for k, v in MODEL_KINDS.items() if v.predicts)


#: Keys a ``model.pt``'s ``meta`` must have.
META_KEYS = ("backbone", "classes", "image_size", "mean", "std", "model_kwargs", "config", "scalogram_attrs")
#: Cache attributes the images are rebuilt from: the CWT's and the image's (written by
#: :meth:`CwtParams.to_attrs` and :func:`ecgcwt.imaging.image_to_attrs`), the rate and the window.
IMAGE_ATTRS = (*CWT_ATTRS, *IMAGE_SETTINGS, "fs", "window")


class ModelFileError(EcgCwtError):
    """A model file that is missing, unreadable or not a ``model.pt`` written by ``train_fold``."""


@dataclass
class PredictModel:
    """A trained model with everything needed to prepare and classify new recordings."""

    path: Path
    built: BuiltModel
    meta: dict
    classes: list[str]
    prep: dict
    filter_bank: FilterBank
    columns: np.ndarray
    image: dict
    device: torch.device
    #: an ensemble's models (this one first), all with the same classes and preprocessing; () for one model
    members: tuple = ()
    kind: str = "cnn2d"

    @property
    def paths(self) -> list[Path]:
        """The model file(s): one, or every member of an ensemble."""
        return [m.path for m in self.members] if self.members else [self.path]

    def probabilities(self, windows: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Class probabilities (n, classes) of float32 windows (n, window): scalograms, then the CNN(s)."""
        return window_probabilities(self, self.indices(windows), batch_size)

    def preparation(self) -> dict:
        """What the members of an ensemble must share: the classes, the segmentation and every image setting."""
        attrs = self.meta["scalogram_attrs"]
        return {
            "kind": self.kind,
            "classes": self.classes,
            "preprocessing": self.prep,
            **{f"scalogram_attrs.{k}": attrs[k] for k in IMAGE_ATTRS},
            "image_size": list(self.meta["image_size"]),
        }

    @property
    def colormap(self) -> np.ndarray:
        """The (K, 3) uint8 colour table of the model's images (the cache's ``/colormap``)."""
        return image_colormap(self.image["mode"], self.image["colors"])

    def images(self, windows: np.ndarray) -> np.ndarray:
        """uint8 RGB (n, H, W, 3) images of float32 windows: ``colormap[indices(windows)]``."""
        return self.colormap[self.indices(windows)]

    def indices(self, windows: np.ndarray) -> np.ndarray:
        """uint8 colour indices (n, H, W) of float32 windows (n, window), as the scalogram cache stores them."""
        with torch.inference_mode():
            mag = self.filter_bank.magnitude(
                torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)),
                self.columns,
                workers=max(1, torch.get_num_threads()),
            )
            return scalogram_indices(
                mag,
                size=self.image["size"],
                mode=self.image["mode"],
                colors=self.image["colors"],
                log=self.image["log"],
            )


def model_suffixes() -> tuple[str, ...]:
    """The endings of model files (every kind's ``ModelKind.model_file``), e.g. ``(".joblib", ".pt")``."""
    return tuple(sorted({Path(k.model_file).suffix for k in MODEL_KINDS.values()}))


def model_paths(model_pt) -> list[Path]:
    """The model files of ``model_pt``: one file, a list of files, or a folder (its model files, sorted)."""
    given = [model_pt] if isinstance(model_pt, (str, os.PathLike)) else list(model_pt)
    if not given:
        raise ModelFileError("no model file given")
    paths: list[Path] = []
    for p in map(Path, given):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix in model_suffixes() and q.is_file())
            if not found:
                others = sorted(q.name for q in p.iterdir())
                shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
                what = f"it holds {len(others)} other file(s): {shown}" if others else "it is empty"
                raise ModelFileError(
                    f"model folder {str(p)!r} holds no model file "
                    f"({', '.join('*' + x for x in model_suffixes())}); {what}. Give a model file "
                    "written by the train step, or a folder of them"
                )
            paths += found
        else:
            paths.append(p)
    return list(dict.fromkeys(paths))


def load_predict_model(model_pt, device: str = "cpu", *, trust_pickle: bool = False):
    """Load ``model_pt`` with its kind's predictor (``ecgcwt.config.ModelKind.predictor``) and its preprocessing.

    A ``model.pt`` is read with weights only: nothing in it is executed. A
    ``model.joblib`` (the wavelet baseline's scikit-learn pipeline) is a pickle,
    which runs code when loaded: only with ``trust_pickle`` (a file this
    workflow wrote, or one you trust as you would a script).

    ``model_pt`` may also be several files or a folder of model files: an
    ensemble, whose probability is the mean of its members' (windows are
    prepared once, so every member must have the same kind, classes and
    preprocessing; the first that differs is named).

    Every loaded model has ``kind``, ``classes``, ``prep``, ``meta``, ``paths``
    and ``probabilities(windows)``. Raises :class:`ModelFileError` with a
    one-line reason for a missing file, a file that cannot be loaded, a file
    that is not a model file of this package, or a kind that cannot classify new records.
    """
    paths = model_paths(model_pt)
    if len(paths) == 1:
        return _load_one(paths[0], device, trust_pickle)
    models = [_load_one(p, device, trust_pickle) for p in paths]
    first = models[0].preparation()
    for m in models[1:]:
        other = m.preparation()
        differ = [k for k in first if first[k] != other[k]]
        if differ:
            raise ModelFileError(
                f"model file {str(m.path)!r} cannot join an ensemble with {str(models[0].path)!r}: its "
                f"{', '.join(differ)} differ; give models trained on the same classes and data settings"
            )
    head = models[0]
    return dataclasses.replace(head, members=tuple(models))


#: Model files that are pickles (loading runs code): read only when trusted.
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def read_model_file(path: str | os.PathLike, *, trust_pickle: bool = False) -> dict:
    """The content ``{"meta": ..., ...}`` of a model file written by ecgcwt training, any kind.

    A ``.pt`` file is read with ``torch.load(weights_only=True)``, a ``.json``
    file as JSON (neither runs code); a pickle (``.joblib``) only with
    ``trust_pickle``. Raises :class:`ModelFileError` saying what the file is instead.
    """
    path = check_model_file(path)
    if path.suffix == ".json":
        try:
            saved = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ModelFileError(f"model file {str(path)!r} is not readable JSON ({exc})") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("meta"), dict):
            raise ModelFileError(f"model file {str(path)!r} is not a model file written by ecgcwt: it has no 'meta'")
        return saved
    if path.suffix in PICKLE_SUFFIXES:
        if not trust_pickle:  # never unpickled unasked: it could run any code
            raise ModelFileError(
                f"model file {str(path)!r} is a pickle (a scikit-learn {path.name}, e.g. the wavelet baseline): "
                "loading it runs code it names. Load it only if you trust where it came from (a file this "
                "workflow wrote): ecgcwt predict --trust-pickle"
            )
        import joblib

        try:
            saved = joblib.load(path)
        except Exception as exc:
            first = exception_line(exc)
            raise ModelFileError(
                f"model file {str(path)!r} cannot be loaded as a model.joblib written by ecgcwt "
                f"({type(exc).__name__}: {first})"
            ) from None
        if not isinstance(saved, dict) or not isinstance(saved.get("meta"), dict):
            raise ModelFileError(
                f"model file {str(path)!r} is not a model file written by ecgcwt training: it holds a "
                f"{type(saved).__name__} without 'meta'"
            )
        return saved
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # random bytes, a pickle needing code, a truncated file
        raise ModelFileError(
            f"model file {str(path)!r} cannot be loaded as a model.pt written by ecgcwt: {load_failure(path, exc)}"
        ) from None
    if not isinstance(saved, dict) or not isinstance(saved.get("meta"), dict) or "state_dict" not in saved:
        what = (
            "a bare state_dict (e.g. torchvision weights)"
            if isinstance(saved, dict) and saved and all(isinstance(v, torch.Tensor) for v in saved.values())
            else f"a {type(saved).__name__} without 'meta'"
        )
        raise ModelFileError(f"model file {str(path)!r} is not a model.pt written by ecgcwt training: it holds {what}")
    return saved


def _load_one(model_pt: str | os.PathLike, device: str = "cpu", trust_pickle: bool = False):
    path = check_model_file(model_pt)
    saved = read_model_file(path, trust_pickle=trust_pickle)
    kind = kind_of_meta(saved["meta"])
    entry = MODEL_KINDS.get(kind)
    if entry is None:
        raise ModelFileError(
            f"model file {str(path)!r} is of kind {kind!r}, which this version of ecgcwt does not know "
            f"(kinds: {', '.join(MODEL_KINDS)})"
        )
    if entry.predictor is None:
        raise ModelFileError(
            f"model file {str(path)!r} is a model of kind {kind!r}, which cannot classify new records; "
            f"ecgcwt predict takes kinds {', '.join(predict_kinds())}"
        )
    module, _, attr = entry.predictor.partition(":")
    return getattr(importlib.import_module(module), attr)(path, saved, device)


def scalogram_predictor(path: Path, saved: dict, device: str = "cpu") -> PredictModel:
    """A cnn2d ``model.pt`` (``saved``: its content) as a :class:`PredictModel`: its CWT rebuilt, its CNN loaded."""
    from ecgcwt.apply.model_file import load_trained_model  # torchvision: imported only when needed

    meta = saved["meta"]
    missing = [k for k in META_KEYS if k not in meta]
    attrs = meta.get("scalogram_attrs") or {}
    missing += [f"scalogram_attrs.{k}" for k in IMAGE_ATTRS if k not in attrs]
    if missing:
        raise ModelFileError(
            f"model file {str(path)!r} lacks {', '.join(missing)}: it was not written by this "
            "version's training; retrain the model"
        )
    try:
        built, meta = load_trained_model(path, device)
    except Exception as exc:
        first = exception_line(exc)
        raise ModelFileError(
            f"model file {str(path)!r}: its weights do not fit its backbone "
            f"{meta['backbone']!r} ({type(exc).__name__}: {first}); retrain the model"
        ) from None
    prep = meta.get("preprocessing") or preprocessing_from_attrs(attrs)
    problem = model_numbers_problem(meta, prep)
    if problem:
        raise ModelFileError(f"model file {str(path)!r}: {problem}; the file was changed or damaged: {_RETRAIN}")
    try:  # the settings the cache was built with, read back by the function that wrote them
        params = CwtParams.from_attrs(attrs)
        image = image_from_attrs(attrs)
        fb = FilterBank(int(prep["window"]), float(prep["fs"]), params)
    except (ValueError, EcgCwtError) as exc:
        raise ModelFileError(f"model file {str(path)!r}: its scalogram settings: {exc}; {_RETRAIN}") from None
    columns = fb.image_columns(image["size"])
    # the rebuilt transform must be the training's: same frequencies, same time columns
    freqs = np.asarray(attrs.get("frequencies", fb.frequencies), dtype=np.float64)
    cols = np.asarray(attrs.get("time_columns", columns), dtype=np.int64)
    same = (
        freqs.shape == fb.frequencies.shape
        and np.allclose(fb.frequencies, freqs, rtol=1e-9, atol=0)
        and np.array_equal(columns, cols)
    )
    same = same and float(attrs["fs"]) == float(prep["fs"]) and int(attrs["window"]) == int(prep["window"])
    if not same or [image["size"]] * 2 != list(meta["image_size"]):
        raise ModelFileError(
            f"model file {str(path)!r}: its CWT settings (wavelet, fs, window, image size) do not rebuild the "
            f"transform its images were made with; {_RETRAIN}"
        )
    return PredictModel(
        path=path,
        built=built,
        meta=meta,
        classes=list(meta["classes"]),
        prep=prep,
        filter_bank=fb,
        columns=columns,
        image=image,
        device=resolve_device(device),
    )


_RETRAIN = "retrain the model (or copy the model.pt the train step wrote)"

#: Largest window (samples) a model file may ask for: 2**18, 34 minutes at 128 Hz, four times the longest the
#: configs use (65,536); its filter bank alone is about 0.4 GB. A larger one is a damaged or edited file.
MAX_WINDOW = 1 << 18


def model_numbers_problem(meta: dict, prep: dict) -> str | None:
    """What number of a model file's metadata is out of range, or None.

    The temperature divides the logits (finite and > 0, else rankings invert
    or probabilities are NaN), the normalisation's std divides the pixels
    (finite and > 0), the window sizes the filter bank (16..:data:`MAX_WINDOW`
    samples) and the sampling rate must be one an ECG has
    (:data:`ecgcwt.data.records.ECG_FS_RANGE`).
    """
    from ecgcwt.data import ECG_FS_RANGE

    def number(v) -> float | None:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None
        return x if math.isfinite(x) else None

    t = number(meta.get("temperature", 1.0))
    if t is None or t <= 0:
        return f"temperature {meta.get('temperature')!r} must be a finite number > 0"
    for key in ("mean", "std"):
        values = meta.get(key)
        if not (
            isinstance(values, (list, tuple)) and len(values) == 3 and all(number(v) is not None for v in values)
        ) or (key == "std" and min(float(v) for v in values) <= 0):
            return f"normalisation {key} {values!r} must be three finite numbers" + (" > 0" if key == "std" else "")
    window = prep.get("window")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 16 <= window <= MAX_WINDOW:
        return f"window {window!r} must be a whole number of samples in 16..{MAX_WINDOW}"
    fs = number(prep.get("fs"))
    lo, hi = ECG_FS_RANGE
    if fs is None or not lo <= fs <= hi:
        return f"sampling rate {prep.get('fs')!r} must be in {lo:g}..{hi:g} Hz"
    return None


def check_model_file(model_pt: str | os.PathLike) -> Path:
    """``model_pt`` as a Path when it is a file; else :class:`ModelFileError` saying what it is instead."""
    path = Path(model_pt)
    if path.is_file():
        return path
    if path.is_dir():  # model_paths expands folders: this one was given where a single file is needed
        raise ModelFileError(f"model path {str(path)!r} is a folder, not a model file (give its model.pt)")
    if path.is_symlink():
        raise ModelFileError(f"model file {str(path)!r} is a broken link (to {os.readlink(path)!r})")
    if path.exists():
        raise ModelFileError(f"model file {str(path)!r} is not a regular file")
    raise ModelFileError(f"model file {str(path)!r} does not exist (give the model.pt written by the train step)")


def exception_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type where it has none), at most 160 characters: enough to
    say why a model file failed to load without pasting a library's whole message into ours."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def load_failure(path: Path, exc: Exception) -> str:
    """Why ``torch.load`` failed on ``path``, from what the file is (its first bytes), not only torch's message.

    ``torch.save`` writes a zip archive (older torch: a pickle). Anything else is not a torch file at all;
    only a file torch can parse whose pickle names a class (code) is "refused" for needing code.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4)
    text = str(exc)
    if size == 0:
        return "the file is empty"
    if "Unsupported global" in text:
        return (
            "it holds Python objects that need code to unpickle, refused "
            "(a model.pt holds only tensors and plain values)"
        )
    if head.startswith(b"PK\x03\x04"):
        return (
            f"a damaged or truncated torch file ({size} bytes; {type(exc).__name__}); copy the model.pt again "
            "or rerun the train step"
        )
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return f"an old-style pickle that torch cannot read as weights ({type(exc).__name__})"
    return (
        f"it is not a torch file (torch.save writes a zip archive; this file of {size} bytes starts with "
        f"{head!r}): give the model.pt written by the train step"
    )


# --------------------------------------------------------------------------- records


def check_max_duration(max_duration_s) -> float | None:
    """``max_duration_s`` as a float, or None (the whole record); ValueError unless a finite number > 0."""
    if max_duration_s is None:
        return None
    try:
        value = float(max_duration_s)
    except (TypeError, ValueError):
        raise ValueError(f"max_duration_s must be a number of seconds > 0, got {max_duration_s!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"max_duration_s must be a number of seconds > 0, got {max_duration_s!r}")
    return value


def record_windows(
    record: str | os.PathLike,
    prep: dict,
    *,
    hop: int | None = None,
    max_windows: int | None = None,
    max_duration_s: float | None = None,
) -> np.ndarray:
    """float32 windows (n, window) of ``record`` (a WFDB record path without extension), as training cuts them.

    Every lead of ``prep["leads"]`` (None: all), resampled to ``prep["fs"]``,
    windows every ``hop`` samples (default: the window), the windows failing
    the quality checks dropped; ``max_windows`` keeps at most that many per
    lead, spread evenly; ``max_duration_s`` reads only the record's first
    seconds (None: all of it; only those samples are read from disk). Raises
    :class:`RecordError` with the reason (no advice about the workflow) when
    the record gives no window. All windows at once: :func:`iter_record_batches`
    gives the same windows in batches, in bounded memory.
    """
    batches = list(iter_record_batches(record, prep, hop=hop, max_windows=max_windows, max_duration_s=max_duration_s))
    return np.concatenate(batches)


def iter_record_batches(
    record: str | os.PathLike,
    prep: dict,
    batch_size: int = CHUNK_WINDOWS,
    *,
    hop: int | None = None,
    max_windows: int | None = None,
    max_duration_s: float | None = None,
) -> Iterator[np.ndarray]:
    """:func:`record_windows` in batches of at most ``batch_size`` windows, in the same order, bit for bit.

    The record is read part by part (:class:`ecgcwt.data.RecordWindows`): memory is bounded by a
    part (a few MB), not by the record's length; with ``max_windows`` only the parts holding the windows
    kept are read for their samples (after one pass over the lead for the quality checks, which decide
    which windows are kept, as in training). The :class:`RecordError` of a record without a window is
    raised once every lead has been read.
    """
    max_duration_s = check_max_duration(max_duration_s)
    batch_size = max(1, int(batch_size))
    base = Path(record)
    if base.suffix in (".hea", ".dat") and base.with_suffix(".hea").is_file():
        base = base.with_suffix("")  # a file name given instead of the record name
    hea = base.with_name(base.name + ".hea")
    if not hea.is_file():
        if base.is_dir():
            raise RecordError("it is a folder, not a WFDB record (give the record path without extension)")
        if base.exists():
            raise RecordError(f"not a WFDB record: there is no header {hea.name} beside it")
        raise RecordError(f"no such record: header {hea} not found")
    fs, window = float(prep["fs"]), int(prep["window"])
    hop = window if hop is None else int(hop)
    try:
        opened = open_record(
            base.parent,
            base.name,
            max_duration_s=max_duration_s,
            channels=prep["leads"],
            listed_in="the command line",
        )
        parts = RecordWindows(opened, fs, window, hop, QualityLimits(**prep["quality"]), max_windows)
        pending: list[np.ndarray] = []
        held = 0
        for _, windows in parts:
            pending.append(windows)
            held += len(windows)
            while held >= batch_size:
                joined = np.concatenate(pending)
                yield joined[:batch_size]
                rest = joined[batch_size:]
                pending, held = ([rest] if len(rest) else []), len(rest)
        if held:
            yield np.concatenate(pending)
    except UnusableRecord as exc:
        raise RecordError(exc.reason.strip()) from None
    summaries = parts.summaries
    if not any(s.n_windows for s in summaries):
        shortest = min((s.n_samples for s in summaries), default=0)
        limited = max_duration_s is not None and (parts.record.n_samples or 0) >= math.ceil(max_duration_s * opened.fs)
        kept = f" (only the first {max_duration_s:g} s read)" if limited else ""
        raise RecordError(
            f"too short: {shortest} samples at {fs:g} Hz ({shortest / fs:.1f} s){kept}, shorter than one "
            f"window of {window} samples ({window / fs:.1f} s)"
        )
    if not any(s.kept for s in summaries):
        detail = "; ".join(
            f"lead {s.lead}: {s.n_windows} windows, dropped " + ", ".join(f"{r} {c}" for r, c in s.dropped.items() if c)
            for s in summaries
            if s.n_windows
        )
        raise RecordError(f"no usable window: every window failed the quality checks ({detail})")


# --------------------------------------------------------------------------- prediction


def window_probabilities(model: PredictModel, indices: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities (n, classes) of uint8 index images (:meth:`PredictModel.indices`),
    coloured and normalised as in training and evaluation.

    An ensemble's are the mean of its members'. Each member's logits are divided by its fitted
    temperature (``meta["temperature"]``, 1 when absent).
    """
    if model.members:
        return np.mean([_window_probabilities(m, indices, batch_size) for m in model.members], axis=0)
    return _window_probabilities(model, indices, batch_size)


def _window_probabilities(model: PredictModel, indices: np.ndarray, batch_size: int) -> np.ndarray:
    numerics = choose_numerics(model.meta["config"], model.device, model.meta["backbone"])
    net = model.built.model.to(memory_format=numerics.memory_format)
    feeder = BatchFeeder(
        InMemoryImages.from_array(indices, model.colormap),
        model.device,
        model.built.mean,
        model.built.std,
        channels_last=numerics.channels_last,
    )
    autocast = numerics.autocast(model.device)
    temperature = float(model.meta.get("temperature", 1.0))  # older model files: none, T = 1
    return predict_probabilities(
        net, feeder, np.arange(len(indices)), batch_size, autocast, len(model.classes), temperature
    )


def predict_records(
    model_pt,
    records: Sequence[str | os.PathLike],
    *,
    max_windows: int | None = None,
    max_duration_s: float | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    on_result: Callable[[dict], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Classify each of ``records``; return (one row per classified record, [(record, reason), ...]).

    Columns: ``record`` (as given), ``predicted``, ``prob_<class>`` (the mean
    of the windows' softmax probabilities), ``n_windows``. ``max_windows``
    and ``max_duration_s`` as in :func:`record_windows`. ``on_result(row)``
    and ``on_error(record, reason)`` are called as each record is done.

    Each record is read, transformed and classified ``batch_size`` windows at a time
    (:func:`iter_record_batches`): memory is bounded by the batch and the part read, whatever the
    record's length; only the windows' probabilities (a few bytes each) are kept for the mean.
    ``model_pt``: a model loaded by :func:`load_predict_model` (any kind), or its file(s).
    Raises :class:`ModelFileError` for an unusable model file.
    """
    if max_windows is not None and int(max_windows) < 1:
        raise ValueError(f"max_windows must be >= 1, got {max_windows}")
    max_duration_s = check_max_duration(max_duration_s)
    model = model_pt if hasattr(model_pt, "probabilities") else load_predict_model(model_pt, device)
    rows, errors = [], []
    for record in records:
        name = str(record)
        try:
            batches = iter_record_batches(
                record, model.prep, batch_size, max_windows=max_windows, max_duration_s=max_duration_s
            )
            window_probs = [model.probabilities(w, batch_size) for w in batches]
            probs = np.concatenate(window_probs).mean(axis=0)
        except Exception as exc:  # one bad record must not stop the others
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if not isinstance(exc, (EcgCwtError, OSError, ValueError)):
                reason = f"{type(exc).__name__}: {reason}"
            errors.append((name, reason))
            if on_error is not None:
                on_error(name, reason)
            continue
        row = {
            "record": name,
            "predicted": model.classes[int(np.argmax(probs))],
            **{f"prob_{c}": float(p) for c, p in zip(model.classes, probs)},
            "n_windows": int(sum(len(p) for p in window_probs)),
        }
        rows.append(row)
        if on_result is not None:
            on_result(row)
    columns = ["record", "predicted", *(f"prob_{c}" for c in model.classes), "n_windows"]
    return pd.DataFrame(rows, columns=columns), errors


def model_data_source(model) -> str:
    """What the model was trained on (``meta["data_source"]`` or ``scalogram_attrs.data_source``), or "unknown"."""
    members = model.members or [model]
    sources = {
        str(m.meta.get("data_source") or (m.meta.get("scalogram_attrs") or {}).get("data_source", "unknown"))
        for m in members
    }
    return "; ".join(sorted(sources))


def is_synthetic_record(record: str | os.PathLike) -> bool:
    """Whether a WFDB record was generated by ecgcwt's synthetic source (its header's comment says so)."""
    hea = Path(record)
    hea = hea.with_name(hea.name + ".hea") if hea.suffix != ".hea" else hea
    try:
        text = hea.read_text(errors="replace")
    except OSError:
        return False
    return any(line.startswith("#") and "synthetic" in line and "ecgcwt" in line for line in text.splitlines())


def synthetic_model_warning(model, record: str | os.PathLike) -> str | None:
    """A warning when a model trained on synthetic data classifies a record that is not synthetic."""
    source = model_data_source(model)
    if not source.startswith("synthetic") or is_synthetic_record(record):
        return None
    return (
        f"{record}: the model was trained on synthetic data ({source}); its classes for a real recording "
        "mean nothing. Train on real records (data.source: physionet or local) to classify real ECG."
    )


def format_row(row: dict, classes: Sequence[str]) -> str:
    """``mitdb/100  ARR  ARR=0.912 CHF=0.051 NSR=0.037  (n_windows=10)``."""
    probs = " ".join(f"{c}={row[f'prob_{c}']:.3f}" for c in classes)
    return f"{row['record']}  {row['predicted']}  {probs}  (n_windows={row['n_windows']})"


__all__ = [
    "predict_kinds",
    "read_model_file",
    "scalogram_predictor",
    "ModelFileError",
    "PredictModel",
    "check_model_file",
    "load_failure",
    "model_paths",
    "load_predict_model",
    "check_max_duration",
    "record_windows",
    "iter_record_batches",
    "window_probabilities",
    "predict_records",
    "format_row",
    "model_data_source",
    "synthetic_model_warning",
]
