"""``finsent bench model``: texts/s and latency of the serving classifier (``bench``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from inference.model.cli_options import (
    DeviceOpt,
    ModelOpt,
    PrecisionOpt,
    precision_choice,
    set_threads,
)
from inference.model.settings import ModelSettings


def bench_model_cmd(
    batch_sizes: Annotated[
        str, typer.Option(help="Comma-separated batch sizes.")
    ] = "1,8,32,64,128",
    model: ModelOpt = None,
    device: DeviceOpt = "cpu",
    precision: PrecisionOpt = None,
    seconds: Annotated[float, typer.Option(help="Minimum timed seconds per batch size.")] = 5.0,
    n_texts: Annotated[int, typer.Option(help="Real valid texts to cycle through.")] = 2000,
    eager: Annotated[
        bool, typer.Option("--eager", help="Plain PyTorch instead of the frozen CPU graph.")
    ] = False,
    matrix: Annotated[
        bool,
        typer.Option(
            "--matrix",
            help="Instead: texts/s of every serving path (bf16/fp32/int8 x graph/eager) at "
            "the first batch size, as in docs/model.md.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Texts/s and p50/p99 latency of score_batch (tokenise + model + softmax).

    Uses real tweets from both valid files (FINSENT_DATA_DIR), alternating
    sentiment and topic texts. The header names the serving path and the CPU.
    """
    from inference.model.bench import bench_matrix, bench_model, bench_texts, format_bench
    from inference.model.classifier import Classifier
    from inference.model.hardware import detect_cpu

    settings = ModelSettings()
    set_threads(settings)
    folder = model or settings.model_dir
    sizes = _batch_sizes(batch_sizes)
    texts = bench_texts(settings.data_dir, n_texts)
    cpu = detect_cpu().describe()
    if matrix:
        table = bench_matrix(folder, device, texts, sizes[0], seconds)
        if as_json:
            typer.echo(json.dumps({"cpu": cpu, "batch_size": sizes[0], "rows": table}))
        else:
            typer.echo(f"cpu={cpu} batch={sizes[0]} threads={settings.num_threads}\n")
            typer.echo("| weights | frozen graph / ONNX Runtime | eager |")
            typer.echo("| --- | ---: | ---: |")
            for row in table:
                cells = [f"{v:.0f} texts/s" if v else "–" for v in (row["graph"], row["eager"])]
                typer.echo(f"| {row['precision']} | {cells[0]} | {cells[1]} |")
        return
    classifier = Classifier.load(
        folder,
        device=device,
        precision=precision_choice(precision),
        frozen=False if eager else None,
    )
    rows = bench_model(classifier, texts, sizes, min_seconds=seconds)
    meta = {
        "model_version": classifier.model_version,
        "device": device,
        "cpu": cpu,
        "precision": classifier.precision,
        "runtime": classifier.runtime,
        "threads": settings.num_threads,
        "frozen": classifier.frozen,
    }
    if as_json:
        typer.echo(json.dumps({**meta, "rows": [r.model_dump() for r in rows]}))
    else:
        typer.echo(format_bench(rows, " ".join(f"{k}={v}" for k, v in meta.items())))


def _batch_sizes(value: str) -> list[int]:
    """`--batch-sizes`: positive integers, comma-separated."""
    try:
        sizes = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(
            f"{value!r}: give positive whole numbers, e.g. 1,8,64", param_hint="--batch-sizes"
        )
    return sizes
