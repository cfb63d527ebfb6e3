"""1D-CNN baseline: a small convolutional network trained from scratch on the raw windows.

Architecture (:class:`Cnn1d`, defaults :data:`DEFAULT_ARCH`): each window is
z-scored on its own inside the model (``(x - mean) / (std + 1e-6)``, so the
network sees shape, not amplitude or offset, and a saved model needs no
separate normalisation), then five blocks ``Conv1d(kernel 7, padding 3, no
bias) - BatchNorm1d - ReLU - MaxPool1d(2)`` with 16, 32, 64, 96, 128 channels
(receptive field 218 samples, 1.7 s at 128 Hz: a beat and its neighbours),
global average pooling over time, dropout (``training.dropout``) and a linear
head. 148,115 parameters for 3 classes; any window length of at least 32 samples.

Training (``training:`` keys used: ``epochs``, ``batch_size``, ``lr``,
``weight_decay``, ``optimizer`` adamw | sgd (momentum 0.9), ``lr_schedule``
cosine | constant, ``dropout``, ``patience``, ``seed``, ``augment``,
``eval_batch_size``, ``class_balance``, ``calibrate``): cross-entropy (with
``class_balance`` sampler, each class drawn equally often per epoch; loss,
weighted by inverse class frequency; see :mod:`ecgcwt.learn.balance`); early stopping on the validation loss
with ``patience`` epochs, the best epoch's weights kept (without validation
rows, the last epoch's). ``augment`` (:mod:`ecgcwt.learn.augment`): with
``shift`` each training window is rotated by a random circular time shift
every epoch; the signal augmentations apply to each training window before
that (amplitude and polarity change nothing after the z-score but are drawn alike).

The epochs run through the loop every neural learner shares
(:mod:`ecgcwt.learn.loop`): ``checkpoint.pt`` in the fold's folder at most
every ``training.checkpoint_interval_s`` seconds, and a rerun after a kill
resumes after the checkpointed epoch and writes the model an uninterrupted
run writes.

Reproducibility: the weights are initialised after ``torch.manual_seed(seed)``;
the order of the training windows and the shifts of epoch ``e`` are drawn from
a generator seeded with ``(seed, e)``; dropout draws from the seeded global
generator. Two fits on the same CPU with the same thread count give identical
weights and probabilities.

Memory: when the fold's training and validation windows fit
``training.memory_budget_mb`` as float32 (``n x window x 4`` bytes: 100,000
windows of 1024 samples = 410 MB; the demo's ~300 windows of 512 = 0.6 MB;
every window of the three databases at 8 s, about 2.8 GB), they are read from
the segment store once per fit and held on the training device. Above it, each
epoch's shuffled order is cut into blocks of whole batches that fit the budget,
and each block's windows are read (in store order, each once) before its
batches run: the same batches in the same order, so the same network, with
memory bounded by the budget; validation is read batch by batch. Prediction
reads the requested rows batch by batch.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from ecgcwt import __version__
from ecgcwt.atomic import write_torch
from ecgcwt.config import validate_section
from ecgcwt.data import iter_signal_batches, read_info, read_source_facts
from ecgcwt.errors import DataError
from ecgcwt.learn.augment import augment_settings, augment_signals, draw_plan
from ecgcwt.learn.balance import balanced_order, class_counts, class_weights
from ecgcwt.learn.baselines.common import check_train_rows, check_window, fold_labels, scores
from ecgcwt.learn.calibration import calibration_line, fit_temperature, softmax
from ecgcwt.learn.cnn2d.numerics import resolve_device
from ecgcwt.learn.loop import (
    CHECKPOINT,
    Checkpoint,
    Clock,
    create_optimizer,
    create_scheduler,
    fit_epochs,
    run_identity,
    seed_everything,
    train_one_epoch,
)
from ecgcwt.learn.runner import epoch_seed

if TYPE_CHECKING:
    from ecgcwt.learn.runner import FoldData

#: The network's shape (saved in ``meta["arch"]``; ``dropout`` and ``n_classes`` are added per fit).
DEFAULT_ARCH = {"channels": [16, 32, 64, 96, 128], "kernel_size": 7, "in_channels": 1}

_Z_EPS = 1e-6


class Cnn1d(nn.Module):
    """Per-window z-score, conv blocks (Conv1d-BN-ReLU-MaxPool), global average pool, dropout, linear head."""

    def __init__(
        self,
        n_classes: int,
        channels: list[int] | tuple[int, ...] = tuple(DEFAULT_ARCH["channels"]),
        kernel_size: int = DEFAULT_ARCH["kernel_size"],
        dropout: float = 0.5,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = in_channels
        for c_out in channels:
            blocks += [
                nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(2),
            ]
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of windows ``x``: ``(n, window)`` or ``(n, 1, window)``, any units."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True, unbiased=False)
        x = (x - mean) / (std + _Z_EPS)
        x = self.features(x).mean(dim=-1)
        return self.head(self.dropout(x))


def build_cnn1d(arch: dict) -> Cnn1d:
    """The network of ``meta["arch"]``."""
    return Cnn1d(
        n_classes=int(arch["n_classes"]),
        channels=list(arch["channels"]),
        kernel_size=int(arch["kernel_size"]),
        dropout=float(arch["dropout"]),
        in_channels=int(arch.get("in_channels", 1)),
    )


def min_window(arch: dict) -> int:
    """Shortest window the network takes (each block halves the length)."""
    return 2 ** len(arch["channels"])


@torch.inference_mode()
def signal_logits(
    model: nn.Module, signals: np.ndarray | torch.Tensor, *, batch_size: int = 256, device="cpu"
) -> np.ndarray:
    """Logits ``(n, n_classes)`` float64 of raw windows ``signals`` (n, window), model in eval mode.

    ``signals``: a numpy array (any float dtype, mV) or a float32 tensor (already on ``device`` or not).
    """
    model.eval()
    dev = torch.device(device)
    out = []
    for i in range(0, len(signals), batch_size):
        chunk = signals[i : i + batch_size]
        x = chunk if isinstance(chunk, torch.Tensor) else torch.from_numpy(np.asarray(chunk, dtype=np.float32))
        out.append(model(x.to(dev)).double().cpu().numpy())
    n_classes = model.head.out_features
    return np.concatenate(out) if out else np.empty((0, n_classes))


def predict_signals(
    model: nn.Module,
    signals: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 256,
    device="cpu",
    temperature: float = 1.0,
) -> np.ndarray:
    """Softmax probabilities ``(n, n_classes)`` float64 of ``logits / temperature`` of raw windows ``signals``.

    ``temperature``: a saved model's ``meta["temperature"]`` (1: the network's own probabilities).
    """
    return softmax(signal_logits(model, signals, batch_size=batch_size, device=device), temperature)


def load_cnn1d(path: str | Path, device: str = "cpu") -> tuple[Cnn1d, dict]:
    """``(model in eval mode, meta)`` from a ``model.pt`` written by :meth:`Cnn1dLearner.save`.

    Read with ``weights_only=True``: tensors and plain values only, no code is run.
    """
    ckpt = torch.load(path, map_location=device, weights_only=True)
    meta = ckpt.get("meta", {}) if isinstance(ckpt, dict) else {}
    if meta.get("kind") != Cnn1dLearner.kind:
        raise DataError(f"{str(path)!r} is not a 1D-CNN baseline model written by ecgcwt")
    model = build_cnn1d(meta["arch"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), meta


def _read_rows(source, rows: np.ndarray, window: int, batch_size: int = 4096) -> np.ndarray:
    out = np.empty((len(rows), window), np.float32)
    i = 0
    for _, sig in iter_signal_batches(source, batch_size, rows):
        out[i : i + len(sig)] = sig
        i += len(sig)
    return out


def _rows_logits(model: nn.Module, source, rows: np.ndarray, batch_size: int, dev) -> np.ndarray:
    """Logits of segment-store ``rows``, read batch by batch (memory: one batch of windows)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), model.head.out_features))
    i = 0
    for _, sig in iter_signal_batches(source, batch_size, rows):
        out[i : i + len(sig)] = signal_logits(model, sig, batch_size=batch_size, device=dev)
        i += len(sig)
    return out


