"""Inference with a saved 2D CNN (``model.pt``): rebuild it, and predict a scalogram cache.

Apart from training on purpose: these need no optimizer, split or
checkpoint, and are what ``ecgcwt predict``, external validation and the
tests that re-predict a fold use. Probabilities come from the same
:func:`ecgcwt.learn.cnn2d.feeding.predict_probabilities` as the test predictions of a
training job, so both compute alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ecgcwt.errors import DataError
from ecgcwt.evaluate import build_predictions
from ecgcwt.imaging import ChunkReader, read_scalogram_info, read_scalogram_table
from ecgcwt.learn import (
    BatchFeeder,
    BuiltModel,
    build_model,
    choose_numerics,
    open_image_source,
    predict_probabilities,
    resolve_device,
)

#: Batches read ahead when a cache is streamed (each 4.8 MB at 32 x 224 px).
_PREFETCH = 4


def load_trained_model(model_pt: str | os.PathLike, device: str = "cpu") -> tuple[BuiltModel, dict]:
    """Rebuild a model saved by a cnn2d training job (``model.pt``); return it in eval mode and its metadata."""
    path = Path(model_pt)
    if not path.is_file():
        raise DataError(f"trained model {str(path)!r} does not exist; run the train step first")
    saved = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors and metadata only
    meta = saved["meta"]
    built = build_model(
        meta["backbone"],
        len(meta["classes"]),
        pretrained="none",
        strategy="finetune",
        dropout=meta["config"]["dropout"],
        image_size=min(meta["image_size"]),
        model_kwargs=meta["model_kwargs"],
    )
    built.mean, built.std = tuple(meta["mean"]), tuple(meta["std"])
    built.model.load_state_dict(saved["state_dict"])
    built.model.to(resolve_device(device)).eval()
    return built, meta


def predict_scalograms(
    model_pt: str | os.PathLike,
    scalograms_h5: str | os.PathLike,
    *,
    rows=None,
    batch_size: int = 128,
    device: str = "cpu",
    threads: int | None = None,
) -> pd.DataFrame:
    """Predictions of a saved model for (some rows of) a scalogram cache, in ``predictions.csv`` form.

    Images are streamed from the cache (bounded memory, however large it is).
    A window whose class the model does not know gets ``label_index`` -1.
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    built, meta = load_trained_model(model_pt, device)
    info = read_scalogram_info(scalograms_h5)
    if [info.height, info.width] != list(meta["image_size"]):
        raise DataError(
            f"{str(scalograms_h5)!r} has {info.height}x{info.width} images, the model was trained "
            f"on {meta['image_size'][0]}x{meta['image_size'][1]}; use the same cwt settings"
        )
    classes = list(meta["classes"])
    table = read_scalogram_table(scalograms_h5)
    r = np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.int64)
    dev = resolve_device(device)
    numerics = choose_numerics(meta["config"], dev, meta["backbone"])
    built.model.to(memory_format=numerics.memory_format)
    with ChunkReader(scalograms_h5, threads=torch.get_num_threads()) as reader:
        source = open_image_source(reader, r, budget_mb=0)  # streaming
        feeder = BatchFeeder(
            source, dev, built.mean, built.std, channels_last=numerics.channels_last, prefetch=_PREFETCH
        )
        # a model saved before calibration existed has no temperature: its probabilities are left alone
        temperature = float(meta.get("temperature", 1.0))
        probs = predict_probabilities(
            built.model, feeder, r, batch_size, numerics.autocast(dev), len(classes), temperature
        )
    preds = build_predictions(table.iloc[r], probs, classes)
    # label indices of the cache follow its own class list; map them onto the model's
    known = {c: i for i, c in enumerate(classes)}
    preds["label_index"] = [known.get(lbl, -1) for lbl in preds["label"]]
    return preds
