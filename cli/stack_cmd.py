"""`finsent stack up | down | status`: the local Kafka broker and Redis server."""

from __future__ import annotations

import time

import typer

from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings
from finsent.stack import ServiceStatus, Stack

app = typer.Typer(
    help=(
        "Run the local stack: a real single-node Kafka 4 broker (KRaft, jars from Maven "
        "Central) and a real Redis server, both on 127.0.0.1. Ports and paths come from "
        "FINSENT_STACK__* settings."
    ),
    no_args_is_help=True,
)


def _print(statuses: list[ServiceStatus]) -> None:
    for s in statuses:
        state = f"running (pid {s.pid})" if s.running else "stopped"
        typer.echo(f"{s.name:<6} {state:<22} {s.address:<16} log: {s.log_file}")


@app.command()
def up() -> None:
    """Start Kafka and Redis if they are not running, and wait until both are healthy.

    Healthy means Redis answers PING and a probe message is produced to and consumed
    from the broker. Running it twice is harmless.
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
def status() -> None:
    """Print which stack servers run, with pid, address and log file."""
    _print(Stack(FinsentSettings()).status())