class Cnn1dLearner:
    """A small 1D CNN trained on the fold's raw windows (see the module docstring).

    ``cfg``: the ``training:`` mapping (missing keys take the schema's defaults
    and every value is checked against the schema, ``workflow/schemas/config.schema.yaml``).
    ``device``: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"``...
    ``threads``: torch's CPU threads for fit and predict (``torch.set_num_threads``).
    """

    kind = "cnn1d"
    model_file = "model.pt"

    @classmethod
    def from_spec(
        cls,
        spec: dict,
        *,
        device: str = "auto",
        threads: int | None = None,
        on_epoch_end: Callable[[dict], None] | None = None,
        **_,
    ) -> "Cnn1dLearner":
        """The learner of a ``models:`` entry's spec (``ecgcwt.config.model_specs``, in ``ecgcwt.config.models``)."""
        return cls(spec.get("training"), device=device, threads=threads, on_epoch_end=on_epoch_end)

    def __init__(
        self,
        cfg: dict | None = None,
        *,
        device: str = "auto",
        threads: int | None = None,
        on_epoch_end: Callable[[dict], None] | None = None,
    ) -> None:
        # the schema's defaults and checks (as cnn2d.learner.resolve_training_config, which would import the
        # 2D training stack); the keys this learner does not use are kept, so meta["config"] is the whole mapping
        self.cfg = validate_section("training", cfg)
        self.device_name = device
        self.threads = threads
        self.on_epoch_end = on_epoch_end
        self.model: Cnn1d | None = None
        self.meta: dict | None = None
        self._facts: dict = {}
        self.temperature = 1.0
        self.calibration: dict = {}

    def _device(self) -> torch.device:
        if self.threads is not None:
            torch.set_num_threads(int(self.threads))
        return resolve_device(self.device_name)

    def fit(self, data: "FoldData", out_dir: Path, log: Callable[[str], None] = print) -> list[dict]:
        c = self.cfg
        clock = Clock()
        train = check_train_rows(data, self.kind)
        val = np.asarray(data.rows.get("val", ()), dtype=np.int64)
        info = read_info(data.source)
        arch = {**copy.deepcopy(DEFAULT_ARCH), "dropout": float(c["dropout"]), "n_classes": len(data.classes)}
        if info.window < min_window(arch):
            raise DataError(
                f"cnn1d: windows of {info.window} samples are shorter than the {min_window(arch)} the network's "
                f"{len(arch['channels'])} pooling blocks need; use longer windows (segments.window)"
            )
        dev = self._device()

        # ---- data: train + val windows read once, float32 on the device, when they fit
        # training.memory_budget_mb; else each epoch reads its shuffled order block by block
        bs = int(c["batch_size"])
        window_bytes = 4 * info.window
        signals_mb = (len(train) + len(val)) * window_bytes / 1e6
        in_memory = signals_mb <= float(c["memory_budget_mb"])
        with clock.phase("load_signals"):
            if in_memory:
                x_train = torch.from_numpy(_read_rows(data.source, train, info.window)).to(dev)
                x_val = torch.from_numpy(_read_rows(data.source, val, info.window)).to(dev)
                block_rows = max(1, len(train))
            else:
                x_train = x_val = None
                # whole batches per block, so the batches (and the result) are those of the in-memory path
                block_rows = max(bs, int(float(c["memory_budget_mb"]) * 1e6 // window_bytes) // bs * bs)
        y_train_np = fold_labels(data, train)
        y_train = torch.from_numpy(y_train_np).to(dev)
        weight = None
        if c["class_balance"] == "loss":
            weight = torch.tensor(class_weights(y_train_np, len(data.classes)), dtype=torch.float32, device=dev)
        y_val_np = fold_labels(data, val)

        # ---- model, optimiser, schedule, checkpoint
        seed_everything(int(c["seed"]))
        model = build_cnn1d(arch).to(dev)
        opt = create_optimizer(model.parameters(), c)
        sched = create_scheduler(opt, c)
        identity = run_identity(
            c, data.table, data.rows, arch=arch, fold=str(data.fold), device=dev.type, store=dataclasses.asdict(info)
        )
        self.checkpoint = Checkpoint(Path(out_dir) / CHECKPOINT, identity, c["checkpoint_interval_s"], log)
        n_params = sum(p.numel() for p in model.parameters())
        log(
            f"cnn1d fold {data.fold}: {len(train)} train / {len(val)} val windows of {info.window} samples "
            f"({signals_mb:.1f} MB float32, "
            + (
                "in memory"
                if in_memory
                else f"over training.memory_budget_mb {c['memory_budget_mb']}: read in blocks of {block_rows}"
            )
            + f"), {n_params} parameters, device {dev}, threads {torch.get_num_threads()}"
        )

        log(
            f"cnn1d class balance {c['class_balance']}: training windows per class "
            f"{class_counts(y_train_np, data.classes)}"
            + (f", loss weights {[round(float(w), 3) for w in weight]}" if weight is not None else "")
        )
        positions = torch.arange(info.window, device=dev)
        augment = augment_settings(c["augment"], fs=info.fs)

        def batches(epoch: int):
            """The epoch's ``(windows, labels)`` batches: order and shifts drawn from (seed, epoch)."""
            g = torch.Generator().manual_seed(epoch_seed(c["seed"], epoch))
            if c["class_balance"] == "sampler":  # each class equally often, as many draws as windows
                order = torch.from_numpy(balanced_order(y_train_np, c["seed"], epoch)).to(dev)
            else:
                order = torch.randperm(len(train), generator=g).to(dev)
            shifts = torch.randint(0, info.window, (len(train),), generator=g).to(dev) if augment.shift else None
            # the signal augmentations of each position of this epoch's order (training.augment)
            plan = draw_plan(augment, len(train), c["seed"], epoch) if augment.signal_on else None
            for start in range(0, len(train), block_rows):
                # where: each position of this block's part of the order -> its row in block
                if in_memory:  # one block, start 0
                    block, where = x_train, order
                else:  # this block's windows, each read once, in store order
                    wanted, inverse = np.unique(
                        train[order[start : start + block_rows].cpu().numpy()], return_inverse=True
                    )
                    block = torch.from_numpy(_read_rows(data.source, wanted, info.window)).to(dev)
                    where = torch.from_numpy(inverse).to(dev)
                for a in range(start, min(start + block_rows, len(train)), bs):
                    x = block[where[a - start : a - start + bs]]
                    if plan is not None:
                        x = augment_signals(x, plan[a : a + len(x)], info.fs)
                    if shifts is not None:  # circular shift right by s: out[t] = x[(t - s) mod window]
                        x = x.gather(1, (positions[None, :] - shifts[a : a + bs, None]) % info.window)
                    clock.first_step()
                    yield x, y_train[order[a : a + bs]]
                del block

        def train_epoch(epoch: int) -> dict:
            model.train()
            return train_one_epoch(model, batches(epoch), opt, weight=weight)

        state = fit_epochs(
            model,
            opt,
            sched,
            train=train_epoch,
            # scored on the host in float64, as the temperature fit and the test predictions are
            validate=lambda: scores(y_val_np, softmax(self._val_logits(model, x_val, data.source, val, dev))),
            has_val=len(val) > 0,
            epochs=int(c["epochs"]),
            patience=int(c["patience"]),
            checkpoint=self.checkpoint,
            clock=clock,
            log=log,
            name="cnn1d",
            on_epoch_end=self.on_epoch_end,
        )
        # temperature on the validation windows, with the kept weights (training.calibrate)
        with clock.phase("calibrate"):
            val_logits = self._val_logits(model, x_val, data.source, val, dev)
            self.calibration = fit_temperature(val_logits, y_val_np, c["calibrate"])
        self.temperature = float(self.calibration["temperature"])
        log("cnn1d " + calibration_line(self.calibration))
        self.model = model
        self.meta = {
            "kind": self.kind,
            "classes": list(data.classes),
            "window": info.window,
            "fs": info.fs,
            "arch": arch,
            "config": json.loads(json.dumps(c, default=str)),  # plain values: loads with weights_only=True
            "fold": data.fold,
            "best_epoch": state.best_epoch,
            # probabilities are softmax(logits / temperature) (absent in older files: 1)
            "temperature": self.temperature,
            "calibration": self.calibration,
            "ecgcwt_version": __version__,
            # segmentation and data source: new records are cut alike (ecgcwt predict, external validation)
            **read_source_facts(data.source),
        }
        self._facts = {
            "best_epoch": state.best_epoch,
            "epochs_run": state.epoch,
            "stopped_early": state.stopped,
            "early_stopping_monitor": "val_loss" if len(val) else None,
            "class_balance": c["class_balance"],
            "temperature": self.temperature,
            "calibration": self.calibration,
            "device": str(dev),
            "threads": torch.get_num_threads(),
            "n_params": n_params,
            "arch": arch,
            "signals_mb": signals_mb,
            "signals_in_memory": in_memory,
            "fit_seconds": clock.summary()["total_s"],
            "timing": clock.summary(),
        }
        return [dict(r) for r in state.history]

    def _val_logits(self, model: nn.Module, x_val, source, val: np.ndarray, dev) -> np.ndarray:
        """Validation logits from the windows in memory, or read batch by batch (the same batches)."""
        bs = int(self.cfg["eval_batch_size"])
        if x_val is not None:
            return signal_logits(model, x_val, batch_size=bs, device=dev)
        return _rows_logits(model, source, val, bs, dev)

    def _require_fitted(self) -> None:
        if self.model is None or self.meta is None:
            raise RuntimeError("Cnn1dLearner: call fit() before predict_proba() or save()")

    def predict_proba(self, data: "FoldData", rows: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, ``softmax(logits / temperature)``."""
        return softmax(self.predict_logits(data, rows), self.temperature)

    def predict_logits(self, data: "FoldData", rows: np.ndarray) -> np.ndarray:
        """Logits of ``rows`` (before the temperature): the fold runner writes both probabilities from them."""
        self._require_fitted()
        check_window("cnn1d model was trained", self.meta["window"], data.source)
        dev = next(self.model.parameters()).device
        return _rows_logits(self.model, data.source, rows, int(self.cfg["eval_batch_size"]), dev)

    def save(self, path: Path, data: "FoldData") -> None:
        """``torch.save({"state_dict", "meta"})`` atomically; :func:`load_cnn1d` reads it back."""
        self._require_fitted()
        state = {k: v.detach().to("cpu") for k, v in self.model.state_dict().items()}
        write_torch({"state_dict": state, "meta": self.meta}, path)
        self.checkpoint.discard()

    def describe(self) -> dict:
        return {"kind": self.kind, "params": {k: self.cfg[k] for k in _USED_KEYS}, **self._facts}


#: The ``training:`` keys this learner reads (reported in ``describe()["params"]``).
_USED_KEYS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "optimizer",
    "lr_schedule",
    "dropout",
    "patience",
    "seed",
    "augment",
    "eval_batch_size",
    "class_balance",
    "calibrate",
    "checkpoint_interval_s",
)

__all__ = ["Cnn1d", "Cnn1dLearner", "DEFAULT_ARCH", "build_cnn1d", "load_cnn1d", "predict_signals", "signal_logits"]
