"""Feed scalogram batches to the training device: uint8 colour indices on the host, float RGB on the device.

Two host sources of index images (one uint8 per pixel, a third of RGB) behind
one interface, chosen by a memory budget (:func:`open_image_source`):

* :class:`InMemoryImages` decodes the rows a job needs once into one uint8
  tensor (N x H x W, 50 kB per 224-px image; pinned when the device is a
  GPU). A batch is then one ``index_select``.
* :class:`StreamingImages` reads each batch from the cache with raw chunk
  reads and parallel inflation (:class:`~ecgcwt.imaging.reader.ChunkReader`),
  while a background thread prepares the next ``prefetch`` batches. Memory
  stays at ``prefetch + 2`` batches whatever the size of the cache.

:class:`BatchFeeder` sends each uint8 index batch to the device (through a
ring of pinned staging buffers and ``non_blocking`` copies on CUDA) and
converts it there: the optional time-shift augmentation on the index image,
then the colour map and the normalisation ``(rgb / 255 - mean) / std`` as one
gather from a (K, 3) float32 table computed on the device from the (K, 3)
uint8 colour table (the same float batch as colouring the image, then
normalising it, bit for bit). Sending indices moves
a twelfth of the bytes of float32 RGB, and the NHWC RGB batch seen as NCHW
is already in ``channels_last`` order, so no transpose is ever copied.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, Sequence

import numpy as np
import torch

from ecgcwt.errors import DataError
from ecgcwt.imaging import ChunkReader

#: Rows decoded per call while filling the in-memory copy (bounds the temporary chunk list).
_FILL_BLOCK = 512


class InMemoryImages:
    """The index images ``rows`` of a cache, decoded once into one uint8 tensor, with the cache's ``colormap``."""

    mode = "memory"

    def __init__(self, reader: ChunkReader, rows: Sequence[int] | np.ndarray, *, pin_memory: bool = False) -> None:
        rows = np.unique(np.asarray(rows, dtype=np.int64))  # sorted: sequential reads
        self.image_shape = reader.image_shape
        self.colormap = reader.colormap
        self.origin: ChunkReader | None = reader  # names the cache in errors
        self._position = np.full(reader.n_images, -1, dtype=np.int64)
        self._position[rows] = np.arange(len(rows))
        self.images = torch.empty((len(rows), *self.image_shape), dtype=torch.uint8, pin_memory=pin_memory)
        flat = self.images.numpy()
        for i in range(0, len(rows), _FILL_BLOCK):
            reader.read(rows[i : i + _FILL_BLOCK], out=flat[i : i + _FILL_BLOCK])

    @property
    def nbytes(self) -> int:
        return self.images.numel()

    def batch(self, rows: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
        pos = self._position[rows]
        if len(pos) and pos.min() < 0:
            raise KeyError(f"rows {rows[pos < 0][:5].tolist()} were not loaded into memory")
        return torch.index_select(self.images, 0, torch.from_numpy(pos), out=out)

    @classmethod
    def from_array(cls, indices: np.ndarray, colormap: np.ndarray) -> "InMemoryImages":
        """uint8 index images (N, H, W) already in memory (e.g. made for prediction) and their (K, 3) table."""
        indices = np.asarray(indices)
        if indices.ndim != 3 or indices.dtype != np.uint8:
            raise ValueError(f"indices must be uint8 (N, H, W), got {indices.dtype} {indices.shape}")
        self = cls.__new__(cls)
        self.origin = None
        self.colormap = np.asarray(colormap, dtype=np.uint8)
        self.images = torch.from_numpy(np.ascontiguousarray(indices))
        self.image_shape = tuple(self.images.shape[1:])
        self._position = np.arange(len(indices), dtype=np.int64)
        return self

    def close(self) -> None:
        self.images = torch.empty(0, dtype=torch.uint8)


class StreamingImages:
    """Images read from the cache batch by batch (bounded memory)."""

    mode = "stream"
    nbytes = 0  # held in memory: only the batches in flight

    def __init__(self, reader: ChunkReader) -> None:
        self.reader = reader
        self.image_shape = reader.image_shape
        self.colormap = reader.colormap

    def batch(self, rows: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
        if out is None:
            return torch.from_numpy(self.reader.read(rows))
        self.reader.read(rows, out=out.numpy())
        return out

    def close(self) -> None:
        pass


def images_fit(n_images: int, image_shape: Sequence[int], budget_mb: float) -> bool:
    """Whether ``n_images`` uint8 images of ``image_shape`` fit in ``budget_mb`` megabytes (10^6 bytes)."""
    return n_images * int(np.prod(image_shape)) <= float(budget_mb) * 1e6


def open_image_source(
    reader: ChunkReader, rows: Sequence[int] | np.ndarray, budget_mb: float, *, pin_memory: bool = False
) -> InMemoryImages | StreamingImages:
    """In memory when the distinct ``rows`` fit ``budget_mb``, else streaming."""
    n = len(np.unique(np.asarray(rows, dtype=np.int64)))
    if images_fit(n, reader.image_shape, budget_mb):
        return InMemoryImages(reader, rows, pin_memory=pin_memory)
    return StreamingImages(reader)


class BatchFeeder:
    """Model-ready float batches on ``device`` from a host image source.

    ``mean``/``std`` are the backbone's per-channel normalisation of [0, 1]
    RGB; the source's ``colormap`` turns its index images into RGB on
    ``device``. ``prefetch`` batches are read ahead in a background thread when the
    source streams from disk (in memory, a batch costs one ``index_select``
    and needs no thread).
    """

    _STAGING = 3  # pinned buffers in flight on CUDA: one filling, two copying

    def __init__(
        self,
        source: InMemoryImages | StreamingImages,
        device: torch.device,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        channels_last: bool = True,
        prefetch: int = 4,
    ) -> None:
        self.source = source
        self.device = torch.device(device)
        self.channels_last = bool(channels_last)
        self.prefetch = max(1, int(prefetch))
        colormap = torch.from_numpy(np.ascontiguousarray(source.colormap, dtype=np.uint8)).to(self.device)
        mean_t = torch.tensor([float(m) for m in mean], dtype=torch.float32)
        std_t = torch.tensor([float(s) for s in std], dtype=torch.float32)
        # The model input of colour index i is (colormap[i] / 255 - mean) / std, computed once per
        # index as x * scale + shift in float32 on the device (the same multiply-add as on a whole
        # RGB batch, bit for bit): a (K, 3) table, so a batch is one gather from it.
        scale = (1.0 / (255.0 * std_t)).to(self.device)
        shift = (-mean_t / std_t).to(self.device)
        self._table = torch.addcmul(shift, colormap.to(torch.float32), scale).contiguous()
        self._cuda = self.device.type == "cuda"
        self._staging: list[torch.Tensor] = []
        self._events: list = []
        self._next = 0  # the staging buffer to fill next
        self._last = 0  # the staging buffer of the batch being sent

    # ------------------------------------------------------------------ public

    def batches(
        self, row_batches: Sequence[np.ndarray], shifts: Sequence[torch.Tensor | None] | None = None
    ) -> Iterator[torch.Tensor]:
        """Yield one device batch per entry of ``row_batches`` (cache rows), in order.

        ``shifts[i]`` (a device or host int tensor, one per image, or None)
        rolls each image of batch ``i`` by that many columns (time steps).
        """
        shifts = shifts if shifts is not None else [None] * len(row_batches)
        for host, shift in zip(self._host_batches(row_batches), shifts):
            yield self._to_model_input(host, shift)

    def model_input(self, indices: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
        """One batch of uint8 index images, on the host or already on the device, as the model's float input.

        (Images computed per batch on the device, :mod:`ecgcwt.learn.cnn2d.signal_images`,
        come in this way: no round trip through the host.)
        """
        if indices.device == self.device:
            return self._convert(indices, shift)
        return self._to_model_input(indices, shift)

    def close(self) -> None:
        self.source.close()

    # ------------------------------------------------------------------ host side

    def _host_batches(self, row_batches: Sequence[np.ndarray]) -> Iterator[torch.Tensor]:
        if self.source.mode == "memory":
            for rows in row_batches:
                yield self.source.batch(rows, out=self._staging_for(len(rows)))
            return
        yield from _prefetched(lambda rows: self.source.batch(rows), row_batches, self.prefetch)

    def _staging_for(self, n: int) -> torch.Tensor | None:
        """A pinned buffer for ``n`` images whose previous copy to the GPU has finished (None on CPU)."""
        if not self._cuda:
            return None
        k = self._next
        self._next = (k + 1) % self._STAGING
        if len(self._staging) <= k or self._staging[k].shape[0] < n:
            # A normal tensor even when first asked for under inference_mode (validation): the
            # ring is reused by training batches afterwards, and an inference tensor cannot be
            # written outside inference mode (found on an H200; CPU runs use no staging ring).
            with torch.inference_mode(False):
                buf = torch.empty((n, *self.source.image_shape), dtype=torch.uint8, pin_memory=True)
            if len(self._staging) <= k:
                self._staging.append(buf)
                self._events.append(None)
            else:
                self._staging[k] = buf
        if self._events[k] is not None:
            self._events[k].synchronize()  # the copy that last read this buffer is done
        self._last = k
        return self._staging[k][:n]

    # ------------------------------------------------------------------ device side

    def _to_model_input(self, host: torch.Tensor, shift) -> torch.Tensor:
        if self._cuda:
            if not host.is_pinned():
                staging = self._staging_for(host.shape[0])
                staging.copy_(host)
                host = staging
            x = host.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._events[self._last] = event
        else:
            x = host
        return self._convert(x, shift)

    def _convert(self, x: torch.Tensor, shift) -> torch.Tensor:
        """uint8 index images on the device -> normalised float RGB, NCHW view (channels_last strides)."""
        if shift is not None:  # on the index image: one byte per pixel, and the colour map is per pixel
            x = roll_columns(x, shift.to(self.device, non_blocking=True))
        # colour map and normalisation in one gather: (B, H, W) indices -> (B, H, W, 3) float32.
        # embedding takes int32 indices (a uint8 index tensor would be read as a mask); measured on
        # 2 cores, 3.5x the uint8 RGB gather + float conversion + multiply-add it replaces.
        idx = x.to(torch.int32)
        if self._cuda and int(idx.max()) >= len(self._table):  # past the table: a device-side assert on CUDA
            raise self._index_error(int(idx.max()))
        try:
            y = torch.nn.functional.embedding(idx, self._table)
        except IndexError:  # the CPU's check of the same thing, at no cost when the indices are in range
            raise self._index_error(int(idx.max())) from None
        y = y.permute(0, 3, 1, 2)  # NCHW view with channels_last strides
        return y if self.channels_last else y.contiguous()

    def _index_error(self, found: int) -> Exception:
        reader = getattr(self.source, "reader", None) or getattr(self.source, "origin", None)
        if reader is not None and hasattr(reader, "index_error"):
            return reader.index_error(found)
        return DataError(f"a colour index {found} is past the colour table of {len(self._table)} colours")


def roll_columns(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Roll each image of ``x`` (NHW index or NHWC) by ``shifts[i]`` columns (along time, circularly)."""
    b, h, w = x.shape[:3]
    cols = (torch.arange(w, device=x.device).unsqueeze(0) - shifts.view(-1, 1)) % w  # (B, W)
    if x.ndim == 3:
        return torch.gather(x, 2, cols.view(b, 1, w).expand(b, h, w))
    c = x.shape[3]
    return torch.gather(x, 2, cols.view(b, 1, w, 1).expand(b, h, w, c))


def _prefetched(read, row_batches: Sequence[np.ndarray], depth: int) -> Iterator[torch.Tensor]:
    """``read(rows)`` for each batch, computed up to ``depth`` batches ahead in a thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for rows in row_batches:
                item = read(rows)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=work, name="ecgcwt-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module,
    feeder: BatchFeeder,
    rows: Sequence[int] | np.ndarray,
    batch_size: int,
    autocast,
    n_classes: int,
) -> np.ndarray:
    """Logits (float64 on the host, one row per entry of ``rows``) of ``model`` in eval mode."""
    rows = np.array(rows, dtype=np.int64)
    chunks = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    out = []
    for x in feeder.batches(chunks):
        with autocast:
            logits = model(x)
        out.append(logits.float())
    if not out:
        return np.empty((0, n_classes))
    return torch.cat(out).to("cpu", torch.float64).numpy()


@torch.inference_mode()
def predict_probabilities(
    model: torch.nn.Module,
    feeder: BatchFeeder,
    rows: Sequence[int] | np.ndarray,
    batch_size: int,
    autocast,
    n_classes: int,
    temperature: float = 1.0,
) -> np.ndarray:
    """Softmax class probabilities of ``logits / temperature`` (float64, one row per entry of ``rows``).

    ``autocast`` is the job's autocast context (``Numerics.autocast(device)``),
    so evaluation, test predictions and ``ecgcwt predict`` compute alike.
    ``temperature``: the model's fitted temperature (``meta["temperature"]``; 1 leaves the logits alone).
    """
    # through the logits, as the fold runner does: test predictions and `ecgcwt predict` agree to float64
    from ecgcwt.learn.calibration import softmax

    return softmax(predict_logits(model, feeder, rows, batch_size, autocast, n_classes), float(temperature))
