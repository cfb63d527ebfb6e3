"""The 2D CNN: a torchvision backbone trained on scalograms, as a learner of the fold runner.

``train_fold`` is the job behind ``results/models/{model}/fold{k}/`` for a
cnn2d model: the fold runner (:mod:`ecgcwt.learn.runner`) makes the subject split
and writes ``predictions.csv``, ``history.csv`` and ``metrics.json``;
:class:`Cnn2dLearner` does the rest:

1. feed the images (:mod:`ecgcwt.learn.cnn2d.feeding`): the job's rows decoded once into
   memory as uint8 when they fit ``training.memory_budget_mb``, else streamed
   from the cache with raw chunk reads; uint8 batches go to the device and
   are converted and normalised there.
2. train (``training.class_balance``: each class drawn equally often per
   epoch, or an inverse-frequency weighted loss; :mod:`ecgcwt.learn.balance`)
   with early stopping on the *validation loss* (smoother than balanced
   accuracy, which on a handful of validation subjects moves in coarse steps
   and ties often); the best epoch's weights are kept. Losses and confusion
   counts accumulate on the device: the host waits for the device once per
   epoch, not once per batch. Validation and test run in inference mode at
   ``training.eval_batch_size``.
3. checkpoint (``checkpoint.pt``, atomic) after an epoch when at least
   ``training.checkpoint_interval_s`` seconds have passed since the last one
   (0: after every epoch); a rerun with the same configuration, data and
   split resumes after the checkpointed epoch and ends with exactly the
   result of an uninterrupted run (the data order and augmentation of epoch
   ``e`` are drawn from ``(seed, e)``, the RNG states are restored).
   Checkpoints are read with ``weights_only=True``: a file that does not load
   that way is reported and ignored, never executed.
4. predict the test rows and save ``model.pt`` (weights and everything
   ``ecgcwt predict`` needs to prepare new recordings); then delete the
   checkpoint (it holds optimizer state and a second copy of the weights,
   useless once the job is complete).

Rebuilding a saved model and predicting with it is :mod:`ecgcwt.apply.model_file`.
Precision, memory format and cuDNN autotuning are chosen per device and
backbone in :mod:`ecgcwt.learn.cnn2d.numerics`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecgcwt import __version__
from ecgcwt.atomic import write_torch
from ecgcwt.config import validate_section
from ecgcwt.data import preprocessing_from_attrs
from ecgcwt.errors import ConfigError, DataError
from ecgcwt.evaluate import balanced_accuracy_from_confusion
from ecgcwt.imaging import ChunkReader, read_scalogram_info
from ecgcwt.learn.augment import augment_settings
from ecgcwt.learn.balance import balanced_order, class_counts, class_weights
from ecgcwt.learn.calibration import calibration_line, fit_temperature, softmax
from ecgcwt.learn.cnn2d.backbones import build_model, set_train_mode
from ecgcwt.learn.cnn2d.feeding import BatchFeeder, open_image_source, predict_logits, predict_probabilities
from ecgcwt.learn.cnn2d.numerics import (  # noqa: F401  (resolve_precision and cpu_has_native_bf16 are part of this module's API)
    Numerics,
    choose_numerics,
    configure_backends,
    cpu_has_native_bf16,
    resolve_device,
    resolve_precision,
)
from ecgcwt.learn.runner import FoldData, SubjectSplit, epoch_seed, run_fold, split_subjects  # noqa: F401  (split_subjects, SubjectSplit: API)

#: Keys that cannot change the result, left out of the resume hash.
_NOT_HASHED = ("backbones", "memory_budget_mb", "checkpoint_interval_s", "calibrate")  # calibrate: after training

CHECKPOINT = "checkpoint.pt"
HISTORY_COLUMNS = [
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_balanced_acc",
    "lr",
    "seconds",
    "images_per_s",
]

#: Batches read ahead by the streaming path (each 4.8 MB at 32 x 224 px).
_PREFETCH = 4


class TrainingInterrupted(Exception):
    """Raised by an ``on_epoch_end`` callback to stop training (used to test resume)."""


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
    there stops the run as a kill would (used to test resume).
    """
    from ecgcwt.learn.train import train_model

    return train_model(
        {"kind": "cnn2d", "backbone": backbone, "training": resolve_training_config(cfg)},
        name=model_name or backbone,
        fold=fold,
        out_dir=out_dir,
        scalograms=scalograms_h5,
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
    ) -> "Cnn2dLearner":
        """The learner of a cnn2d model's spec (``ecgcwt.config.model_specs``, in ``ecgcwt.config.models``)."""
        return cls(
            spec["backbone"],
            spec["training"],
            threads=threads,
            device=device,
            weights_file=weights_file,
            on_epoch_end=on_epoch_end,
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
    ) -> None:
        self.clock = _Clock()
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
        self.reader: ChunkReader | None = None
        self.loop: _Loop | None = None
        self.temperature = 1.0  # fitted at the end of fit() (training.calibrate)
        self.calibration: dict = {}

    def fit(self, data: FoldData, out_dir: Path, log: Callable[[str], None]) -> list[dict]:
        c, dev, numerics, clock = self.c, self.dev, self.numerics, self.clock
        if dev.type == "cpu" and numerics.amp_dtype == torch.bfloat16 and not cpu_has_native_bf16():
            log("warning: training.precision bf16 on a CPU without native bf16: emulated, expect it slower than fp32")
        info = read_scalogram_info(data.source)
        if augment_settings(c["augment"]).signal_on:
            raise ConfigError(
                "training.augment: the signal augmentations need the training images computed per batch, "
                "which cnn2d models do not do yet; set their p to 0 for cnn2d models (the cnn1d baseline applies them)"
            )
        rows = data.rows
        self.info = info

        # ---- model
        _seed_all(c["seed"])
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
        params = [p for p in model.parameters() if p.requires_grad]
        if c["optimizer"] == "adamw":
            optimizer: torch.optim.Optimizer = torch.optim.AdamW(params, lr=c["lr"], weight_decay=c["weight_decay"])
        else:
            optimizer = torch.optim.SGD(params, lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"])
        scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c["epochs"])
            if c["lr_schedule"] == "cosine"
            else None
        )
        scaler = torch.amp.GradScaler("cuda") if (dev.type == "cuda" and numerics.amp_dtype == torch.float16) else None
        log(
            f"{self.backbone}: weights {built.weights_source}, strategy {c['strategy']}, device {dev}, "
            f"autocast {numerics.precision}, channels_last {numerics.channels_last}, "
            f"cudnn.benchmark {numerics.cudnn_benchmark}, threads {torch.get_num_threads()}"
        )

        # ---- resume
        cfg_hash = _config_hash(c, self.backbone, data.fold, info, data.table, rows, numerics, dev)
        ckpt_path = out_dir / CHECKPOINT
        state = _resume(ckpt_path, cfg_hash, model, optimizer, scheduler, scaler, dev, log)

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
        loop = _Loop(model, feeder, labels, dev, numerics, len(data.classes), c["eval_batch_size"], weight)
        self.loop = loop
        log(
            f"class balance {c['class_balance']}: training windows per class "
            f"{class_counts(train_labels, data.classes)}"
            + (f", loss weights {[round(float(w), 3) for w in weight]}" if weight is not None else "")
        )

        # ---- epochs
        last_checkpoint = time.perf_counter()
        while state.epoch < c["epochs"] and not state.stopped:
            epoch = state.epoch
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            set_train_mode(built, c["strategy"])
            order, shifts = _epoch_order(rows["train"], train_labels, c, epoch, info.width)
            with clock.phase("train"):
                tr = loop.train(order, shifts, c["batch_size"], optimizer, scaler, clock)
            t_train = time.perf_counter() - t0
            with clock.phase("validate"):
                va = loop.evaluate(rows["val"]) if len(rows["val"]) else _EMPTY
            if scheduler is not None:
                scheduler.step()
            row = {
                "epoch": epoch + 1,
                "train_loss": tr["loss"],
                "train_acc": tr["acc"],
                "val_loss": va["loss"],
                "val_acc": va["acc"],
                "val_balanced_acc": va["balanced_acc"],
                "lr": lr,
                "seconds": time.perf_counter() - t0,
                "images_per_s": tr["n"] / max(t_train, 1e-9),
            }
            state.history.append(row)
            state.epoch = epoch + 1
            # without a validation set the last epoch is the one kept
            improved = not len(rows["val"]) or state.best_loss is None or va["loss"] < state.best_loss
            if improved:
                state.best_loss = va["loss"] if len(rows["val"]) else None
                state.best_epoch = epoch + 1
                state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                state.since_best = 0
            else:
                state.since_best += 1
                state.stopped = state.since_best >= c["patience"]
            finished = state.stopped or state.epoch >= c["epochs"]
            # the last epoch needs no checkpoint: the outputs are written right after it
            if not finished and time.perf_counter() - last_checkpoint >= c["checkpoint_interval_s"]:
                with clock.phase("checkpoint"):
                    _save_checkpoint(ckpt_path, model, optimizer, scheduler, scaler, state, cfg_hash)
                clock.checkpoints += 1
                last_checkpoint = time.perf_counter()
            log(
                f"epoch {epoch + 1}/{c['epochs']}: train loss {tr['loss']:.4f} acc {tr['acc']:.3f} | val loss "
                f"{va['loss']:.4f} bal.acc {va['balanced_acc']:.3f} | {row['seconds']:.1f} s, "
                f"{row['images_per_s']:.1f} img/s{' *' if improved else ''}"
            )
            if state.stopped:
                log(
                    f"early stop: no validation-loss improvement for {c['patience']} epochs; "
                    f"best epoch {state.best_epoch}"
                )
            if self.on_epoch_end is not None:
                self.on_epoch_end(row)

        model.load_state_dict(state.best_state)
        model.eval()
        self.state = state
        # ---- temperature (on the validation windows, the best epoch's weights)
        with clock.phase("calibrate"):
            val_logits = loop.logits(rows["val"])
            val_labels = data.table["label_index"].to_numpy(np.int64)[rows["val"]]
            self.calibration = fit_temperature(val_logits, val_labels, c["calibrate"])
        self.temperature = float(self.calibration["temperature"])
        log(calibration_line(self.calibration))
        self.ckpt_path = ckpt_path
        return [{k: r.get(k) for k in HISTORY_COLUMNS} for r in state.history]

    def predict_logits(self, data: FoldData, rows: np.ndarray) -> np.ndarray:
        """Logits of ``rows`` (before the temperature): the fold runner writes both probabilities from them."""
        with self.clock.phase("test"):
            return self.loop.logits(rows)

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
        # the checkpoint holds optimizer state and a second copy of the weights: useless once saved
        self.ckpt_path.unlink(missing_ok=True)

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


