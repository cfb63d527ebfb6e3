"""Train one named model (any kind) on one fold: the job behind ``results/models/{model}/fold{k}/``.

The model's kind (``ecgcwt.config.MODEL_KINDS``) names its learner class and
the file it reads; the learner goes to the fold runner
(:func:`ecgcwt.learn.runner.run_fold`), so every kind is split, predicted and
written the same way. A learner module is imported only when its kind is
trained (the wavelet baseline's environment has no torch).
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable

import pandas as pd

from ecgcwt.config import model_kind
from ecgcwt.errors import ConfigError
from ecgcwt.learn.runner import Learner, run_fold


def learner_class(kind: str) -> Any:
    """The learner class of ``kind``, imported from its registry entry."""
    module, _, attr = model_kind(kind).learner.partition(":")  # read at call time: a kind added later counts
    return getattr(importlib.import_module(module), attr)


def build_learner(spec: dict, **options) -> Learner:
    """The learner of a model spec; ``options`` (threads, device, weights_file, on_epoch_end,
    segments_file): a learner's ``from_spec`` takes every option and uses those that apply to it."""
    return learner_class(spec["kind"]).from_spec(spec, **options)


def read_source_table(reads: str, path: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """The window table and the classes of a learner's input file (``scalograms`` or ``segments``)."""
    if reads == "scalograms":
        from ecgcwt.imaging import read_scalogram_info, read_scalogram_table

        return read_scalogram_table(path), list(read_scalogram_info(path).classes)
    from ecgcwt.data import read_info, read_table

    return read_table(path), list(read_info(path).classes)


def train_model(
    spec: dict,
    *,
    name: str,
    fold: int | str,
    out_dir: str | os.PathLike,
    scalograms: str | os.PathLike | None = None,
    segments: str | os.PathLike | None = None,
    folds_csv: str | os.PathLike | None = None,
    n_folds: int | None = None,
    split: str = "subject",
    threads: int | None = None,
    device: str = "auto",
    weights_file: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> dict:
    """Fit model ``name`` (``spec``) on ``fold`` and write its outputs into ``out_dir``; return its metrics.

    A kind that reads ``scalograms`` (cnn2d) needs the scalogram cache; one
    that reads ``segments`` (cnn1d, wavelet) the segment store. ``fold`` is a
    fold number of ``folds_csv`` or ``"all"`` (no test set, no folds file needed).
    """
    kind = spec["kind"]
    reads = model_kind(kind).reads
    source = {"scalograms": scalograms, "segments": segments}.get(reads)
    if source is None:
        what = "the scalogram cache" if reads == "scalograms" else "the segment store"
        raise ConfigError(f"model {name}: a {kind} model needs {what}")
    # segments_file: a cnn2d model with signal augmentation computes its training images from the segments
    learner = build_learner(
        spec,
        threads=threads,
        device=device,
        weights_file=weights_file,
        on_epoch_end=on_epoch_end,
        segments_file=segments,
    )
    # the same seed and inner split for every kind: every model trains on the same subjects
    settings = spec.get("training") or spec
    table, classes = read_source_table(reads, source)
    return run_fold(
        learner,
        source,
        table,
        classes,
        fold=fold,
        out_dir=out_dir,
        val_fraction=settings["val_fraction"],
        seed=settings["seed"],
        split=split,
        folds_csv=folds_csv,
        n_folds=n_folds,
        model_name=name,
        log=log,
    )
