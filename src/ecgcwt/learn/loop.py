"""The epoch loop every neural learner shares (the 2D CNN, the 1D CNN).

A learner brings its model, how it cuts an epoch into batches and how it
scores its validation rows; everything else about training lives here, once:

* :func:`create_optimizer` / :func:`create_scheduler`: ``training.optimizer``
  (adamw, or sgd with momentum 0.9) and ``training.lr_schedule`` (cosine
  annealing to zero over ``training.epochs``, or constant).
* :func:`train_one_epoch`: forward (in the job's autocast), cross-entropy
  (optionally class-weighted), backward (through a ``GradScaler`` for fp16),
  optimizer step; the loss and the correct count accumulate on the device, so
  the host waits for the device once per epoch, not once per batch.
* :func:`evaluate`: mean loss, accuracy and balanced accuracy of batches in
  inference mode, also accumulated on the device.
* :func:`fit_epochs`: the epochs, early stopping on the validation loss
  (``training.patience``; smoother than balanced accuracy, which on a handful
  of validation subjects moves in coarse steps and ties often), the best
  epoch's weights kept (without validation rows, the last epoch's), the
  history rows, and a checkpoint (:class:`Checkpoint`) after an epoch once
  ``training.checkpoint_interval_s`` seconds have passed since the last one.
  A rerun with the same identity (:func:`run_identity`: settings, data,
  split, numerics) resumes after the checkpointed epoch and ends with exactly
  the result of an uninterrupted run, provided the learner draws epoch
  ``e``'s order and augmentation from ``(seed, e)`` (:func:`ecgcwt.learn.runner.epoch_seed`):
  the model, optimizer, schedule, scaler, loop state and every global RNG are
  restored. Checkpoints are read with ``weights_only=True``: a file that
  does not load that way is reported and ignored, never executed.
* :class:`Clock`: where a job's time goes (start-up until the first training
  step, each phase, checkpoints), reported in ``metrics.json``.
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
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecgcwt import __version__
from ecgcwt.atomic import write_torch
from ecgcwt.errors import DataError
from ecgcwt.evaluate import balanced_accuracy_from_confusion

CHECKPOINT = "checkpoint.pt"
#: The columns every neural learner writes to history.csv (a learner may add a throughput column).
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_balanced_acc", "lr", "seconds"]
#: ``training:`` keys that cannot change a run's result, left out of its identity.
NOT_HASHED = ("backbones", "memory_budget_mb", "checkpoint_interval_s", "calibrate")  # calibrate: after training

EMPTY_SCORES = {"loss": float("nan"), "acc": float("nan"), "balanced_acc": float("nan"), "n": 0}


class TrainingInterrupted(Exception):
    """Raised by an ``on_epoch_end`` callback to stop training (used to test resume)."""


# --------------------------------------------------------------------------- factories


def create_optimizer(params: Iterable[nn.Parameter], c: dict) -> torch.optim.Optimizer:
    """The optimizer of ``training`` settings ``c`` over the trainable ``params``."""
    params = [p for p in params if p.requires_grad]
    if c["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=c["lr"], weight_decay=c["weight_decay"])
    return torch.optim.SGD(params, lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"])


def create_scheduler(optimizer: torch.optim.Optimizer, c: dict):
    """The learning-rate schedule of ``c`` (stepped once per epoch), or None for a constant rate."""
    if c["lr_schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c["epochs"])
    return None


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (weights initialisation, dropout)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- one epoch


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    *,
    weight: torch.Tensor | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
    scaler=None,
) -> dict:
    """One pass of optimizer steps over ``batches`` of ``(inputs, labels)``: ``{"loss", "acc", "n"}``.

    ``model`` must already be in training mode. ``weight``: per-class
    cross-entropy weights (``class_balance: loss``). ``autocast``: a callable
    giving the job's autocast context (None: none). ``scaler``: a
    ``GradScaler`` for fp16 on CUDA, else None.
    """
    loss_sum = correct = None
    n = 0
    for x, y in batches:
        logits = _forward(model, x, autocast)
        loss = nn.functional.cross_entropy(logits.float(), y, weight=weight)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        with torch.no_grad():  # on the device: read back once, after the epoch
            if loss_sum is None:
                loss_sum = torch.zeros((), dtype=torch.float64, device=y.device)
                correct = torch.zeros((), dtype=torch.int64, device=y.device)
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
        n += len(y)
    if n == 0:
        return dict(EMPTY_SCORES)
    return {"loss": float(loss_sum) / n, "acc": int(correct) / n, "n": n}


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n_classes: int,
    *,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> dict:
    """Mean cross-entropy, accuracy and balanced accuracy of ``batches`` of ``(inputs, labels)``; model in eval mode.

    Balanced accuracy is the recall averaged over the classes present.
    NaN for all three (and ``n`` 0) without batches.
    """
    loss_sum = confusion = None
    n = 0
    for x, y in batches:
        logits = _forward(model, x, autocast).float()
        if loss_sum is None:
            loss_sum = torch.zeros((), dtype=torch.float64, device=y.device)
            confusion = torch.zeros(n_classes**2, dtype=torch.int64, device=y.device)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum")
        confusion += confusion_counts(y, logits, n_classes)
        n += len(y)
    if n == 0:
        return dict(EMPTY_SCORES)
    cm = confusion.cpu().numpy().reshape(n_classes, n_classes)  # rows: true class
    return {
        "loss": float(loss_sum) / n,
        "acc": float(np.trace(cm)) / n,
        "balanced_acc": balanced_accuracy_from_confusion(cm),
        "n": n,
    }


def _forward(model: nn.Module, x: torch.Tensor, autocast) -> torch.Tensor:
    if autocast is None:
        return model(x)
    with autocast():
        return model(x)


def confusion_counts(y: torch.Tensor, logits: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Confusion counts (true x predicted, flattened) of one batch, without a host sync.

    (``torch.bincount`` on CUDA reads the input's maximum back to the host
    to size its output: one sync per batch.)
    """
    codes = y * n_classes + logits.argmax(1)
    cells = torch.arange(n_classes**2, device=codes.device)
    return (codes.unsqueeze(1) == cells).sum(0)