_EMPTY = {"loss": float("nan"), "acc": float("nan"), "balanced_acc": float("nan"), "n": 0}


class _Loop:
    """Training and inference passes over cache rows, with all bookkeeping kept on the device."""

    def __init__(
        self,
        model: nn.Module,
        feeder: BatchFeeder,
        labels: torch.Tensor,
        dev: torch.device,
        numerics: Numerics,
        n_classes: int,
        eval_batch_size: int,
        weight: torch.Tensor | None = None,
    ) -> None:
        self.model, self.feeder, self.labels, self.dev = model, feeder, labels, dev
        self.numerics, self.n_classes, self.eval_batch_size = numerics, n_classes, int(eval_batch_size)
        self.weight = weight  # per-class cross-entropy weights of training (class_balance: loss), else None

    def train(
        self, order: np.ndarray, shifts: torch.Tensor | None, batch_size: int, optimizer, scaler, clock: "_Clock"
    ) -> dict:
        n = len(order)
        bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            # a last training batch of one image breaks batch norm over 1x1 feature maps; drop it
            # (the order is shuffled, so a different image sits out each epoch)
            bounds.pop()
        order_dev = torch.from_numpy(order).to(self.dev, non_blocking=True)
        labels = self.labels[order_dev]
        shifts = shifts.to(self.dev, non_blocking=True) if shifts is not None else None
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.dev)
        confusion = torch.zeros(self.n_classes**2, dtype=torch.int64, device=self.dev)
        batches = self.feeder.batches(
            [order[a:b] for a, b in bounds], [shifts[a:b] for a, b in bounds] if shifts is not None else None
        )
        for (a, b), x in zip(bounds, batches):
            clock.first_step()
            y = labels[a:b]
            with self.numerics.autocast(self.dev):
                logits = self.model(x)
            loss = nn.functional.cross_entropy(logits.float(), y, weight=self.weight)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * (b - a)
                confusion += self._counts(y, logits)
        return _summary(float(loss_sum), confusion, self.n_classes, sum(b - a for a, b in bounds))

    def _counts(self, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Confusion counts (true x predicted, flattened) of one batch, without a host sync.

        (``torch.bincount`` on CUDA reads the input's maximum back to the host
        to size its output: one sync per batch.)
        """
        codes = y * self.n_classes + logits.argmax(1)
        cells = torch.arange(self.n_classes**2, device=codes.device)
        return (codes.unsqueeze(1) == cells).sum(0)

    @torch.inference_mode()
    def evaluate(self, rows: np.ndarray) -> dict:
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.dev)
        confusion = torch.zeros(self.n_classes**2, dtype=torch.int64, device=self.dev)
        for y, logits in self._logits(rows):
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum")
            confusion += self._counts(y, logits)
        return _summary(float(loss_sum), confusion, self.n_classes, len(rows))

    @torch.inference_mode()
    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Class probabilities of ``rows`` (float64 on the host, one row per image), before any temperature."""
        autocast = self.numerics.autocast(self.dev)
        return predict_probabilities(self.model, self.feeder, rows, self.eval_batch_size, autocast, self.n_classes)

    @torch.inference_mode()
    def logits(self, rows: np.ndarray) -> np.ndarray:
        """Logits of ``rows`` (float64 on the host, one row per image)."""
        autocast = self.numerics.autocast(self.dev)
        return predict_logits(self.model, self.feeder, rows, self.eval_batch_size, autocast, self.n_classes)

    def _logits(self, rows: np.ndarray):
        rows = np.array(rows, dtype=np.int64)  # a writable copy: torch refuses read-only arrays
        step = self.eval_batch_size
        chunks = [rows[i : i + step] for i in range(0, len(rows), step)]
        rows_dev = torch.from_numpy(rows).to(self.dev, non_blocking=True)
        for i, x in zip(range(0, len(rows), step), self.feeder.batches(chunks)):
            with self.numerics.autocast(self.dev):
                logits = self.model(x)
            yield self.labels[rows_dev[i : i + step]], logits.float()


def _summary(loss_sum: float, confusion: torch.Tensor, n_classes: int, n: int) -> dict:
    """Mean loss, accuracy and balanced accuracy (recall averaged over the classes present)."""
    if n == 0:
        return dict(_EMPTY)
    cm = confusion.cpu().numpy().reshape(n_classes, n_classes)  # rows: true class
    return {
        "loss": loss_sum / n,
        "acc": float(np.trace(cm)) / n,
        "balanced_acc": balanced_accuracy_from_confusion(cm),
        "n": n,
    }


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


class _Clock:
    """Where a job's time goes: start-up (until the first training step), each phase, checkpoints."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.wall0 = time.time()
        self.phases: dict[str, float] = {}
        self.startup_s: float | None = None
        self.process_startup_s: float | None = None
        self.checkpoints = 0

    def first_step(self) -> None:
        if self.startup_s is None:
            self.startup_s = time.perf_counter() - self.t0
            self.process_startup_s = time.time() - _process_start_time()

    @contextlib.contextmanager
    def phase(self, name: str):
        """Add the time spent in the ``with`` block to phase ``name``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - t

    def summary(self) -> dict:
        total = time.perf_counter() - self.t0
        out = {
            "total_s": total,
            "startup_s": self.startup_s,
            "process_startup_s": self.process_startup_s,
            "checkpoints": self.checkpoints,
        }
        out.update({f"{k}_s": v for k, v in self.phases.items()})
        return out


def _process_start_time() -> float:
    """Wall-clock time this process started (so start-up includes interpreter and imports).

    On Linux: the start in clock ticks since boot (``/proc/self/stat``, 10 ms
    steps) against ``CLOCK_BOOTTIME`` now. psutil's ``create_time`` adds it to
    the boot time of ``/proc/stat``, whole seconds: measured on a 2-core VM it
    made every start-up look 0.9 s longer than it was.
    """
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, AttributeError, ValueError, IndexError):  # not Linux
        pass
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # psutil missing: count from the call instead
        return time.time()


