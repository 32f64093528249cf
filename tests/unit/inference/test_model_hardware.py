"""The serving path per CPU class, with mocked capabilities (no hardware needed)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from inference.model import classifier as classifier_module
from inference.model.classifier import Classifier
from inference.model.hardware import CpuInfo, bf16_native, choose_serving, cpu_flags

# Flags as /proc/cpuinfo prints them on the three CPU classes finsent has been measured on.
AVX2_EPYC = CpuInfo("AVX2", frozenset({"sse4_2", "avx", "avx2", "fma"}))
AVX512_VNNI_XEON = CpuInfo(
    "AVX512", frozenset({"avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"})
)
AVX512_BF16_EPYC = CpuInfo("AVX512", frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
AMX_XEON = CpuInfo(
    "AVX512", frozenset({"avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"})
)
ALL = (AVX2_EPYC, AVX512_VNNI_XEON, AVX512_BF16_EPYC, AMX_XEON)


@pytest.mark.parametrize(
    ("cpu", "precision"),
    [
        (AVX2_EPYC, "fp32"),
        (AVX512_VNNI_XEON, "fp32"),
        (AVX512_BF16_EPYC, "bf16"),
        (AMX_XEON, "bf16"),
    ],
    ids=["avx2", "avx512-vnni", "avx512-bf16", "amx"],
)
def test_auto_serves_bf16_only_where_the_cpu_computes_it(cpu: CpuInfo, precision: str) -> None:
    for int8_runtime in (True, False):  # int8 is never chosen for you (module docstring)
        plan = choose_serving("cpu", cpu, int8_runtime=int8_runtime)
        assert (plan.precision, plan.runtime) == (precision, "torch")
        assert cpu.capability in plan.reason


def test_int8_on_request_runs_on_onnxruntime() -> None:
    plan = choose_serving("cpu", AVX2_EPYC, "int8")
    assert (plan.precision, plan.runtime) == ("int8", "onnxruntime")


def test_cuda_serves_bf16_in_torch_whatever_the_host_cpu() -> None:
    for cpu in ALL:
        plan = choose_serving("cuda:1", cpu)
        assert (plan.precision, plan.runtime) == ("bf16", "torch")


def test_an_override_wins_and_an_emulated_bf16_is_flagged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        plan = choose_serving("cpu", AVX2_EPYC, "bf16")
    assert (plan.precision, plan.runtime) == ("bf16", "torch")
    assert "emulated" in plan.reason and "emulated" in caplog.text
    assert choose_serving("cpu", AMX_XEON, "fp32").precision == "fp32"
    assert "emulated" not in choose_serving("cpu", AMX_XEON, "bf16").reason


def test_int8_requests_that_cannot_run_fail_clearly() -> None:
    with pytest.raises(ValueError, match="CPU only"):
        choose_serving("cuda", AVX512_VNNI_XEON, "int8")
    with pytest.raises(ValueError, match="pip install onnxruntime"):
        choose_serving("cpu", AVX512_VNNI_XEON, "int8", int8_runtime=False)


def test_cpu_flags_reads_the_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16 amx_bf16\nbugs\t: x\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16", "amx_bf16"}
    assert CpuInfo("AVX512", cpu_flags(info)).native_bf16
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_load_follows_the_plan_and_logs_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The loader asks the hardware: an AVX2-only CPU serves fp32, an AMX one bf16."""
    Classifier.random_tiny().save(tmp_path)
    # random_tiny() logs its own "(requested)" path whenever an earlier test in this process
    # has set the logger to INFO: only the load below is under test.
    caplog.clear()
    monkeypatch.setattr(classifier_module, "detect_cpu", lambda: AVX2_EPYC)
    with caplog.at_level(logging.INFO, logger="inference.model.classifier"):
        clf = Classifier.load(tmp_path)
    assert (clf.precision, clf.runtime) == ("fp32", "torchscript")
    # This thread's records only: a scorer thread left by an earlier test in the same
    # process may log its own serving path while this one loads.
    lines = [
        r.getMessage()
        for r in caplog.records
        if "serving path" in r.getMessage() and r.thread == threading.get_ident()
    ]
    assert lines == [
        "serving path: fp32 via torch on cpu (auto: no native bf16 on AVX2 -vnni -bf16 -amx)"
    ]
    monkeypatch.setattr(classifier_module, "detect_cpu", lambda: AMX_XEON)
    assert Classifier.load(tmp_path).precision == "bf16"


@pytest.mark.parametrize(
    ("device", "cpu", "native"),
    [
        ("cpu", AVX2_EPYC, False),
        ("cpu", AVX512_VNNI_XEON, False),  # emulated: 2.9x slower per training step
        ("cpu", AVX512_BF16_EPYC, True),
        ("cpu", AMX_XEON, True),
        ("cuda:0", AVX2_EPYC, True),
    ],
    ids=["avx2", "avx512-vnni", "avx512-bf16", "amx", "cuda"],
)
def test_bf16_is_native_only_on_cuda_and_cpus_that_compute_it(
    device: str, cpu: CpuInfo, native: bool
) -> None:
    assert bf16_native(device, cpu) is native