# --------------------------------------------------------------------------- the epochs


@dataclass
class LoopState:
    """Everything about the epoch loop that a resumed run needs."""

    epoch: int = 0  # completed epochs
    best_loss: float | None = None
    best_epoch: int = 0
    best_state: dict | None = None
    since_best: int = 0
    stopped: bool = False
    history: list = field(default_factory=list)


def fit_epochs(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    *,
    train: Callable[[int], dict],
    validate: Callable[[], dict],
    has_val: bool,
    epochs: int,
    patience: int,
    checkpoint: "Checkpoint",
    scaler=None,
    clock: "Clock | None" = None,
    log: Callable[[str], None] = print,
    name: str = "",
    rate_column: str | None = None,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> LoopState:
    """Run the epochs that remain (after a resumed checkpoint's), stop early, and load the best weights.

    ``train(epoch)`` runs epoch ``epoch`` (0-based; the learner puts the
    model in training mode and draws the epoch's order from ``(seed,
    epoch)``) and returns :func:`train_one_epoch`'s ``{"loss", "acc", "n"}``;
    ``validate()`` scores the validation rows (``{"loss", "acc",
    "balanced_acc"}``). ``has_val``: whether there are validation rows (without,
    no early stopping and the last epoch is kept). ``rate_column``: the name of
    a history column for training samples per second (None: no such column).
    ``on_epoch_end(row)`` runs after each epoch and its checkpoint; raising
    :class:`TrainingInterrupted` there stops the run as a kill would.
    Returns the final state; the model holds the kept epoch's weights, in eval mode.
    """
    clock = clock or Clock()
    state = checkpoint.resume(model, optimizer, scheduler, scaler)
    prefix = f"{name} " if name else ""
    while state.epoch < epochs and not state.stopped:
        epoch = state.epoch
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        with clock.phase("train"):
            tr = train(epoch)
        t_train = time.perf_counter() - t0
        with clock.phase("validate"):
            va = validate() if has_val else dict(EMPTY_SCORES)
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
        }
        if rate_column is not None:
            row[rate_column] = tr["n"] / max(t_train, 1e-9)
        state.history.append(row)
        state.epoch = epoch + 1
        # without a validation set the last epoch is the one kept
        improved = not has_val or state.best_loss is None or va["loss"] < state.best_loss
        if improved:
            state.best_loss = va["loss"] if has_val else None
            state.best_epoch = epoch + 1
            state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            state.since_best = 0
        else:
            state.since_best += 1
            state.stopped = state.since_best >= patience
        # the last epoch needs no checkpoint: the outputs are written right after it
        if not (state.stopped or state.epoch >= epochs) and checkpoint.due():
            with clock.phase("checkpoint"):
                checkpoint.save(model, optimizer, scheduler, scaler, state)
            clock.checkpoints += 1
        rate = f", {row[rate_column]:.1f} samples/s" if rate_column is not None else ""
        log(
            f"{prefix}epoch {epoch + 1}/{epochs}: train loss {tr['loss']:.4f} acc {tr['acc']:.3f} | val loss "
            f"{va['loss']:.4f} bal.acc {va['balanced_acc']:.3f} | {row['seconds']:.2f} s{rate}"
            f"{' *' if improved else ''}"
        )
        if state.stopped:
            log(
                f"{prefix}early stop: no validation-loss improvement for {patience} epochs; "
                f"best epoch {state.best_epoch}"
            )
        if on_epoch_end is not None:
            on_epoch_end(row)
    if state.best_state is not None:  # None only when no epoch was allowed at all
        model.load_state_dict(state.best_state)
    model.eval()
    return state


