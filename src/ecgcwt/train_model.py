"""Train one named model (any kind) on one fold: the job behind ``results/models/{model}/fold{k}/``.

Chooses the learner from the model's spec (:mod:`ecgcwt.model_specs`) and
its data file, and hands both to the fold runner (:func:`ecgcwt.runner.run_fold`),
so every kind is split, predicted and written the same way. torch is imported
only for the kinds that need it (the wavelet baseline's environment has none).
"""

from __future__ import annotations

import os
from typing import Callable

from .errors import ConfigError


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
) -> dict:
    """Fit model ``name`` (``spec``) on ``fold`` and write its outputs into ``out_dir``; return its metrics.

    cnn2d models read ``scalograms`` (the scalogram cache); cnn1d and wavelet
    models read ``segments`` (the segment store). ``fold`` is a fold number of
    ``folds_csv`` or ``"all"`` (no test set, no folds file needed).
    """
    kind = spec["kind"]
    if kind == "cnn2d":
        if scalograms is None:
            raise ConfigError(f"model {name}: a cnn2d model needs the scalogram cache")
        from .training import train_fold

        return train_fold(
            scalograms,
            folds_csv,
            backbone=spec["backbone"],
            fold=fold,
            cfg=spec["training"],
            out_dir=out_dir,
            threads=threads,
            device=device,
            weights_file=weights_file,
            n_folds=n_folds,
            split=split,
            model_name=name,
            log=log,
        )
    if segments is None:
        raise ConfigError(f"model {name}: a {kind} model needs the segment store")
    from .baselines import build_learner
    from .runner import run_fold
    from .segment_store import read_info, read_table

    if kind == "cnn1d":
        training = spec["training"]
        learner = build_learner(kind, training, device=device, threads=threads)
        val_fraction, seed = training["val_fraction"], training["seed"]
    else:
        settings = {k: v for k, v in spec.items() if k not in ("kind", "seed", "val_fraction")}
        learner = build_learner(kind, settings, seed=spec["seed"], threads=threads)
        val_fraction, seed = spec["val_fraction"], spec["seed"]
    info = read_info(segments)
    return run_fold(
        learner,
        segments,
        read_table(segments),
        list(info.classes),
        fold=fold,
        out_dir=out_dir,
        val_fraction=val_fraction,
        seed=seed,
        split=split,
        folds_csv=folds_csv,
        n_folds=n_folds,
        model_name=name,
        log=log,
    )
