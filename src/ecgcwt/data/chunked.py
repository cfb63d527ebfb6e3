"""A record's windows, read and cut part by part: memory bounded by the part, not by the record.

:func:`cut_lead` resamples a whole lead, then cuts it; for a 24-hour Holter
record that is hundreds of MB of samples held at once. :class:`RecordWindows`
gives the same windows, bit for bit, reading the record (an
:class:`ecgcwt.data.records.OpenRecord`) in parts of ``chunk_windows``
windows, one lead after the other (the order ``cut_lead`` lead by lead gives):

- each part is read with a margin of native samples around it, larger than
  the polyphase filter's reach and starting on a multiple of the resampling's
  ``down`` factor, so the part's resampled samples equal the whole lead's
  (same taps in the same order; a test checks it on real records);
- the quality checks get the part's native NaN and clipping flags at their
  place in the lead (:func:`classify_windows` with offsets);
- with a cap (``max_windows``) the windows kept are those ``cut_lead`` keeps
  (the usable ones, spread evenly): a first pass reads the lead part by part
  for the quality verdicts only (one byte per window is kept), a second reads
  only the parts holding the windows kept.

Peak memory is about ``chunk_windows`` windows' native and resampled samples
(a few MB at the defaults), plus one byte per candidate window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Iterator

import numpy as np

from ecgcwt.data.records import OpenRecord
from ecgcwt.data.segmentation import DROP_REASONS, classify_windows, evenly_spaced, resample
from ecgcwt.data.settings import QualityLimits

#: Windows cut per part read (at 512-sample windows of 128 Hz from 360 Hz: ~0.4 M native samples, ~10 MB).
CHUNK_WINDOWS = 256
_CODES = {"": 0, **{r: i + 1 for i, r in enumerate(DROP_REASONS)}}


@dataclass(frozen=True)
class _Resampling:
    """The rational resampling of :func:`resample` and how far its filter reaches, in native samples."""

    fs_in: float
    fs: float
    up: int
    down: int
    margin: int

    @classmethod
    def of(cls, fs_in: float, fs: float) -> "_Resampling":
        if fs_in == fs:
            return cls(fs_in, fs, 1, 1, 2)
        ratio = Fraction(fs / fs_in).limit_denominator(1000)  # as resample() does
        up, down = ratio.numerator, ratio.denominator
        # scipy's resample_poly filter: 2 * 10 * max(up, down) + 1 taps at the up-sampled rate
        return cls(fs_in, fs, up, down, math.ceil(10 * max(up, down) / up) + 4)

    def n_out(self, n_in: int) -> int:
        """Length of the resampled lead (scipy.signal.resample_poly's)."""
        if self.fs_in == self.fs:
            return n_in
        return (n_in * self.up) // self.down + bool((n_in * self.up) % self.down)

    def native_range(self, t0: int, t1: int, n_in: int) -> tuple[int, int]:
        """Native samples ``[a, b)`` whose resampling holds target samples ``[t0, t1)`` exactly (and their
        quality spans); ``a`` is a multiple of ``down``, so the part's target grid is the lead's."""
        scale = self.fs_in / self.fs
        a = min(math.floor(t0 * self.down / self.up), math.floor(t0 * scale)) - self.margin
        b = max(math.ceil(t1 * self.down / self.up), math.ceil(t1 * scale)) + self.margin
        a = max(0, a)
        return a - a % self.down, min(n_in, b)


@dataclass
class LeadSummary:
    """What a lead gave: its length at the target rate, candidate windows, drop counts, windows kept."""

    lead: int  # position in the record's selected channels
    n_samples: int = 0
    n_windows: int = 0
    dropped: dict = field(default_factory=lambda: {r: 0 for r in DROP_REASONS})
    kept: int = 0


@dataclass
class RecordWindows:
    """Iterate over ``(lead position, float32 windows)`` parts of a record, as :func:`cut_lead` cuts each lead.

    ``summaries`` fills in as the iteration proceeds (one :class:`LeadSummary` per lead once it is done).
    """

    record: OpenRecord
    fs: float
    window: int
    hop: int
    quality: QualityLimits
    cap: int | None = None
    chunk_windows: int = CHUNK_WINDOWS
    summaries: list[LeadSummary] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.record.n_samples is None:  # a header without a length: read it once to learn it
            self.record = replace(self.record, n_samples=len(self.record.read().signal))
        self.chunk_windows = max(1, int(self.chunk_windows))

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        self.summaries = []
        for j, channel in enumerate(self.record.channels):
            lead = replace(self.record, channels=[channel], sig_names=[self.record.sig_names[j]])
            summary = LeadSummary(lead=j)
            self.summaries.append(summary)
            yield from ((j, w) for w in self._lead(lead, summary))

    # ------------------------------------------------------------------ one lead
    def _lead(self, lead: OpenRecord, summary: LeadSummary) -> Iterator[np.ndarray]:
        rs = _Resampling.of(lead.fs, float(self.fs))
        n_in = int(lead.n_samples)
        summary.n_samples = n_out = rs.n_out(n_in)
        n = (n_out - self.window) // self.hop + 1 if n_out >= self.window else 0
        summary.n_windows = n
        if self.cap is None:  # every usable window: one pass, the windows cut as the verdicts come
            for first in range(0, n, self.chunk_windows):
                idx = np.arange(first, min(n, first + self.chunk_windows), dtype=np.int64)
                codes, windows = self._part(lead, rs, n_in, idx, keep=True)
                self._count(summary, codes)
                summary.kept += len(windows)
                if len(windows):
                    yield windows
            return
        codes = np.empty(n, np.uint8)  # first pass: the verdicts only
        for first in range(0, n, self.chunk_windows):
            idx = np.arange(first, min(n, first + self.chunk_windows), dtype=np.int64)
            codes[idx], _ = self._part(lead, rs, n_in, idx, keep=False)
        self._count(summary, codes)
        good = np.flatnonzero(codes == 0)
        kept = good[evenly_spaced(len(good), self.cap)]
        summary.kept = len(kept)
        # second pass: only the parts holding a kept window (windows of one part read together)
        groups = np.split(kept, np.flatnonzero(np.diff(kept // self.chunk_windows)) + 1) if len(kept) else []
        for idx in groups:
            _, windows = self._part(lead, rs, n_in, idx, keep=True, checked=True)
            yield windows

    def _part(
        self, lead: OpenRecord, rs: _Resampling, n_in: int, idx: np.ndarray, *, keep: bool, checked: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Verdict codes of windows ``idx`` (sorted window numbers) and, with ``keep``, the usable ones' samples
        (``checked``: every one of ``idx`` is known usable, only cut)."""
        starts = idx * self.hop
        t0, t1 = int(starts[0]), int(starts[-1]) + self.window
        a, b = rs.native_range(t0, t1, n_in)
        rec = lead.read(a, b)
        raw, clipped = rec.signal[:, 0], rec.clipped[:, 0]
        bad = np.isnan(raw)
        x = resample(np.where(bad, 0.0, raw), rs.fs_in, rs.fs)
        off = a * rs.up // rs.down
        if checked:
            codes = np.zeros(len(idx), np.uint8)
        else:
            reasons = classify_windows(
                x, bad, clipped, starts, self.window, rs.fs_in / rs.fs, self.quality,
                x_offset=off, native_offset=a, n_native=n_in,
            )  # fmt: skip
            codes = np.array([_CODES[r] for r in reasons], np.uint8)
        if not keep:
            return codes, np.empty((0, self.window), np.float32)
        use = starts[codes == 0]
        windows = np.empty((len(use), self.window), np.float32)
        for i, s in enumerate(use):
            windows[i] = x[s - off : s - off + self.window]
        return codes, windows

    @staticmethod
    def _count(summary: LeadSummary, codes: np.ndarray) -> None:
        counts = np.bincount(codes, minlength=len(_CODES))
        for r in DROP_REASONS:
            summary.dropped[r] += int(counts[_CODES[r]])


__all__ = ["CHUNK_WINDOWS", "LeadSummary", "RecordWindows"]
