"""`finsent soak`: prove live paging on the real services with an accelerated clock."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated, get_args

import typer

from devstack.soak.run import SoakOptions, run_soak
from devstack.soak.scenario import DEFAULT_DATA, FULL, SHORT, FaultKind
from devstack.soak.verdict import render
from finsent.logs import configure_logging
from finsent.settings import FinsentSettings


def soak(
    short: Annotated[
        bool,
        typer.Option(
            "--short",
            help=f"The CI form: {SHORT.span.total_seconds() / 3600:g} h of StockNet at {SHORT.speed:g}x (~"
            f"{SHORT.span.total_seconds() / SHORT.speed / 60:.1f} min of stream), one planted event.",
        ),
    ] = False,
    speed: Annotated[
        float | None,
        typer.Option(
            help=f"Service seconds per real second (default {FULL.speed:g}, short {SHORT.speed:g}).",
            min=1,
        ),
    ] = None,
    data: Annotated[
        Path,
        typer.Option(
            help="The shared data folder holding stocknet-dataset/ (as make run's DATA).",
            envvar="FINSENT_DATA_DIR",
        ),
    ] = DEFAULT_DATA,
    keep: Annotated[
        bool, typer.Option(help="Keep the work folder (service logs) even when it passes.")
    ] = False,
    skip_fault: Annotated[
        list[str] | None,
        typer.Option(help="Leave out a fault kind (repeatable), to isolate what breaks."),
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(help="Soak a candidate rule set (JSON, as FINSENT_ALERTS_RULES)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Also write the verdict as JSON to this file.")
    ] = None,
) -> None:
    """Run the real services on a private Kafka + Redis with an accelerated clock, replay
    real StockNet days re-timed to now through POST /v1/documents, inject faults on a
    schedule, and check that every planted burst pages once per channel and resolves once.

    Starts its own broker and Redis on free ports (your stack and live data are never
    touched), local receivers for the webhook, Slack and Alertmanager channels, and
    `finsent ingest serve`, `finsent infer` and `finsent alerts run` as subprocesses in the
    `live` namespace. Faults: a document dated a day ahead, an RSS-like batch 10 minutes
    late, a 5-minute outage of the webhook receiver when the first page arrives, kill -9 of
    `alerts run` mid-incident, a broker restart and a Redis restart. Prints each pass
    criterion and the time to page; exits 1 if any criterion failed. See docs/soak.md.
    """
    base = FinsentSettings()
    configure_logging("WARNING", base.log_format)
    # The broker is down while it starts and restarts on schedule; its client's connection
    # errors are the fault working, not news. Each service's own log is kept per start.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    kinds = set(get_args(FaultKind))
    for kind in skip_fault or []:
        if kind not in kinds:
            raise typer.BadParameter(f"{kind!r}: use one of {', '.join(sorted(kinds))}")
    options = SoakOptions(
        short=short, speed=speed, data=data, keep=keep, rules=rules,
        skip_faults=tuple(skip_fault or ()),
    )  # fmt: skip
    # SIGTERM unwinds like Ctrl-C: services stopped, the private stack taken down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def progress(message: str) -> None:
        typer.echo(message, err=True)

    try:
        result = run_soak(options, base, progress)
    except (FileNotFoundError, RuntimeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(render(result.verdict))
    if result.work_dir is not None:
        typer.echo(f"service logs: {result.work_dir / 'logs'}")
    if report is not None:
        report.write_text(result.verdict.model_dump_json(indent=2))
    sys.stdout.flush()
    if not result.verdict.passed:
        raise typer.Exit(1)


def main() -> None:
    typer.run(soak)