@dataclass
class _TrainState:
    """Everything about the epoch loop that a resumed run needs."""

    epoch: int = 0  # completed epochs
    best_loss: float | None = None
    best_epoch: int = 0
    best_state: dict | None = None
    since_best: int = 0
    stopped: bool = False
    history: list = field(default_factory=list)


def _resume(path: Path, cfg_hash: str, model, optimizer, scheduler, scaler, dev, log) -> _TrainState:
    """The state of a matching checkpoint, restored into the model and optimizer; else a fresh state."""
    if not path.exists():
        return _TrainState()
    try:
        # weights_only: a checkpoint is data; a file that needs arbitrary unpickling is refused, not run
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        matches = isinstance(ckpt, dict) and ckpt.get("config_hash") == cfg_hash
    except Exception as exc:  # unreadable, foreign, truncated or hostile file
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        log(f"ignoring checkpoint {path}: it cannot be read safely ({type(exc).__name__}: {reason}); starting over")
        return _TrainState()
    if not matches:
        log(f"{path} was written with another configuration or data: starting over")
        return _TrainState()
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        state = _TrainState(**ckpt["state"])
        state.best_state = {k: v.to(dev) for k, v in state.best_state.items()}
        _set_rng_state(ckpt["rng"])
    except Exception as exc:
        raise DataError(
            f"checkpoint {str(path)!r} matches this run but is damaged ({type(exc).__name__}: {exc}); "
            "delete it and rerun the job"
        ) from exc
    log(f"resuming from {path} after epoch {state.epoch}")
    return state


