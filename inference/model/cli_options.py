"""Options and helpers shared by the model commands (``cli``, ``classify_cmd``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from inference.model.settings import ModelSettings

DeviceOpt = Annotated[
    str, typer.Option(help="Torch device: cpu, cuda or cuda:N (one process per GPU).")
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="Model folder. Default: FINSENT_MODEL_DIR or models/finsent-minilm."
    ),
]
PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        help="auto, fp32, bf16, fp16 or int8. Default: auto (FINSENT_PRECISION), chosen from "
        "the device and the CPU's features: bf16 on CUDA and on CPUs with native bf16, fp32 "
        "elsewhere. int8 (ONNX Runtime, CPU) is the fastest CPU path, on request."
    ),
]


def set_threads(settings: ModelSettings) -> None:
    import torch

    torch.set_num_threads(settings.num_threads)


def precision_choice(value: str | None) -> Any:
    """The requested serving precision; ``None`` defers to ``FINSENT_PRECISION``."""
    choices = ("auto", "fp32", "bf16", "fp16", "int8")
    if value is None:
        return ModelSettings().precision
    if value not in choices:
        raise typer.BadParameter(f"precision must be one of {', '.join(choices)}, not {value!r}")
    return value
