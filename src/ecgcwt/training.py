"""Train one backbone on one subject-grouped fold, with early stopping, checkpoints and resume.

``train_fold`` is the whole job behind ``results/models/{backbone}/fold{fold}/``:

1. split subjects: test = the subjects whose ``fold`` in ``folds.csv`` is the
   requested fold (none for ``fold="all"``); of the others, ``val_fraction``
   per class (at least one when a class has two or more training subjects)
   form the inner validation set, drawn with the seed. A subject is never on
   two sides, so all of its windows and leads stay together.
2. train with early stopping on the *validation loss* (smoother than balanced
   accuracy, which on a handful of validation subjects moves in coarse steps
   and ties often); the best epoch's weights are kept.
3. after every epoch save ``checkpoint.pt`` atomically; a rerun with the same
   configuration and data resumes after the last completed epoch and ends
   with exactly the result of an uninterrupted run (the data order of epoch
   ``e`` is drawn from ``(seed, e)``, and the RNG states are restored).
4. predict the test subjects and write ``model.pt``, ``history.csv``,
   ``predictions.csv`` and ``metrics.json``, each atomically; then delete the
   checkpoint (it holds optimizer state and a second copy of the weights,
   about 3-4 times ``model.pt``, useless once the job is complete, and a
   finished job that Snakemake reruns must start clean).

Speed on CPU: bf16 autocast when the CPU has native bf16 (AVX512-BF16 or
AMX; without it bf16 is emulated and slower) and ``channels_last``; see
:func:`resolve_precision`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import __version__
from .atomic import atomic_path, write_csv, write_text
from .config import validate_section
from .dataset import ScalogramDataset, make_loader, read_scalogram_info, read_scalogram_table
from .errors import ConfigError, DataError
from .folds import read_folds
from .metrics import evaluate_predictions
from .models import STRATEGIES, BuiltModel, build_model, set_train_mode

#: Keys that cannot change the result, left out of the resume hash.
_NOT_HASHED = ("backbones", "num_workers")

#: Backbones measured slower with bf16 autocast than fp32 on a bf16 CPU
#: (mobilenet_v3_small 84 img/s bf16 vs 97 fp32 + channels_last, DESIGN.md).
_BF16_SLOWER_ON_CPU = frozenset({"mobilenet_v3_small"})

CHECKPOINT = "checkpoint.pt"
HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_balanced_acc", "lr", "seconds", "images_per_s",
]
PREDICTION_COLUMNS = ["segment", "db", "record", "subject", "recording", "lead", "label", "label_index"]


class TrainingInterrupted(Exception):
    """Raised by an ``on_epoch_end`` callback to stop training (used to test resume)."""


# --------------------------------------------------------------------------- configuration


def resolve_training_config(cfg: dict | None) -> dict:
    """Fill defaults into the ``training:`` mapping and check every value against the schema."""
    c = validate_section("training", cfg)
    c["pretrained"] = str(c["pretrained"])
    return c


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(precision: str, device: torch.device, backbone: str) -> torch.dtype | None:
    """Autocast dtype for ``precision`` on ``device`` (``None`` = plain fp32).

    ``auto``: on CUDA bf16 where supported, else fp16 (with gradient scaling);
    on CPU bf16 only with native bf16 support, and not for backbones measured
    slower in bf16. ``bf16`` forces bf16 autocast.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16() and backbone not in _BF16_SLOWER_ON_CPU:
        return torch.bfloat16
    return None


# --------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class SubjectSplit:
    train: list[str]
    val: list[str]
    test: list[str]