# --------------------------------------------------------------------------- helpers


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    """Every global RNG state as tensors and plain numbers, so checkpoints load with ``weights_only=True``."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_rng_state(s: dict) -> None:
    py = s["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = s["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"])
    )
    torch.set_rng_state(s["torch"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _save_checkpoint(path: Path, model, optimizer, scheduler, scaler, state: _TrainState, cfg_hash: str) -> None:
    ckpt = {
        "config_hash": cfg_hash,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "state": dict(vars(state)),  # shallow: serialised right away
        "rng": _rng_state(),
    }
    write_torch(ckpt, path)


def _config_hash(
    c: dict, backbone: str, fold, info, table: pd.DataFrame, rows: dict, numerics: Numerics, dev: torch.device
) -> str:
    """Identity of a training run: settings, data and numerics; a checkpoint is resumed only if it matches."""
    h = hashlib.sha256()
    settings = {k: v for k, v in c.items() if k not in _NOT_HASHED}
    h.update(
        json.dumps(
            {
                "cfg": settings,
                "backbone": backbone,
                "fold": str(fold),
                "amp": numerics.precision,
                "channels_last": numerics.channels_last,
                "device": dev.type,
                "version": __version__,
            },
            sort_keys=True,
            default=str,
        ).encode()
    )
    h.update(
        json.dumps(
            {"attrs": info.attrs, "shape": [info.n_images, info.height, info.width]}, sort_keys=True, default=str
        ).encode()
    )
    h.update(
        pd.util.hash_pandas_object(table[["segment", "subject", "recording", "label_index"]], index=False)
        .to_numpy()
        .tobytes()
    )
    for name in ("train", "val", "test"):  # the split itself
        h.update(name.encode() + np.asarray(rows[name], dtype=np.int64).tobytes())
    return h.hexdigest()
