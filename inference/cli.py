"""`finsent infer`: the scoring consumer."""

from __future__ import annotations

from typing import Annotated

import typer

from finsent.errors import FinsentError
from finsent.logs import configure_logging
from finsent.service import run_service
from finsent.settings import FinsentSettings
from inference.settings import InferenceSettings


def infer(
    device: Annotated[
        str | None, typer.Option(help="Torch device: cpu, cuda or cuda:N (one process per GPU).")
    ] = None,
    group: Annotated[str | None, typer.Option(help="Consumer group id.")] = None,
    topic: Annotated[str | None, typer.Option(help="Documents topic to consume.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model folder (default: the shipped model).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Port for /metrics, /healthz, /readyz (0 = any free).")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Time-series backend: auto, core or timeseries.")
    ] = None,
) -> None:
    """Consume documents, score them in batches, write the time series, publish scores.

    Offsets are committed only after the store and the scored topic acknowledged the
    batch, so a crash at any moment loses nothing and counts nothing twice. Run N
    processes with the same group to share the topic's partitions. Every option can
    also be set as FINSENT_INFERENCE_<NAME>; batching via FINSENT_INFERENCE_BATCH__MAX_COUNT,
    __MAX_TOKENS and __MAX_WAIT_S (each overrides one field of the defaults). Stop with
    Ctrl-C or SIGTERM.

    Exits with status 3, saying why, when it stops itself: the model fails on every
    document of a batch (a fault of the code or the machine; nothing of it is committed or
    dead-lettered), too many dead letters in a row, or no partition while the topic has lag.
    """
    base = FinsentSettings()
    configure_logging(base.log_level, base.log_format)
    overrides: dict[str, object] = {
        k: v
        for k, v in {
            "device": device,
            "group_id": group,
            "topic": topic,
            "model_path": model,
            "metrics_port": metrics_port,
            "store_backend": store,
        }.items()
        if v is not None
    }
    if store is not None and store not in ("auto", "core", "timeseries"):
        raise typer.BadParameter("--store must be auto, core or timeseries")
    settings = InferenceSettings(**overrides)  # type: ignore[arg-type]
    # Imported here so `finsent --help` does not pay for importing torch.
    from inference.service import ScoringService

    service = ScoringService(base, settings)
    # A broken model, too many dead letters in a row, or no partitions: an operator must
    # look; nothing after the failing batch was committed.
    code = run_service(
        service, service.endpoint, command="finsent infer", stopped_on=(FinsentError,)
    )
    if code:
        raise typer.Exit(code)