def split_subjects(folds: pd.DataFrame, fold: int | str, val_fraction: float, seed: int) -> SubjectSplit:
    """Test, training and inner-validation subjects for ``fold`` (an int, or ``"all"`` for no test set)."""
    if fold == "all":
        test_mask = np.zeros(len(folds), dtype=bool)
    else:
        if int(fold) not in set(folds["fold"]):
            raise ConfigError(f"fold {fold} does not exist; folds.csv has folds {sorted(set(folds['fold']))}")
        test_mask = (folds["fold"] == int(fold)).to_numpy()
    rest = folds[~test_mask]
    rng = np.random.default_rng([int(seed), _fold_number(fold)])
    val: list[str] = []
    for label in sorted(rest["label"].unique()):
        subjects = sorted(rest.loc[rest["label"] == label, "subject"])
        n = len(subjects)
        n_val = 0 if val_fraction <= 0 or n < 2 else min(n - 1, max(1, int(round(val_fraction * n))))
        val += [subjects[i] for i in sorted(rng.choice(n, size=n_val, replace=False))]
    val_set = set(val)
    return SubjectSplit(
        train=sorted(s for s in rest["subject"] if s not in val_set),
        val=sorted(val),
        test=sorted(folds.loc[test_mask, "subject"]),
    )


def _fold_number(fold: int | str) -> int:
    return 1_000_000 if fold == "all" else int(fold)


def _parse_fold(fold) -> int | str:
    if isinstance(fold, str) and fold != "all":
        if not fold.isdigit():
            raise ConfigError(f"fold must be an integer or 'all', got {fold!r}")
        return int(fold)
    return fold


# --------------------------------------------------------------------------- training


