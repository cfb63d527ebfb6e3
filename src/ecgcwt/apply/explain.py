"""Grad-CAM explanation maps for the 2D scalogram CNNs, on the scalogram's real axes (seconds, Hz).

Grad-CAM (Selvaraju et al. 2017) is written here with torch hooks: the ``grad-cam``
package would pull in opencv for a few lines of arithmetic. The target layer is
found generically: the last module (in the order modules finish their forward
pass) that contains a ``Conv2d`` and outputs a 4D map with more than one pixel,
i.e. the last convolutional stage before global pooling (``layer4`` of a ResNet,
``inception5b`` of GoogLeNet, ``features`` of EfficientNet, the final 1x1 conv of
SqueezeNet). Maps are ReLU'd, upsampled bilinearly to the image size and divided
by their maximum per window (an all-zero map stays zero), so they lie in [0, 1].

Axes: image row 0 is the highest CWT frequency (see :mod:`ecgcwt.imaging.image`);
the S scale rows were resized to H image rows with bilinear interpolation
(``align_corners=False``), so image row ``y`` sits at scale-row position
``(y + 0.5) S / H - 0.5``; the frequencies are log-spaced, so log f is
interpolated there. Columns map onto the signal samples the CWT was evaluated at
(``time_columns``) the same way, divided by ``fs``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ecgcwt.errors import DataError


def _contains_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def find_target_layer(model: nn.Module, image_size: int) -> str:
    """Dotted name of the last conv-containing module with a spatial (H, W > 1 pixel) 4D output."""
    order: list[tuple[str, tuple]] = []
    hooks = []
    for name, mod in model.named_modules():
        if name and _contains_conv(mod):
            hooks.append(
                mod.register_forward_hook(
                    lambda m, i, o, name=name: (
                        order.append((name, tuple(o.shape))) if torch.is_tensor(o) and o.ndim == 4 else None
                    )
                )
            )
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if not order:
        raise ValueError("the model has no convolutional module with a 4D output; Grad-CAM needs one")
    spatial = [n for n, s in order if s[2] * s[3] > 1]
    return (spatial or [n for n, _ in order])[-1]


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor | np.ndarray | list | None = None,
    *,
    layer: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps for normalised NCHW input ``x``: (maps (N, H, W) float32 in [0, 1], probs (N, C)).

    ``target``: the class per window to explain (default: the predicted one).
    Deterministic on CPU (eval mode, no dropout, no random ops).
    """
    model.eval()
    name = layer or find_target_layer(model, x.shape[-1])
    module = dict(model.named_modules())[name]
    store: dict = {}
    handle = module.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        with torch.enable_grad():
            xi = x.detach().clone().requires_grad_(True)  # keeps a graph when parameters are frozen
            logits = model(xi)
            if isinstance(logits, tuple):  # googlenet/inception aux outputs in train mode
                logits = logits[0]
            probs = torch.softmax(logits.detach().float(), dim=1)
            t = probs.argmax(1) if target is None else torch.as_tensor(np.asarray(target), dtype=torch.long)
            score = logits.gather(1, t.view(-1, 1).to(logits.device)).sum()  # windows are independent in eval
            act = store["a"]
            (grad,) = torch.autograd.grad(score, act)
    finally:
        handle.remove()
    weights = grad.float().mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.detach().float()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    cam = torch.where(peak > 0, cam / torch.where(peak > 0, peak, 1.0), torch.zeros_like(cam))
    return cam.cpu().numpy().astype(np.float32), probs.cpu().numpy()


