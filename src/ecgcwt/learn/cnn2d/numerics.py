"""Device, precision and memory format of a training job, chosen per backbone from measurements.

``training.precision: auto`` and ``training.channels_last: auto`` resolve
here, per device and backbone:

* **CUDA**: bf16 autocast + ``channels_last`` (resnet18 at batch 32 on an
  NVIDIA H100, torch 2.11: 3,826 img/s fp32 -> 4,910 bf16 + channels_last),
  except the backbones listed in :data:`CUDA_FP32_BACKBONES`, which were
  slower that way at batch 32 on that card (googlenet 1,858 fp32 vs 1,557;
  squeezenet1_1 5,793 vs 3,376) and train in fp32, contiguous.
  ``cudnn.benchmark`` is on unless ``training.deterministic`` asks for
  bit-exact GPU runs.
* **CPU**: bf16 autocast only where the CPU computes bf16 natively
  (AVX512-BF16 or AMX; elsewhere it is emulated and ~15x slower: resnet18
  at 128 px went from 35 img/s fp32 to 2.4 img/s on an AVX2-only AMD EPYC),
  and not for the backbones in :data:`CPU_FP32_BACKBONES`, measured slower
  in bf16. ``channels_last`` everywhere on CPU (oneDNN's preferred layout).
  Measured with ``benchmarks/bench_train.py --sweep`` on a 2-core AMD EPYC
  with AVX512-BF16 (224 px, batch 32, bare training step, img/s, fp32 ->
  fp32 + channels_last -> bf16 -> bf16 + channels_last): resnet18 14.7 /
  17.4 / 28.5 / 33.7; squeezenet1_1 45.3 / 61.9 / 70.5 / 108.0; googlenet
  9.6 / 14.5 / 18.7 / 31.0. CPU runs are bit-reproducible on the same
  machine and thread count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ecgcwt.errors import ConfigError

#: CUDA: slower with bf16 autocast + channels_last than plain fp32 at batch 32 (H100, torch 2.11).
CUDA_FP32_BACKBONES = frozenset({"googlenet", "squeezenet1_1"})

#: CPU with native bf16: measured slower in bf16 than fp32 (mobilenet_v3_small 84 vs 97 img/s,
#: Intel Xeon with AMX).
CPU_FP32_BACKBONES = frozenset({"mobilenet_v3_small"})


@dataclass(frozen=True)
class Numerics:
    """How a job computes: autocast dtype (None = fp32), memory format, cuDNN autotuning."""

    amp_dtype: torch.dtype | None
    channels_last: bool
    cudnn_benchmark: bool
    deterministic: bool

    @property
    def precision(self) -> str:
        return "fp32" if self.amp_dtype is None else str(self.amp_dtype).replace("torch.", "")

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None)


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
    """Autocast dtype for ``precision`` on ``device`` (``None`` = plain fp32)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        if backbone in CUDA_FP32_BACKBONES:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16() and backbone not in CPU_FP32_BACKBONES:
        return torch.bfloat16
    return None


def resolve_channels_last(setting, device: torch.device, backbone: str) -> bool:
    if setting is True or setting is False:
        return setting
    if device.type == "cuda":
        return backbone not in CUDA_FP32_BACKBONES
    return True


def choose_numerics(c: dict, device: torch.device, backbone: str) -> Numerics:
    """The numerics of a job from the ``training:`` settings (``precision``, ``channels_last``, ``deterministic``)."""
    deterministic = bool(c.get("deterministic", False))
    return Numerics(
        amp_dtype=resolve_precision(c["precision"], device, backbone),
        channels_last=resolve_channels_last(c["channels_last"], device, backbone),
        cudnn_benchmark=device.type == "cuda" and not deterministic,
        deterministic=deterministic,
    )


def configure_backends(numerics: Numerics, device: torch.device) -> None:
    """Apply cuDNN autotuning or GPU determinism for this process (nothing to do on CPU)."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = numerics.cudnn_benchmark
    torch.backends.cudnn.deterministic = numerics.deterministic
    if numerics.deterministic:
        # cuBLAS needs a fixed workspace for reproducible GEMMs; set before its first use
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