def train_fold(
    scalograms_h5: str | os.PathLike,
    folds_csv: str | os.PathLike,
    *,
    backbone: str,
    fold: int | str,
    cfg: dict,
    out_dir: str | os.PathLike,
    threads: int | None = None,
    device: str = "auto",
    weights_file: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> dict:
    """Train ``backbone`` on ``fold`` and write the fold's outputs to ``out_dir``; return metrics.json's content.

    ``on_epoch_end(history_row)`` is called after each epoch's checkpoint is
    saved; raising :class:`TrainingInterrupted` there stops the run as a kill
    would (used to test resume).
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c = resolve_training_config(cfg)
    fold = _parse_fold(fold)
    if threads is not None:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    amp_dtype = resolve_precision(c["precision"], dev, backbone)
    if dev.type == "cpu" and amp_dtype == torch.bfloat16 and not cpu_has_native_bf16():
        log("warning: training.precision bf16 on a CPU without native bf16: emulated, expect it slower than fp32")

    # ---- data and split
    info = read_scalogram_info(scalograms_h5)
    table = read_scalogram_table(scalograms_h5)
    folds = read_folds(folds_csv)
    classes = list(info.classes)
    unknown_subjects = sorted(set(table["subject"]) - set(folds["subject"]))
    if unknown_subjects:
        raise DataError(
            f"{len(unknown_subjects)} subjects of {str(scalograms_h5)!r} are not in {str(folds_csv)!r} "
            f"(first: {unknown_subjects[:5]}); rebuild folds.csv from the same segment table"
        )
    split = split_subjects(folds[folds["subject"].isin(set(table["subject"]))], fold, c["val_fraction"], c["seed"])
    rows = {name: np.flatnonzero(table["subject"].isin(set(getattr(split, name))).to_numpy())
            for name in ("train", "val", "test")}
    train_labels = set(table.loc[rows["train"], "label_index"])
    if len(train_labels) < len(classes):
        missing = [classes[i] for i in range(len(classes)) if i not in train_labels]
        raise DataError(f"fold {fold}: no training windows of classes {missing}; too few subjects for {len(set(folds['fold']))} folds")
    log(f"{backbone} fold {fold}: subjects train {len(split.train)} / val {len(split.val)} / test {len(split.test)}, "
        f"segments {len(rows['train'])} / {len(rows['val'])} / {len(rows['test'])}")

    # ---- model
    _seed_all(c["seed"])
    built = build_model(
        backbone, len(classes), pretrained=c["pretrained"], strategy=c["strategy"], dropout=c["dropout"],
        image_size=min(info.height, info.width), weights_file=weights_file,
    )
    model = built.model.to(dev)
    memory_format = torch.channels_last if c["channels_last"] else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    params = [p for p in model.parameters() if p.requires_grad]
    if c["optimizer"] == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(params, lr=c["lr"], weight_decay=c["weight_decay"])
    else:
        optimizer = torch.optim.SGD(params, lr=c["lr"], momentum=0.9, weight_decay=c["weight_decay"])
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c["epochs"])
                 if c["lr_schedule"] == "cosine" else None)
    scaler = torch.amp.GradScaler("cuda") if (dev.type == "cuda" and amp_dtype == torch.float16) else None
    log(f"{backbone}: weights {built.weights_source}, strategy {c['strategy']}, device {dev}, "
        f"autocast {amp_dtype if amp_dtype is not None else 'off (fp32)'}, channels_last {c['channels_last']}, "
        f"threads {torch.get_num_threads()}")

    def loader(name: str, epoch: int | None) -> torch.utils.data.DataLoader:
        r = rows[name]
        ds = ScalogramDataset(scalograms_h5, r, table["label_index"].to_numpy()[r], built.mean, built.std,
                              augment=c["augment"] and name == "train")
        shuffle = epoch is not None
        seed = _epoch_seed(c["seed"], epoch) if shuffle else 0
        # a last training batch of one image breaks batch norm over 1x1 feature maps; drop it
        # (shuffled, so a different image sits out each epoch)
        drop_last = shuffle and len(r) % c["batch_size"] == 1
        return make_loader(ds, c["batch_size"], shuffle=shuffle, seed=seed, num_workers=c["num_workers"],
                           drop_last=drop_last)

    # ---- resume
    cfg_hash = _config_hash(c, backbone, fold, scalograms_h5, folds_csv, amp_dtype, dev)
    state = _TrainState()
    ckpt_path = out_dir / CHECKPOINT
    if ckpt_path.exists():
        # our own file; it holds numpy/python RNG states, which weights_only refuses
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt.get("config_hash") == cfg_hash:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            state = _TrainState(**ckpt["state"])
            _set_rng_state(ckpt["rng"])
            log(f"resuming from {ckpt_path} after epoch {state.epoch}")
        else:
            log(f"{ckpt_path} was written with another configuration or data: starting over")

    # ---- epochs
    while state.epoch < c["epochs"] and not state.stopped:
        epoch = state.epoch
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        set_train_mode(built, c["strategy"])
        tr = _run_epoch(model, loader("train", epoch), dev, amp_dtype, memory_format, optimizer, scaler)
        t_train = time.perf_counter() - t0
        if len(rows["val"]):
            model.eval()
            va = _run_epoch(model, loader("val", None), dev, amp_dtype, memory_format)
        else:
            va = {"loss": float("nan"), "acc": float("nan"), "balanced_acc": float("nan")}
        if scheduler is not None:
            scheduler.step()
        row = {
            "epoch": epoch + 1, "train_loss": tr["loss"], "train_acc": tr["acc"], "val_loss": va["loss"],
            "val_acc": va["acc"], "val_balanced_acc": va["balanced_acc"], "lr": lr,
            "seconds": time.perf_counter() - t0, "images_per_s": tr["n"] / max(t_train, 1e-9),
        }
        state.history.append(row)
        state.epoch = epoch + 1
        # without a validation set the last epoch is the one kept
        improved = not len(rows["val"]) or state.best_loss is None or va["loss"] < state.best_loss
        if improved:
            state.best_loss = va["loss"] if len(rows["val"]) else None
            state.best_epoch = epoch + 1
            state.best_state = _cpu_state(model)
            state.since_best = 0
        else:
            state.since_best += 1
            state.stopped = state.since_best >= c["patience"]
        _save_checkpoint(ckpt_path, model, optimizer, scheduler, scaler, state, cfg_hash)
        log(f"epoch {epoch + 1}/{c['epochs']}: train loss {tr['loss']:.4f} acc {tr['acc']:.3f} | val loss "
            f"{va['loss']:.4f} bal.acc {va['balanced_acc']:.3f} | {row['seconds']:.1f} s, "
            f"{row['images_per_s']:.1f} img/s{' *' if improved else ''}")
        if state.stopped:
            log(f"early stop: no validation-loss improvement for {c['patience']} epochs; best epoch {state.best_epoch}")
        if on_epoch_end is not None:
            on_epoch_end(row)

    # ---- outputs
    model.load_state_dict(state.best_state)
    model.eval()
    meta = {
        "backbone": backbone, "classes": classes, "image_size": [info.height, info.width],
        "mean": list(built.mean), "std": list(built.std), "model_kwargs": built.model_kwargs,
        "weights_source": built.weights_source, "config": c, "fold": fold, "best_epoch": state.best_epoch,
        "ecgcwt_version": __version__, "scalogram_attrs": info.attrs,
    }
    with atomic_path(out_dir / "model.pt", suffix=".pt.tmp") as tmp:
        torch.save({"state_dict": state.best_state, "meta": meta}, tmp)
    write_csv(pd.DataFrame(state.history, columns=HISTORY_COLUMNS), out_dir / "history.csv")

    metrics: dict = {
        "backbone": backbone, "fold": fold, "classes": classes,
        "n_subjects": {k: len(getattr(split, k)) for k in ("train", "val", "test")},
        "n_segments": {k: int(len(v)) for k, v in rows.items()},
        "best_epoch": state.best_epoch, "epochs_run": state.epoch, "stopped_early": state.stopped,
        "early_stopping_monitor": "val_loss",
        "precision": str(amp_dtype).replace("torch.", "") if amp_dtype is not None else "fp32",
        "channels_last": c["channels_last"], "device": str(dev), "threads": torch.get_num_threads(),
    }
    if fold != "all":
        probs = _predict(model, loader("test", None), dev, amp_dtype, memory_format)
        preds = table.iloc[rows["test"]][PREDICTION_COLUMNS].reset_index(drop=True)
        preds["pred_index"] = probs.argmax(axis=1)
        preds["pred_label"] = [classes[i] for i in preds["pred_index"]]
        for j, name in enumerate(classes):
            preds[f"prob_{name}"] = probs[:, j]
        write_csv(preds, out_dir / "predictions.csv")
        metrics["levels"] = evaluate_predictions(preds, classes)
    metrics["seconds"] = time.perf_counter() - t_start
    write_text(out_dir / "metrics.json", json.dumps(_json_safe(metrics), indent=2) + "\n")
    ckpt_path.unlink(missing_ok=True)
    log(f"{backbone} fold {fold}: done in {metrics['seconds']:.1f} s, outputs in {out_dir}")
    return metrics


@dataclass
class _TrainState:
    """Everything about the epoch loop that a resumed run needs."""

    epoch: int = 0  # completed epochs
    best_loss: float | None = None
    best_epoch: int = 0
    best_state: dict | None = None
    since_best: int = 0
    stopped: bool = False
    history: list | None = None

    def __post_init__(self) -> None:
        if self.history is None:
            self.history = []


def _run_epoch(model, loader, dev, amp_dtype, memory_format, optimizer=None, scaler=None) -> dict:
    """One pass over ``loader``; trains when ``optimizer`` is given. Returns mean loss, accuracy, balanced accuracy."""
    train = optimizer is not None
    loss_sum, n, correct = 0.0, 0, 0
    y_all, p_all = [], []
    with torch.set_grad_enabled(train):
        for x, y, _ in loader:
            x = x.to(dev, non_blocking=True).contiguous(memory_format=memory_format)
            y = y.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logits = model(x)
            loss = nn.functional.cross_entropy(logits.float(), y)
            if train:
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
            pred = logits.argmax(dim=1)
            loss_sum += float(loss.detach()) * len(y)
            n += len(y)
            correct += int((pred == y).sum())
            y_all.append(y.cpu())
            p_all.append(pred.cpu())
    if n == 0:
        return {"loss": float("nan"), "acc": float("nan"), "balanced_acc": float("nan"), "n": 0}
    yt, yp = torch.cat(y_all).numpy(), torch.cat(p_all).numpy()
    recalls = [np.mean(yp[yt == k] == k) for k in np.unique(yt)]
    return {"loss": loss_sum / n, "acc": correct / n, "balanced_acc": float(np.mean(recalls)), "n": n}


@torch.no_grad()
def _predict(model, loader, dev, amp_dtype, memory_format) -> np.ndarray:
    out = []
    for x, _, _ in loader:
        x = x.to(dev).contiguous(memory_format=memory_format)
        with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(x)
        out.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(out).numpy() if out else np.empty((0, 0))


# --------------------------------------------------------------------------- saved models


def load_trained_model(model_pt: str | os.PathLike, device: str = "cpu") -> tuple[BuiltModel, dict]:
    """Rebuild a model saved by :func:`train_fold` (``model.pt``); return it in eval mode and its metadata."""
    path = Path(model_pt)
    if not path.is_file():
        raise DataError(f"trained model {str(path)!r} does not exist; run the train step first")
    saved = torch.load(path, map_location="cpu", weights_only=True)  # plain tensors and metadata only
    meta = saved["meta"]
    built = build_model(
        meta["backbone"], len(meta["classes"]), pretrained="none", strategy="finetune",
        dropout=meta["config"]["dropout"], image_size=min(meta["image_size"]), model_kwargs=meta["model_kwargs"],
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
    batch_size: int = 64,
    device: str = "cpu",
    threads: int | None = None,
) -> pd.DataFrame:
    """Predictions of a saved model for (some rows of) a scalogram cache, in ``predictions.csv`` form."""
    if threads is not None:
        torch.set_num_threads(int(threads))
    built, meta = load_trained_model(model_pt, device)
    info = read_scalogram_info(scalograms_h5)
    if [info.height, info.width] != list(meta["image_size"]):
        raise DataError(f"{str(scalograms_h5)!r} has {info.height}x{info.width} images, the model was trained "
                        f"on {meta['image_size'][0]}x{meta['image_size'][1]}; use the same cwt settings")
    classes = list(meta["classes"])
    table = read_scalogram_table(scalograms_h5)
    r = np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.int64)
    # label indices of the cache follow its own class list; map them onto the model's
    known = {c: i for i, c in enumerate(classes)}
    labels = np.array([known.get(lbl, -1) for lbl in table["label"].to_numpy()[r]])
    dev = resolve_device(device)
    amp_dtype = resolve_precision(meta["config"]["precision"], dev, meta["backbone"])
    memory_format = torch.channels_last if meta["config"]["channels_last"] else torch.contiguous_format
    built.model.to(memory_format=memory_format)
    ds = ScalogramDataset(scalograms_h5, r, np.maximum(labels, 0), built.mean, built.std)
    probs = _predict(built.model, make_loader(ds, batch_size, shuffle=False), dev, amp_dtype, memory_format)
    preds = table.iloc[r][PREDICTION_COLUMNS].reset_index(drop=True)
    preds["label_index"] = labels
    preds["pred_index"] = probs.argmax(axis=1)
    preds["pred_label"] = [classes[i] for i in preds["pred_index"]]
    for j, name in enumerate(classes):
        preds[f"prob_{name}"] = probs[:, j]
    return preds


# --------------------------------------------------------------------------- helpers


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + int(epoch)) % 2**63


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _rng_state() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def _set_rng_state(s: dict) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
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
        "state": copy.copy(state.__dict__),
        "rng": _rng_state(),
    }
    with atomic_path(path, suffix=".pt.tmp") as tmp:
        torch.save(ckpt, tmp)


def _config_hash(c: dict, backbone: str, fold, scalograms_h5, folds_csv, amp_dtype, dev) -> str:
    """Identity of a training run: settings, data and numerics; a checkpoint is resumed only if it matches."""
    h = hashlib.sha256()
    settings = {k: v for k, v in c.items() if k not in _NOT_HASHED}
    h.update(json.dumps({"cfg": settings, "backbone": backbone, "fold": str(fold), "amp": str(amp_dtype),
                         "device": dev.type, "version": __version__}, sort_keys=True, default=str).encode())
    info = read_scalogram_info(scalograms_h5)
    h.update(json.dumps({"attrs": info.attrs, "shape": [info.n_images, info.height, info.width]},
                        sort_keys=True, default=str).encode())
    table = read_scalogram_table(scalograms_h5)
    h.update(pd.util.hash_pandas_object(table[["segment", "subject", "recording", "label_index"]], index=False)
             .to_numpy().tobytes())
    h.update(Path(folds_csv).read_bytes())
    return h.hexdigest()


def _json_safe(obj):
    """NaN/inf -> null and numpy scalars -> Python, so metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj
