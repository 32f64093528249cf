"""Which serving path this machine should run: precision and runtime from the CPU's features.

Measured, not assumed (docs/model.md, "Serving paths"): bf16 weights are fast only where the
CPU computes bf16 natively (AMX-BF16, or AVX-512 BF16); everywhere else torch emulates them,
7.6x slower than fp32 on an AVX2 EPYC (issue 14), 2.1x (graph) to 4.4x (eager) on an
AVX-512 VNNI Xeon without BF16 (measured under load).

int8 through ONNX Runtime is the fastest CPU path measured (1.9x fp32 end to end on an
AVX-512 VNNI Xeon) and keeps accuracy on the valid sets. It runs one text per call, so
its scores never depend on batch-mates and a replay reproduces live scores. It is still
opt-in (``precision="int8"``): it labels 1.1% of real tweets differently from fp32, with
no bias either way, and on the StockNet month one of those, a borderline Walmart post,
moves the crash's page from 15:20 to 18:40 UTC (docs/model.md, "Per-text int8"). The
shipped model's page on that crash rests on a handful of labels; ``auto`` keeps the
labels it was accepted with until the model's margin no longer hinges on one post.

``choose_serving`` is a pure function of what ``detect_cpu`` reads, so each rule is tested
with mocked capabilities.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16", "int8"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16", "int8"]
Runtime = Literal["torch", "onnxruntime"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16", "int8")

_NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """What the CPU can do.

    Attributes:
        capability: ``torch.backends.cpu.get_cpu_capability()``: ``DEFAULT``, ``AVX2``,
            ``AVX512`` (or ``ZVECTOR``/``VSX`` off x86).
        flags: The ``flags`` line of ``/proc/cpuinfo`` (empty where there is none).
    """

    capability: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """bf16 arithmetic in hardware: AMX-BF16 tiles or AVX-512 BF16 dot products."""
        return bool(self.flags & _NATIVE_BF16_FLAGS)

    @property
    def int8_dot(self) -> bool:
        """An int8 dot-product instruction (AVX-512 VNNI, AVX-VNNI or AMX-INT8)."""
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "amx_int8"})

    def describe(self) -> str:
        """Short human summary for logs, e.g. ``AVX512 +vnni -bf16 -amx``."""
        marks = (
            ("vnni", self.int8_dot),
            ("bf16", self.native_bf16),
            ("amx", "amx_tile" in self.flags),
        )
        return " ".join([self.capability, *(("+" if on else "-") + name for name, on in marks)])


@dataclass(frozen=True, slots=True)
class ServingPlan:
    """How the model is served on a device, and why.

    Attributes:
        precision: Weight precision.
        runtime: ``torch`` (TorchScript graph or eager) or ``onnxruntime`` (int8).
        reason: One line for the log and the benchmarks' JSON.
    """

    precision: Precision
    runtime: Runtime
    reason: str


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first ``flags`` line of ``/proc/cpuinfo``; empty when it cannot be read."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def detect_cpu() -> CpuInfo:
    """Read torch's dispatch capability and the kernel's CPU flags."""
    import torch

    return CpuInfo(capability=torch.backends.cpu.get_cpu_capability(), flags=cpu_flags())


def bf16_native(device: str, cpu: CpuInfo | None = None) -> bool:
    """Whether ``device`` computes bf16 in hardware: CUDA, or a CPU with AMX-BF16/AVX-512 BF16.

    Serving (``choose_serving``) and training (bf16 autocast) follow the same rule: on a CPU
    without it torch emulates bf16, 2.9x slower per training step than fp32 on an AVX-512
    VNNI VM (docs/model.md, "Training precision").
    """
    if device.startswith("cuda"):
        return True
    return (cpu or detect_cpu()).native_bf16


def autocast_bf16(device: str, requested: bool | None) -> bool:
    """Whether training-side code autocasts to bf16: ``requested``, or ``bf16_native`` if None."""
    return bf16_native(device) if requested is None else requested


def onnxruntime_available() -> bool:
    """Whether the int8 runtime is installed (found without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def choose_serving(
    device: str,
    cpu: CpuInfo,
    requested: PrecisionChoice = "auto",
    *,
    int8_runtime: bool = True,
) -> ServingPlan:
    """The serving path for ``device`` on this CPU; ``requested`` overrides ``auto``.

    Rules for ``auto`` (each from a measurement in docs/model.md):

    * CUDA: bf16 weights in torch (native on every GPU finsent has run on).
    * CPU with native bf16 (AMX-BF16 or AVX-512 BF16): bf16 in torch, 1.4-2.1x fp32.
    * Any other CPU: fp32 in torch (bf16 there is emulated, 2-7.6x slower).

    int8 (ONNX Runtime) is served only on request: faster, but its labels differ from
    those the shipped model was accepted with (module docstring). An explicit request is
    honoured (an operator may know better), with a warning when it is one of the measured
    slow paths (bf16 or fp16 without native bf16).

    Raises:
        ValueError: int8 requested on CUDA, or without onnxruntime installed.
    """
    cuda = device.startswith("cuda")
    if requested == "int8":
        if cuda:
            raise ValueError("int8 serves on the CPU only (ONNX Runtime); use bf16 on CUDA")
        if not int8_runtime:
            raise ValueError("int8 needs onnxruntime: pip install onnxruntime")
        return ServingPlan("int8", "onnxruntime", f"requested on {cpu.describe()}")
    if requested != "auto":
        reason = "requested"
        if not cuda and requested in ("bf16", "fp16") and not cpu.native_bf16:
            reason = f"requested; {requested} is emulated on {cpu.describe()} (slow)"
            log.warning("%s weights are emulated on this CPU and run slower than fp32", requested)
        return ServingPlan(requested, "torch", reason)
    if cuda:
        return ServingPlan("bf16", "torch", "auto: CUDA")
    if cpu.native_bf16:
        return ServingPlan("bf16", "torch", f"auto: native bf16 on {cpu.describe()}")
    return ServingPlan("fp32", "torch", f"auto: no native bf16 on {cpu.describe()}")