def image_axes(attrs: dict, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(time_s per image column, frequency_hz per image row) of a scalogram cache (its root attributes)."""
    try:
        freqs = np.asarray(attrs["frequencies"], dtype=np.float64)
        fs = float(attrs["fs"])
    except KeyError as exc:
        raise DataError(f"scalogram cache attributes lack {exc}; rebuild it with the scalograms step") from exc
    cols = np.asarray(attrs.get("time_columns", np.arange(int(attrs.get("window", width)))), dtype=np.float64)
    pos_y = np.clip((np.arange(height) + 0.5) * len(freqs) / height - 0.5, 0, len(freqs) - 1)
    freq_rows = np.exp(np.interp(pos_y, np.arange(len(freqs)), np.log(freqs)))
    pos_x = np.clip((np.arange(width) + 0.5) * len(cols) / width - 0.5, 0, len(cols) - 1)
    time_cols = np.interp(pos_x, np.arange(len(cols)), cols) / fs
    return time_cols, freq_rows


def octave_bands(freq_rows: np.ndarray) -> list[tuple[float, float]]:
    """Octave bands [2^k, 2^(k+1)) Hz covering the image's frequency rows."""
    lo = math.floor(math.log2(float(np.min(freq_rows))))
    hi = math.floor(math.log2(float(np.max(freq_rows))))
    return [(2.0**k, 2.0 ** (k + 1)) for k in range(lo, hi + 1)]


def band_shares(cam: np.ndarray, freq_rows: np.ndarray, bands=None) -> pd.DataFrame:
    """Share of a map's (or a mean map's) attribution per frequency band: columns band_hz_low, band_hz_high, share."""
    bands = octave_bands(freq_rows) if bands is None else bands
    profile = np.asarray(cam, dtype=np.float64).reshape(-1, len(freq_rows), np.shape(cam)[-1]).sum(axis=(0, 2))
    total = profile.sum()
    rows = []
    for lo, hi in bands:
        inside = (freq_rows >= lo) & (freq_rows < hi)
        rows.append((lo, hi, float(profile[inside].sum() / total) if total > 0 else 0.0))
    return pd.DataFrame(rows, columns=["band_hz_low", "band_hz_high", "share"])


def top_band(shares: pd.DataFrame) -> tuple[float, float]:
    best = shares.loc[shares["share"].idxmax()]
    return float(best["band_hz_low"]), float(best["band_hz_high"])


def _fmt_band(lo: float, hi: float) -> str:
    def f(v):
        return f"{v:g}"

    return f"{f(lo)}\u2013{f(hi)} Hz"


def normalise_images(images: np.ndarray, mean, std) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 NCHW ``(x/255 - mean)/std``, as training feeds them."""
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def rgb_rows(reader, rows) -> np.ndarray:
    """uint8 RGB (n, H, W, 3) of cache rows: the cache stores colour indices, coloured by its table."""
    images = reader.read(rows)
    return reader.colormap[images] if images.ndim == 3 else images


def explain_rows(built, reader, rows, targets=None, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps and probabilities for cache rows ``rows`` (a ChunkReader), in batches."""
    model = built.model.float().to("cpu")
    rows = np.asarray(rows, dtype=np.int64)
    h, w = reader.image_shape[:2]
    layer = find_target_layer(model, h)
    maps = np.zeros((len(rows), h, w), np.float32)
    probs = []
    for i in range(0, len(rows), batch_size):
        x = normalise_images(rgb_rows(reader, rows[i : i + batch_size]), built.mean, built.std)
        t = None if targets is None else np.asarray(targets)[i : i + batch_size]
        maps[i : i + len(x)], p = grad_cam(model, x, t, layer=layer)
        probs.append(p)
    return maps, (np.concatenate(probs) if probs else np.zeros((0, 0)))


def _segment_rows(table: pd.DataFrame, segments) -> np.ndarray:
    """Cache rows of ``segments`` (the join key of predictions.csv)."""
    pos = pd.Series(np.arange(len(table)), index=table["segment"].to_numpy())
    missing = set(np.asarray(segments).tolist()) - set(pos.index.tolist())
    if missing:
        raise DataError(f"{len(missing)} predicted segments are not in the scalogram cache; rebuild it or retrain")
    return pos.loc[np.asarray(segments)].to_numpy()


def _signals(segments_h5, segment_ids) -> np.ndarray | None:
    if segments_h5 is None:
        return None
    from ecgcwt.data import iter_signal_batches

    ids = np.asarray(segment_ids, dtype=np.int64)
    out = []
    for _, sig in iter_signal_batches(segments_h5, 64, rows=ids):
        out.append(sig)
    return np.concatenate(out) if out else None


def attribution_figure(
    model_pt: str | os.PathLike,
    predictions_csv: str | os.PathLike,
    scalograms_h5: str | os.PathLike,
    out_png: str | os.PathLike,
    out_csv: str | os.PathLike | None = None,
    *,
    segments_h5: str | os.PathLike | None = None,
    max_per_class: int = 64,
    examples: int = 2,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean Grad-CAM per class over correctly classified test windows, plus single windows; returns the band table.

    Writes ``out_png`` (one column per class: the mean map on seconds x Hz, then
    ``examples`` right and one wrong window with scalogram, map and ECG trace) and
    ``out_csv`` (class, band_hz_low, band_hz_high, share).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecgcwt.apply.model_file import load_trained_model
    from ecgcwt.imaging import ChunkReader, read_scalogram_info, read_scalogram_table

    built, meta = load_trained_model(model_pt, "cpu")
    classes = list(meta["classes"])
    info = read_scalogram_info(scalograms_h5)
    table = read_scalogram_table(scalograms_h5)
    preds = pd.read_csv(predictions_csv)
    for col in ("segment", "label", "pred_label"):
        if col not in preds.columns:
            raise DataError(f"{str(predictions_csv)!r} lacks column {col!r}; rerun the train step")
    time_s, freq_hz = image_axes(info.attrs, info.height, info.width)
    rng = np.random.default_rng(seed)
    panels, band_rows, summary = [], [], []
    with ChunkReader(scalograms_h5) as reader:
        for ci, c in enumerate(classes):
            right = preds[(preds["label"] == c) & (preds["pred_label"] == c)]
            wrong = preds[(preds["label"] == c) & (preds["pred_label"] != c)]
            if len(right) > max_per_class:
                right = right.iloc[np.sort(rng.choice(len(right), max_per_class, replace=False))]
            pick = right
            rows = _segment_rows(table, pick["segment"]) if len(pick) else np.zeros(0, np.int64)
            maps, _ = explain_rows(built, reader, rows, targets=np.full(len(rows), ci)) if len(rows) else (None, None)
            mean_map = maps.mean(0) if maps is not None else np.zeros((info.height, info.width), np.float32)
            shares = band_shares(mean_map, freq_hz)
            shares.insert(0, "class", c)
            band_rows.append(shares)
            if len(rows):
                summary.append(f"{c}: {_fmt_band(*top_band(shares))}")
            ex = pick.head(examples)
            ex_wrong = wrong.head(1)
            singles = pd.concat([ex.assign(ok=True), ex_wrong.assign(ok=False)])
            srows = _segment_rows(table, singles["segment"]) if len(singles) else np.zeros(0, np.int64)
            smaps, _ = (
                explain_rows(built, reader, srows, targets=np.full(len(srows), ci)) if len(srows) else (None, None)
            )
            imgs = rgb_rows(reader, srows) if len(srows) else None
            sigs = _signals(segments_h5, singles["segment"]) if len(singles) else None
            panels.append((c, len(pick), mean_map, singles, smaps, imgs, sigs))
    bands = pd.concat(band_rows, ignore_index=True)
    n_single = max([len(p[3]) for p in panels] + [0])
    n_rows = 1 + 2 * n_single
    fig, axes = plt.subplots(n_rows, len(classes), figsize=(3.6 * len(classes), 2.2 * n_rows), squeeze=False)
    extent_t = (float(time_s[0]), float(time_s[-1]))
    for ci, (c, n, mean_map, singles, smaps, imgs, sigs) in enumerate(panels):
        ax = axes[0, ci]
        ax.pcolormesh(time_s, freq_hz, mean_map, shading="nearest", cmap="inferno", vmin=0)
        ax.set_yscale("log")
        ax.set_title(f"{c}: mean Grad-CAM, {n} correct windows", fontsize=8)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel("frequency (Hz)", fontsize=7)
        for j in range(n_single):
            a_img, a_sig = axes[1 + 2 * j, ci], axes[2 + 2 * j, ci]
            if smaps is None or j >= len(singles):
                a_img.axis("off")
                a_sig.axis("off")
                continue
            row = singles.iloc[j]
            a_img.imshow(imgs[j], aspect="auto", extent=(*extent_t, 0, 1))
            a_img.imshow(smaps[j], aspect="auto", extent=(*extent_t, 0, 1), cmap="gray", alpha=0.55)
            yt = [0.05, 0.5, 0.95]
            a_img.set_yticks(yt, [f"{freq_hz[int((1 - v) * (len(freq_hz) - 1))]:.2g}" for v in yt], fontsize=6)
            verdict = "right" if row["ok"] else f"wrong (pred {row['pred_label']})"
            a_img.set_title(f"{row.get('record', '')} seg {row['segment']}: {verdict}", fontsize=7)
            if sigs is not None:
                a_sig.plot(np.arange(sigs.shape[1]) / float(info.attrs["fs"]), sigs[j], lw=0.5, color="k")
                a_sig.set_xlim(*extent_t)
            else:
                a_sig.axis("off")
            a_sig.tick_params(labelsize=6)
    fig.text(0.5, 0.005, "Most attribution: " + "; ".join(summary or ["no correctly classified windows"]), ha="center")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_png.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out_png)
    if out_csv is not None:
        out_csv = Path(out_csv)
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        bands.to_csv(out_csv.with_suffix(".tmp"), index=False)
        os.replace(out_csv.with_suffix(".tmp"), out_csv)
    return bands


def explain_file_names(records) -> dict[str, str]:
    """One figure file name per record path, never the same for two different records.

    A record's own name (``100.png``) where no other record of ``records`` has
    that name; records of the same name from different folders get their
    folder's digest too (``100.3f2a9c1e07.png``, the SHA-256 of the resolved
    path), so no figure overwrites another's.
    """
    import hashlib

    records = list(dict.fromkeys(map(str, records)))
    resolved = {r: str(Path(r).resolve()) for r in records}
    digest = {r: hashlib.sha256(resolved[r].encode()).hexdigest()[:10] for r in records}
    folders: dict[str, set] = {}
    for r in records:  # one resolved path under two spellings is one record
        folders.setdefault(Path(r).name, set()).add(resolved[r])
    names = {r: f"{Path(r).name}.png" if len(folders[Path(r).name]) == 1 else None for r in records}
    taken = {n for n in names.values() if n}
    for r in records:
        if names[r] is None or (names[r] in taken and sum(v == names[r] for v in names.values()) > 1):
            names[r] = f"{Path(r).name}.{digest[r]}.png"
    return names


def explain_record(
    model,
    record: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    top: int = 4,
    max_windows: int | None = None,
    max_duration_s: float | None = None,
    file_name: str | None = None,
) -> Path:
    """Grad-CAM figure of one record's ``top`` most confident windows (for the record's predicted class).

    ``model`` is a :class:`ecgcwt.apply.PredictModel`; writes ``out_dir/<file_name>`` (default
    ``<record name>.png``; :func:`explain_file_names` gives names that differ for records of the same
    name) and returns it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ecgcwt.apply.predict import record_windows

    windows = record_windows(record, model.prep, max_windows=max_windows, max_duration_s=max_duration_s)
    images = model.images(windows)
    net = model.built.model.float().to("cpu")
    layer = find_target_layer(net, images.shape[1])
    x = normalise_images(images, model.built.mean, model.built.std)
    with torch.no_grad():
        probs = torch.softmax(net(x).float(), 1).numpy()
    cls = int(probs.mean(0).argmax())
    best = np.argsort(-probs[:, cls], kind="stable")[:top]
    maps, _ = grad_cam(net, x[best], np.full(len(best), cls), layer=layer)
    fs = float(model.prep["fs"])
    attrs = {"frequencies": model.filter_bank.frequencies, "fs": fs, "time_columns": model.columns}
    time_s, freq_hz = image_axes(attrs, images.shape[1], images.shape[2])
    fig, axes = plt.subplots(2, len(best), figsize=(3.2 * len(best), 4.4), squeeze=False)
    for j, w in enumerate(best):
        a = axes[0, j]
        a.pcolormesh(time_s, freq_hz, images[w].mean(-1), shading="nearest", cmap="gray")
        a.pcolormesh(time_s, freq_hz, maps[j], shading="nearest", cmap="inferno", alpha=0.6, vmin=0, vmax=1)
        a.set_yscale("log")
        a.set_title(f"window {int(w)}: p({model.classes[cls]}) = {probs[w, cls]:.2f}", fontsize=8)
        a.set_ylabel("frequency (Hz)", fontsize=7)
        axes[1, j].plot(np.arange(windows.shape[1]) / fs, windows[w], lw=0.5, color="k")
        axes[1, j].set_xlabel("time (s)", fontsize=7)
        band = _fmt_band(*top_band(band_shares(maps[j], freq_hz)))
        axes[1, j].set_title(f"most attribution: {band}", fontsize=7)
    fig.suptitle(f"{Path(record).name}: predicted {model.classes[cls]} (Grad-CAM)", fontsize=9)
    fig.tight_layout()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = out / (file_name or f"{Path(record).name}.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png
