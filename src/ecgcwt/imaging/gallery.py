"""A PNG grid of example scalograms from the cache, with real axes (time in s, frequency in Hz)."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ecgcwt.atomic import atomic_path
from ecgcwt.data import table_from_group
from ecgcwt.imaging.reader import ChunkReader, read_colormap, read_scalogram_attrs


def write_gallery(
    scalograms_h5: str | os.PathLike, out_png: str | os.PathLike, per_class: int = 3, seed: int = 0
) -> Path:
    """A PNG grid of example scalograms: one row per class, ``per_class`` random images each.

    Axes in seconds (time) and Hz (log-spaced rows, highest at the top).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attrs = read_scalogram_attrs(scalograms_h5)
    colormap = read_colormap(scalograms_h5)
    classes = list(attrs["classes"])
    freqs = np.asarray(attrs["frequencies"], dtype=np.float64)
    duration = attrs["window"] / attrs["fs"]
    rng = np.random.default_rng(seed)
    with h5py.File(scalograms_h5, "r") as f:
        table = table_from_group(f["table"])
        chosen: list[list[int]] = []
        for c in classes:
            rows = np.flatnonzero(table["label"].to_numpy() == c)
            chosen.append(sorted(rng.choice(rows, size=min(per_class, len(rows)), replace=False).tolist()))
    rows = sorted(r for rs in chosen for r in rs)
    with ChunkReader(scalograms_h5) as reader:  # decodes the stored images (row deltas) into colour indices
        images = dict(zip(rows, colormap[reader.read(rows)]))  # index image -> RGB
    size = attrs["image_size"]
    ticks_hz = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if freqs[-1] <= t <= freqs[0]]
    # pixel row of a frequency: rows are log-spaced, resized from S rows to `size`
    s = len(freqs)
    j = np.interp(np.log(ticks_hz), np.log(freqs[::-1]), np.arange(s)[::-1]) if ticks_hz else np.array([])
    tick_px = (j + 0.5) * size / s - 0.5
    ncols = max(1, per_class)
    fig, axes = plt.subplots(
        len(classes), ncols, figsize=(3.2 * ncols + 0.8, 2.9 * len(classes)), squeeze=False, layout="constrained"
    )
    for i, c in enumerate(classes):
        for k in range(ncols):
            ax = axes[i][k]
            if k >= len(chosen[i]):
                ax.axis("off")
                continue
            r = chosen[i][k]
            ax.imshow(images[r], aspect="auto", extent=(0, duration, size - 0.5, -0.5))
            ax.set_yticks(tick_px, [f"{t:g}" for t in ticks_hz])
            row = table.iloc[r]
            ax.set_title(
                f"{c}: {row['db']}/{row['record']} lead {row['lead']} @ {row['start'] / attrs['fs']:.0f} s", fontsize=8
            )
            ax.set_xlabel("time (s)", fontsize=8)
            if k == 0:
                ax.set_ylabel("frequency (Hz)", fontsize=8)
            ax.tick_params(labelsize=7)
    # one colour bar for the grid: the colour table of the cache, over the per-image rescaled magnitude
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    bar = fig.colorbar(
        ScalarMappable(Normalize(0.0, 1.0), ListedColormap(np.asarray(colormap, dtype=np.float64) / 255.0)),
        ax=axes,
        fraction=0.025,
        pad=0.02,
    )
    bar.set_label("|CWT coefficient|, rescaled per image (0-1)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(
        f"CWT scalograms ({attrs['wavelet']}, {attrs['voices_per_octave']} voices/octave, "
        f"{freqs[-1]:.2g}-{freqs[0]:.3g} Hz, {attrs['image_mode']})",
        fontsize=9,
    )
    out_png = Path(out_png)
    with atomic_path(out_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
    plt.close(fig)
    return out_png