# --------------------------------------------------------------------------- checkpoints


def run_identity(settings: dict, table: pd.DataFrame, rows: dict, **facts) -> str:
    """Identity of a training run: its ``training`` settings (less :data:`NOT_HASHED`), ``facts`` (model,
    fold, numerics, data attributes...), the package version, the window table and the split.
    A checkpoint is resumed only by a run of the same identity."""
    h = hashlib.sha256()
    cfg = {k: v for k, v in settings.items() if k not in NOT_HASHED}
    h.update(json.dumps({"cfg": cfg, **facts, "version": __version__}, sort_keys=True, default=str).encode())
    columns = [c for c in ("segment", "subject", "recording", "label_index") if c in table.columns]
    h.update(pd.util.hash_pandas_object(table[columns], index=False).to_numpy().tobytes())
    for name in ("train", "val", "test"):  # the split itself
        h.update(name.encode() + np.asarray(rows.get(name, ()), dtype=np.int64).tobytes())
    return h.hexdigest()


class Checkpoint:
    """A run's resumable ``checkpoint.pt``: written atomically at most once per ``interval_s``, read safely.

    ``identity``: :func:`run_identity` of the run; a checkpoint of another
    identity is reported and ignored.
    """

    def __init__(
        self, path: str | os.PathLike, identity: str, interval_s: float, log: Callable[[str], None] = print
    ) -> None:
        self.path = Path(path)
        self.identity = identity
        self.interval_s = float(interval_s)
        self.log = log
        self._last = time.perf_counter()

    def due(self) -> bool:
        """Whether ``interval_s`` has passed since the run started or last saved."""
        return time.perf_counter() - self._last >= self.interval_s

    def save(self, model: nn.Module, optimizer, scheduler, scaler, state: LoopState) -> None:
        ckpt = {
            "config_hash": self.identity,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "state": dict(vars(state)),  # shallow: serialised right away
            "rng": _rng_state(),
        }
        write_torch(ckpt, self.path)
        self._last = time.perf_counter()

    def resume(self, model: nn.Module, optimizer, scheduler, scaler) -> LoopState:
        """The state of a matching checkpoint, restored into the model, optimizer and RNGs; else a fresh state."""
        path, log = self.path, self.log
        if not path.exists():
            return LoopState()
        try:
            # weights_only: a checkpoint is data; a file that needs arbitrary unpickling is refused, not run
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            matches = isinstance(ckpt, dict) and ckpt.get("config_hash") == self.identity
        except Exception as exc:  # unreadable, foreign, truncated or hostile file
            reason = str(exc).splitlines()[0][:200] if str(exc) else ""
            log(f"ignoring checkpoint {path}: it cannot be read safely ({type(exc).__name__}: {reason}); starting over")
            return LoopState()
        if not matches:
            log(f"{path} was written with another configuration or data: starting over")
            return LoopState()
        try:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            state = LoopState(**ckpt["state"])
            device = next(iter(model.state_dict().values())).device
            state.best_state = {k: v.to(device) for k, v in state.best_state.items()}
            _set_rng_state(ckpt["rng"])
        except Exception as exc:
            raise DataError(
                f"checkpoint {str(path)!r} matches this run but is damaged ({type(exc).__name__}: {exc}); "
                "delete it and rerun the job"
            ) from exc
        self._last = time.perf_counter()
        log(f"resuming from {path} after epoch {state.epoch}")
        return state

    def discard(self) -> None:
        """Delete the checkpoint: once the outputs are written, its optimizer state and second copy of the
        weights are of no use."""
        self.path.unlink(missing_ok=True)


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


# --------------------------------------------------------------------------- time


class Clock:
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
        """Add the time spent in the ``with`` block to phase ``name`` (a range of that name in profiler traces)."""
        t = time.perf_counter()
        try:
            with torch.profiler.record_function(name):
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


__all__ = [
    "CHECKPOINT",
    "HISTORY_COLUMNS",
    "Checkpoint",
    "Clock",
    "LoopState",
    "TrainingInterrupted",
    "create_optimizer",
    "create_scheduler",
    "evaluate",
    "fit_epochs",
    "run_identity",
    "seed_everything",
    "train_one_epoch",
]
