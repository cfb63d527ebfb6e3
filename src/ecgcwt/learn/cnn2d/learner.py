"""The 2D CNN: a torchvision backbone trained on scalograms, as a learner of the fold runner.

``train_fold`` is the job behind ``results/models/{model}/fold{k}/`` for a
cnn2d model: the fold runner (:mod:`ecgcwt.learn.runner`) makes the subject split
and writes ``predictions.csv``, ``history.csv`` and ``metrics.json``;
:class:`Cnn2dLearner` does the rest:

1. feed the images (:mod:`ecgcwt.learn.cnn2d.feeding`): the job's rows decoded once into
   memory as uint8 when they fit ``training.memory_budget_mb``, else streamed
   from the cache with raw chunk reads; uint8 batches go to the device and
   are converted and normalised there.
2. train through the epoch loop every neural learner shares
   (:mod:`ecgcwt.learn.loop`: optimizer and schedule, early stopping on the
   validation loss with the best epoch's weights kept, history, a
   checkpoint at most every ``training.checkpoint_interval_s`` seconds and
   an exact resume after a kill). What is the 2D CNN's own: each epoch's
   order (``training.class_balance``: each class drawn equally often, or an
   inverse-frequency weighted loss; :mod:`ecgcwt.learn.balance`) and time
   shifts drawn from ``(seed, epoch)``, the backbone's train mode
   (``training.strategy``), batches of images at ``training.batch_size``
   (validation and test at ``training.eval_batch_size``, in inference mode)
   and the run's identity for resuming (settings, cache attributes, table,
   split, numerics).
3. fit the temperature on the validation logits (``training.calibrate``).
4. predict the test rows and save ``model.pt`` (weights and everything
   ``ecgcwt predict`` needs to prepare new recordings); then delete the
   checkpoint (it holds optimizer state and a second copy of the weights,
   useless once the job is complete).

Rebuilding a saved model and predicting with it is :mod:`ecgcwt.apply.model_file`.
Precision, memory format and cuDNN autotuning are chosen per device and
backbone in :mod:`ecgcwt.learn.cnn2d.numerics`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ecgcwt import __version__
from ecgcwt.atomic import write_torch
from ecgcwt.config import validate_section
from ecgcwt.data import preprocessing_from_attrs
from ecgcwt.errors import ConfigError
from ecgcwt.imaging import ChunkReader, read_scalogram_info
from ecgcwt.learn.augment import augment_settings
from ecgcwt.learn.balance import balanced_order, class_counts, class_weights
from ecgcwt.learn.calibration import calibration_line, fit_temperature, softmax
from ecgcwt.learn.cnn2d.backbones import build_model, set_train_mode
from ecgcwt.learn.cnn2d.feeding import BatchFeeder, open_image_source, predict_logits
from ecgcwt.learn.cnn2d.numerics import (  # noqa: F401  (resolve_precision and cpu_has_native_bf16 are part of this module's API)
    Numerics,
    choose_numerics,
    configure_backends,
    cpu_has_native_bf16,
    resolve_device,
    resolve_precision,
)
from ecgcwt.learn.cnn2d.signal_images import SignalImageFeeder
from ecgcwt.learn.loop import (  # noqa: F401  (TrainingInterrupted: part of this module's API)
    CHECKPOINT,
    Checkpoint,
    Clock,
    TrainingInterrupted,
    create_optimizer,
    create_scheduler,
    evaluate,
    fit_epochs,
    run_identity,
    seed_everything,
    train_one_epoch,
)
from ecgcwt.learn.loop import HISTORY_COLUMNS as _LOOP_COLUMNS
from ecgcwt.learn.runner import FoldData, SubjectSplit, epoch_seed, run_fold, split_subjects  # noqa: F401  (split_subjects, SubjectSplit: API)

#: history.csv of a 2D CNN: the loop's columns and the training phase's throughput.
HISTORY_COLUMNS = [*_LOOP_COLUMNS, "images_per_s"]

#: Batches read ahead by the streaming path (each 4.8 MB at 32 x 224 px).
_PREFETCH = 4


# --------------------------------------------------------------------------- configuration


def resolve_training_config(cfg: dict | None) -> dict:
    """Fill defaults into the ``training:`` mapping and check every value against the schema."""
    c = validate_section("training", cfg)
    c["pretrained"] = str(c["pretrained"])
    return c


# --------------------------------------------------------------------------- training


def train_fold(
    scalograms_h5: str | os.PathLike,
    folds_csv: str | os.PathLike | None,
    *,
    backbone: str,
    fold: int | str,
    cfg: dict,
    out_dir: str | os.PathLike,
    threads: int | None = None,
    device: str = "auto",
    weights_file: str | os.PathLike | None = None,
    n_folds: int | None = None,
    split: str = "subject",
    model_name: str | None = None,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[dict], None] | None = None,
    segments_h5: str | os.PathLike | None = None,
) -> dict:
    """Train ``backbone`` on ``fold`` and write the fold's outputs to ``out_dir``; return metrics.json's content.

    A cnn2d model through :func:`ecgcwt.learn.train_model` (the fold runner
    does the split and the outputs). ``folds_csv`` may be None for
    ``fold="all"`` (every subject trains). ``weights_file``: the backbone's
    ImageNet weights, fetched beforehand (the workflow's ``weights`` rule),
    used when ``pretrained`` is ``imagenet``. ``n_folds`` (``folds.k``): every
    fold number in ``folds.csv`` must be below it. ``split``: ``subject``
    (always, for results) or ``random_windows`` (the labelled leaky
    comparison). ``on_epoch_end(history_row)`` is called after each epoch (and
    its checkpoint, when one is due); raising :class:`TrainingInterrupted`
    there stops the run as a kill would (used to test resume). ``segments_h5``:
    the segment store the cache was built from, needed when ``training.augment``
    turns a signal augmentation on (the training images are then computed per batch).
    """
    from ecgcwt.learn.train import train_model

    return train_model(
        {"kind": "cnn2d", "backbone": backbone, "training": resolve_training_config(cfg)},
        name=model_name or backbone,
        fold=fold,
        out_dir=out_dir,
        scalograms=scalograms_h5,
        segments=segments_h5,
        folds_csv=folds_csv,
        n_folds=n_folds,
        split=split,
        threads=threads,
        device=device,
        weights_file=weights_file,
        log=log,
        on_epoch_end=on_epoch_end,
    )


class Cnn2dLearner:
    """A torchvision backbone fine-tuned (or trained) on scalogram images: the learner behind ``train_fold``."""

    kind = "cnn2d"
    model_file = "model.pt"

    @classmethod
    def from_spec(
        cls,
        spec: dict,
        *,
        threads: int | None = None,
        device: str = "auto",
        weights_file: str | os.PathLike | None = None,
        on_epoch_end: Callable[[dict], None] | None = None,
        segments_file: str | os.PathLike | None = None,
    ) -> "Cnn2dLearner":
        """The learner of a cnn2d model's spec (``ecgcwt.config.model_specs``, in ``ecgcwt.config.models``)."""
        return cls(
            spec["backbone"],
            spec["training"],
            threads=threads,
            device=device,
            weights_file=weights_file,
            on_epoch_end=on_epoch_end,
            segments_file=segments_file,
        )

    def __init__(
        self,
        backbone: str,
        cfg: dict,
        *,
        threads: int | None = None,
        device: str = "auto",
        weights_file: str | os.PathLike | None = None,
        on_epoch_end: Callable[[dict], None] | None = None,
        segments_file: str | os.PathLike | None = None,
    ) -> None:
        self.clock = Clock()
        self.backbone = backbone
        self.name = backbone
        self.c = resolve_training_config(cfg)
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.dev = resolve_device(device)
        self.numerics = choose_numerics(self.c, self.dev, backbone)
        configure_backends(self.numerics, self.dev)
        self.weights_file = weights_file
        self.on_epoch_end = on_epoch_end
        # the segment store the cache was built from: training images computed per batch (signal augmentation)
        self.segments_file = segments_file
        self.reader: ChunkReader | None = None
        self.images: _Images | None = None
        self.temperature = 1.0  # fitted at the end of fit() (training.calibrate)
        self.calibration: dict = {}

    def fit(self, data: FoldData, out_dir: Path, log: Callable[[str], None]) -> list[dict]:
        c, dev, numerics, clock = self.c, self.dev, self.numerics, self.clock
        if dev.type == "cpu" and numerics.amp_dtype == torch.bfloat16 and not cpu_has_native_bf16():
            log("warning: training.precision bf16 on a CPU without native bf16: emulated, expect it slower than fp32")
        info = read_scalogram_info(data.source)
        augment = augment_settings(c["augment"], fs=float(info.attrs.get("fs", 0)) or None)
        if augment.signal_on and self.segments_file is None:
            raise ConfigError(
                "training.augment: the signal augmentations compute the training images per batch from the "
                "segment store; give the learner the segments the cache was built from (segments_file)"
            )
        rows = data.rows
        self.info = info

        # ---- model
        seed_everything(c["seed"])
        built = build_model(
            self.backbone,
            len(data.classes),
            pretrained=c["pretrained"],
            strategy=c["strategy"],
            dropout=c["dropout"],
            image_size=min(info.height, info.width),
            weights_file=self.weights_file,
        )
        self.built = built
        model = built.model.to(dev, memory_format=numerics.memory_format)
        optimizer = create_optimizer(model.parameters(), c)
        scheduler = create_scheduler(optimizer, c)
        scaler = torch.amp.GradScaler("cuda") if (dev.type == "cuda" and numerics.amp_dtype == torch.float16) else None
        log(
            f"{self.backbone}: weights {built.weights_source}, strategy {c['strategy']}, device {dev}, "
            f"autocast {numerics.precision}, channels_last {numerics.channels_last}, "
            f"cudnn.benchmark {numerics.cudnn_benchmark}, threads {torch.get_num_threads()}"
        )
        identity = run_identity(
            c,
            data.table,
            rows,
            backbone=self.backbone,
            fold=str(data.fold),
            amp=numerics.precision,
            channels_last=numerics.channels_last,
            device=dev.type,
            attrs=info.attrs,
            shape=[info.n_images, info.height, info.width],
        )
        self.checkpoint = Checkpoint(out_dir / CHECKPOINT, identity, c["checkpoint_interval_s"], log)

        # ---- images
        self.reader = ChunkReader(data.source, threads=torch.get_num_threads())
        with clock.phase("load_images"):
            source = open_image_source(
                self.reader, np.concatenate(list(rows.values())), c["memory_budget_mb"], pin_memory=dev.type == "cuda"
            )
        self.images_mode = source.mode
        log(
            f"images: {source.mode}"
            + (
                f" ({source.nbytes / 1e6:.0f} MB uint8)"
                if source.mode == "memory"
                else f" (the job's images exceed training.memory_budget_mb "
                f"{c['memory_budget_mb']}; read from the cache batch by batch)"
            )
        )
        feeder = BatchFeeder(
            source, dev, built.mean, built.std, channels_last=numerics.channels_last, prefetch=_PREFETCH
        )
        labels = torch.tensor(data.table["label_index"].to_numpy(np.int64), device=dev)  # by cache row
        train_labels = data.table["label_index"].to_numpy(np.int64)[rows["train"]]
        weight = None
        if c["class_balance"] == "loss":
            weight = torch.tensor(class_weights(train_labels, len(data.classes)), dtype=torch.float32, device=dev)
        images = _Images(feeder, labels, dev, numerics, c["eval_batch_size"], len(data.classes))
        self.images = images
        signal_images = None
        if augment.signal_on:  # training images made per batch from augmented windows; the rest from the cache
            with clock.phase("load_images"):
                signal_images = SignalImageFeeder(
                    self.segments_file,
                    info.attrs,
                    data.table,
                    rows["train"],
                    feeder,
                    augment,
                    c["seed"],
                    cache_path=data.source,
                )
            self.images_mode += "+signal"
            log(
                f"training images computed per batch from {signal_images.nbytes / 1e6:.1f} MB of augmented windows "
                f"({self.segments_file}); validation and test images from the cache"
            )
        log(
            f"class balance {c['class_balance']}: training windows per class "
            f"{class_counts(train_labels, data.classes)}"
            + (f", loss weights {[round(float(w), 3) for w in weight]}" if weight is not None else "")
        )

        def train(epoch: int) -> dict:
            set_train_mode(built, c["strategy"])
            order, shifts = _epoch_order(rows["train"], train_labels, c, epoch, info.width)
            feed = signal_images.epoch(epoch, order) if signal_images is not None else None
            batches = images.training_batches(order, shifts, c["batch_size"], clock, feeder=feed)
            return train_one_epoch(model, batches, optimizer, weight=weight, autocast=images.autocast, scaler=scaler)

        state = fit_epochs(
            model,
            optimizer,
            scheduler,
            train=train,
            validate=lambda: evaluate(model, images.batches(rows["val"]), len(data.classes), autocast=images.autocast),
            has_val=len(rows["val"]) > 0,
            epochs=c["epochs"],
            patience=c["patience"],
            checkpoint=self.checkpoint,
            scaler=scaler,
            clock=clock,
            log=log,
            rate_column="images_per_s",
            on_epoch_end=self.on_epoch_end,
        )
        self.state = state
        # ---- temperature (on the validation windows, the best epoch's weights)
        with clock.phase("calibrate"):
            val_logits = images.logits(model, rows["val"])
            val_labels = data.table["label_index"].to_numpy(np.int64)[rows["val"]]
            self.calibration = fit_temperature(val_logits, val_labels, c["calibrate"])
        self.temperature = float(self.calibration["temperature"])
        log(calibration_line(self.calibration))
        return [{k: r.get(k) for k in HISTORY_COLUMNS} for r in state.history]

    def predict_logits(self, data: FoldData, rows: np.ndarray) -> np.ndarray:
        """Logits of ``rows`` (before the temperature): the fold runner writes both probabilities from them."""
        with self.clock.phase("test"):
            return self.images.logits(self.built.model, rows)

    def predict_proba(self, data: FoldData, rows: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, ``softmax(logits / temperature)``."""
        return softmax(self.predict_logits(data, rows), self.temperature)

    def save(self, path: Path, data: FoldData) -> None:
        info, built, state = self.info, self.built, self.state
        best_cpu = {k: v.detach().to("cpu") for k, v in state.best_state.items()}
        meta = {
            "backbone": self.backbone,
            "classes": list(data.classes),
            "image_size": [info.height, info.width],
            "mean": list(built.mean),
            "std": list(built.std),
            "model_kwargs": built.model_kwargs,
            "weights_source": built.weights_source,
            "config": self.c,
            "fold": data.fold,
            "best_epoch": state.best_epoch,
            # probabilities are softmax(logits / temperature); read by ecgcwt predict (absent: 1)
            "temperature": self.temperature,
            "calibration": self.calibration,
            "ecgcwt_version": __version__,
            "scalogram_attrs": info.attrs,
            # how new recordings must be cut to match the training windows (read by `ecgcwt predict`)
            # (None for a cache without fs/window: such a model cannot prepare new recordings)
            "preprocessing": preprocessing_from_attrs(info.attrs) if {"fs", "window"} <= set(info.attrs) else None,
        }
        write_torch({"state_dict": best_cpu, "meta": meta}, path)
        self.checkpoint.discard()

    def describe(self) -> dict:
        state = self.state
        return {
            "backbone": self.backbone,
            "pretrained": self.c["pretrained"],
            "strategy": self.c["strategy"],
            "best_epoch": state.best_epoch,
            "epochs_run": state.epoch,
            "stopped_early": state.stopped,
            "early_stopping_monitor": "val_loss",
            "class_balance": self.c["class_balance"],
            "temperature": self.temperature,
            "calibration": self.calibration,
            "precision": self.numerics.precision,
            "channels_last": self.numerics.channels_last,
            "cudnn_benchmark": self.numerics.cudnn_benchmark,
            "device": str(self.dev),
            "device_name": torch.cuda.get_device_name(self.dev) if self.dev.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(),
            "images": self.images_mode,
            "timing": self.clock.summary(),
        }

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class _Images:
    """The job's images as batches on the device: ``(inputs, labels)`` for training and validation, logits."""

    def __init__(
        self,
        feeder: BatchFeeder,
        labels: torch.Tensor,
        dev: torch.device,
        numerics: Numerics,
        eval_batch_size: int,
        n_classes: int,
    ) -> None:
        self.feeder, self.labels, self.dev, self.numerics = feeder, labels, dev, numerics
        self.eval_batch_size, self.n_classes = int(eval_batch_size), n_classes

    def autocast(self):
        return self.numerics.autocast(self.dev)

    def training_batches(
        self, order: np.ndarray, shifts: torch.Tensor | None, batch_size: int, clock: Clock, feeder=None
    ):
        """``(images, labels)`` of ``order`` in batches of ``batch_size``, each image rolled by its shift.

        ``feeder`` (default: the cache's) makes the images: the epoch's
        :class:`~ecgcwt.learn.cnn2d.signal_images.EpochImages` with signal augmentation.
        """
        n = len(order)
        bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            # a last training batch of one image breaks batch norm over 1x1 feature maps; drop it
            # (the order is shuffled, so a different image sits out each epoch)
            bounds.pop()
        order_dev = torch.from_numpy(order).to(self.dev, non_blocking=True)
        labels = self.labels[order_dev]
        shifts = shifts.to(self.dev, non_blocking=True) if shifts is not None else None
        batches = (feeder or self.feeder).batches(
            [order[a:b] for a, b in bounds], [shifts[a:b] for a, b in bounds] if shifts is not None else None
        )
        for (a, b), x in zip(bounds, batches):
            clock.first_step()
            yield x, labels[a:b]

    def batches(self, rows: np.ndarray):
        """``(images, labels)`` of ``rows`` in batches of ``eval_batch_size``, in order."""
        rows = np.array(rows, dtype=np.int64)  # a writable copy: torch refuses read-only arrays
        step = self.eval_batch_size
        chunks = [rows[i : i + step] for i in range(0, len(rows), step)]
        rows_dev = torch.from_numpy(rows).to(self.dev, non_blocking=True)
        for i, x in zip(range(0, len(rows), step), self.feeder.batches(chunks)):
            yield x, self.labels[rows_dev[i : i + step]]

    @torch.inference_mode()
    def logits(self, model: nn.Module, rows: np.ndarray) -> np.ndarray:
        """Logits of ``rows`` (float64 on the host, one row per image)."""
        return predict_logits(model, self.feeder, rows, self.eval_batch_size, self.autocast(), self.n_classes)


def _epoch_order(
    train_rows: np.ndarray, train_labels: np.ndarray, c: dict, epoch: int, width: int
) -> tuple[np.ndarray, torch.Tensor | None]:
    """Training rows of ``epoch`` in order and, with augmentation, each image's time shift; drawn from (seed, epoch).

    ``class_balance: sampler``: as many rows as ``train_rows``, each class drawn equally often
    (:func:`ecgcwt.learn.balance.balanced_order`); otherwise every row once, shuffled.
    """
    g = torch.Generator().manual_seed(epoch_seed(c["seed"], epoch))
    if c["class_balance"] == "sampler":
        order = train_rows[balanced_order(train_labels, c["seed"], epoch)]
    else:
        order = train_rows[torch.randperm(len(train_rows), generator=g).numpy()]
    shifts = torch.randint(0, width, (len(order),), generator=g) if augment_settings(c["augment"]).shift else None
    return order, shifts
