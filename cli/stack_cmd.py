"""`finsent stack up | down | status`: the local Kafka broker and Redis server."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from devstack.stack import ServiceStatus, Stack
from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings

app = typer.Typer(
    help=(
        "Run the local stack: a real single-node Kafka 4 broker (KRaft, jars from Maven "
        "Central) and a real Redis server (with RedisTimeSeries when `make setup` fetched "
        "it), both on 127.0.0.1. Ports and paths come from FINSENT_STACK__* settings."
    ),
    no_args_is_help=True,
)


def _print(statuses: list[ServiceStatus]) -> None:
    for s in statuses:
        state = f"running (pid {s.pid})" if s.running else "stopped"
        line = f"{s.name:<6} {state:<22} {s.address:<16} log: {s.log_file}"
        typer.echo(line + (f"\n       {s.detail}" if s.detail else ""))


def _as_json(statuses: list[ServiceStatus]) -> str:
    return json.dumps(
        {
            s.name: {
                "running": s.running,
                "pid": s.pid,
                "address": s.address,
                "log_file": str(s.log_file),
                "detail": s.detail,
                **(
                    {"timeseries": "RedisTimeSeries" in s.detail and s.running}
                    if s.name == "redis"
                    else {}
                ),
            }
            for s in statuses
        },
        indent=2,
    )


@app.command()
def up() -> None:
    """Start Kafka and Redis if they are not running, and wait until both are healthy.

    Healthy means Redis answers PING and a probe message is produced to and consumed
    from the broker. Redis loads RedisTimeSeries when `make setup` fetched it (see
    `finsent stack status`). Running it twice is harmless.
    """
    started = time.monotonic()
    try:
        statuses = Stack(FinsentSettings()).up()
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _print(statuses)
    typer.echo(f"stack healthy in {time.monotonic() - started:.1f}s")


@app.command()
def down() -> None:
    """Stop exactly the processes `finsent stack up` started (by their pid files)."""
    stopped = Stack(FinsentSettings()).down()
    typer.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON object per server instead of text.")
    ] = False,
) -> None:
    """Print which stack servers run, with pid, address, log file, and whether Redis runs
    RedisTimeSeries. Exits 1 when any server is down (scripts can test `stack status`)."""
    statuses = Stack(FinsentSettings()).status()
    if as_json:
        typer.echo(_as_json(statuses))
    else:
        _print(statuses)
    if not all(s.running for s in statuses):
        raise typer.Exit(1)
