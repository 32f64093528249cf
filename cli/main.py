"""`finsent`: one command line for every service.

Each service keeps its commands in its own package (`<service>/cli.py`); this module
only mounts them, so `finsent` itself stays a thin shell.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

import finsent
from alerts import cli as alerts_cli
from cli import bench_cmd, run_cmd, stack_cmd
from cli.errors import operator_error
from cli.helptext import reflow_app
from dashboards import cli as dashboards_cli
from devstack.soak import cli as soak_cli
from inference import cli as inference_cli
from inference.model import classify_cmd
from ingest import cli as ingest_cli
from training import cli as training_cli
from training import teachers_cmd

app = typer.Typer(
    name="finsent",
    help=(
        "Streaming financial-sentiment monitoring: ingest news and posts into Kafka, "
        "score them with finsent's own BERT model, keep Redis time series, and page "
        "on-call on negative-sentiment spikes."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"finsent {finsent.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print finsent's version and exit.",
        ),
    ] = False,
) -> None:
    """Streaming financial-sentiment monitoring (see `finsent COMMAND --help`)."""


app.add_typer(stack_cmd.app, name="stack")
app.add_typer(alerts_cli.app, name="alerts")
app.add_typer(bench_cmd.app, name="bench")
app.command("run")(run_cmd.run)
app.add_typer(dashboards_cli.app, name="dashboards")
app.add_typer(ingest_cli.app, name="ingest")
app.add_typer(ingest_cli.replay_app, name="replay")
app.command("web")(dashboards_cli.web)
app.command("infer")(inference_cli.infer)
app.command("train")(training_cli.train)
app.command("adapt")(training_cli.adapt)
app.command("eval")(training_cli.eval_model)
app.command("classify")(classify_cmd.classify)
app.add_typer(teachers_cmd.teachers_app, name="teachers")
app.command("soak")(soak_cli.soak)
reflow_app(app)  # last: every command is registered by now


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except Exception as exc:
        explained = operator_error(exc)
        if explained is None or os.environ.get("FINSENT_LOG_LEVEL", "").upper() == "DEBUG":
            raise
        message, code = explained
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(code) from None


if __name__ == "__main__":
    main()
