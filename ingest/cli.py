"""`finsent ingest ...` and `finsent replay ...`: sources in, clean documents out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from finsent.errors import ConfigurationError, DlqLimitExceeded, TransientError
from finsent.logs import configure_logging
from finsent.schemas import LIVE_NAMESPACE
from finsent.service import run_service
from finsent.settings import FinsentSettings, PagingSettings
from ingest.evaluate import dumps, load_sample, score_tagger
from ingest.models import IngestReport
from ingest.replay import drop_replay, list_replays, replay_files, replay_kafka
from ingest.service import FeedService
from ingest.settings import IngestSettings
from ingest.sources.files import check_paths, read_files
from ingest.sources.rss import load_feeds
from ingest.tickers import TickerTagger
from ingest.wiring import open_ingestor

app = typer.Typer(
    help=(
        "Bring documents in: RSS/Atom feeds, an HTTP push API, or files (JSONL, CSV, "
        "StockNet tweets). Every document is cleaned, tagged with tickers, deduplicated "
        "in Redis and produced to news.documents.v1; bad input goes to its .dlq topic."
    ),
    no_args_is_help=True,
)
replay_app = typer.Typer(
    help=(
        "Replay history through the live scoring path, in its own namespace (never "
        "`live`): files merged by event time, or a time range of the documents topic."
    ),
    no_args_is_help=True,
)


def _settings() -> tuple[FinsentSettings, IngestSettings]:
    settings = FinsentSettings()
    configure_logging(settings.log_level, settings.log_format)
    return settings, IngestSettings()


def _echo_report(report: IngestReport) -> None:
    typer.echo(report.model_dump_json(indent=2))


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def parse_speed(value: str) -> float | None:
    """`--speed`: a positive number (times real time), or `max` for no pacing."""
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise typer.BadParameter("use a positive number (times real time) or `max`") from None
    if speed <= 0:
        raise typer.BadParameter("speed must be positive")
    return speed


def _when(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option}: use ISO 8601, e.g. 2026-11-28T17:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def rss(
    config: Annotated[Path, typer.Option(help="feeds.toml: [[feeds]] name, url, interval_s ...")],
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port (0: off)")] = 9101,
    topic: Annotated[
        str | None, typer.Option(help="Documents topic override (dry runs, staging)")
    ] = None,
) -> None:
    """Poll RSS/Atom feeds, each on its own interval, until interrupted.

    Conditional GET (ETag / Last-Modified), per-feed timeout and exponential backoff.
    Health per feed: finsent_ingest_feed_up, finsent_ingest_feed_polls_total{result}.
    """
    settings, ingest = _settings()
    try:
        feeds = load_feeds(config)
    except ConfigurationError as exc:
        raise _fail(exc) from None
    service = FeedService(settings, ingest, feeds, topic=topic, metrics_port=metrics_port)
    code = run_service(service, service.endpoint, command="finsent ingest rss")
    if code:
        raise typer.Exit(code)
    if service.report is not None:
        _echo_report(service.report)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings)")] = None,
    topic: Annotated[
        str | None, typer.Option(help="Documents topic override (dry runs, staging)")
    ] = None,
) -> None:
    """Serve the push API: POST /v1/documents with a bearer token; docs at /docs.

    Needs FINSENT_INGEST_PUSH_TOKEN (the client "default") or FINSENT_INGEST_PUSH_CLIENTS
    (named clients, each with its own token and rate limit: a JSON object of name to
    token). Limits: FINSENT_INGEST_PUSH_MAX_REQUEST_BYTES, FINSENT_INGEST_PUSH_MAX_BATCH,
    FINSENT_INGEST_PUSH_RATE_PER_S (per client), FINSENT_INGEST_PUSH_BURST.
    """
    # Imported here so `finsent --help` does not pay for uvicorn and FastAPI.
    from ingest.push_service import PushService

    settings, ingest = _settings()
    try:
        service = PushService(settings, ingest, host=host, port=port, topic=topic)
    except ConfigurationError as exc:
        raise _fail(exc) from None
    # The push app serves /healthz, /readyz and /metrics on its own port.
    code = run_service(service, None, command="finsent ingest serve")
    if code:
        raise typer.Exit(code)


@app.command("file")
def file_(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (walked)")],
    namespace: Annotated[str, typer.Option(help="Namespace to write")] = LIVE_NAMESPACE,
    topic: Annotated[
        str | None, typer.Option(help="Documents topic override (dry runs, staging)")
    ] = None,
) -> None:
    """Ingest JSONL, CSV or StockNet tweet files in file order, then print the report.

    JSONL/CSV records need `text` (or `title`) and `published_at` with a timezone;
    optional `id`, `source`, `url`, `title`, `language`, `tickers`. Lines holding a
    Twitter v1.1 object keep only id_str, created_at, text, lang and cashtags.
    """
    settings, ingest = _settings()
    try:
        check_paths(paths)
        with open_ingestor(
            settings, ingest, namespace=namespace, topic=topic, clock=settings.clock()
        ) as ingestor:
            report = ingestor.run(read_files(paths, ingest.max_raw_bytes))
    except (FileNotFoundError, TransientError, DlqLimitExceeded) as exc:
        raise _fail(exc) from None
    _echo_report(report)


@app.command("eval-tickers")
def eval_tickers(
    sample: Annotated[Path, typer.Argument(help="JSONL of {text, tickers} lines")],
) -> None:
    """Precision and recall of the ticker tagger on a hand-labelled sample."""
    scores = score_tagger(TickerTagger.bundled(IngestSettings().max_tickers), load_sample(sample))
    typer.echo(dumps(scores))


@app.command("bench-push")
def bench_push_cmd(
    singles: Annotated[int, typer.Option(help="One-document requests")] = 300,
    batches: Annotated[int, typer.Option(help="Requests of 100 documents")] = 20,
    concurrent: Annotated[
        int, typer.Option(help="One-document requests from concurrent clients (each path)")
    ] = 3000,
    clients: Annotated[int, typer.Option(help="Concurrent clients")] = 32,
    client_procs: Annotated[
        int, typer.Option(help="Processes the clients are spread over (each its own GIL)")
    ] = 2,
) -> None:
    """Measure push API throughput over loopback HTTP (scratch topic and namespace).

    Prints sequential one-document requests/s; one-document requests/s and p99 from
    `--clients` concurrent clients with grouped acknowledgements, and the same load on
    the old per-request-flush path as a baseline; and documents/s in batches of 100.
    The load generator runs on the same machine and shares its CPUs.
    """
    from ingest.bench import bench_push

    settings, ingest = _settings()
    figures = bench_push(settings, ingest, singles, batches, concurrent, clients, client_procs)
    typer.echo(figures.model_dump_json(indent=2))


@replay_app.command("file")
def replay_file(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (walked)")],
    namespace: Annotated[
        str | None, typer.Option(help="Replay namespace (default replay-<UTC time>)")
    ] = None,
    speed: Annotated[str, typer.Option(help="N times real time, or `max`")] = "max",
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    topic: Annotated[
        str | None, typer.Option(help="Documents topic override (dry runs, staging)")
    ] = None,
) -> None:
    """Merge every input by event time and publish it into a replay namespace.

    StockNet daily files are collection buckets, so all files are merged and sorted by
    created_at. Replaying the same input twice yields identical documents.
    """
    settings, ingest = _settings()
    try:
        report = replay_files(
            paths,
            settings,
            namespace,
            parse_speed(speed),
            progress,
            topic,
            ingest=ingest,
            paging=PagingSettings().page_namespaces,
        )
    except (ConfigurationError, FileNotFoundError, TransientError, DlqLimitExceeded) as exc:
        raise _fail(exc) from None
    _echo_report(report)


@replay_app.command("kafka")
def replay_kafka_cmd(
    from_: Annotated[
        str, typer.Option("--from", help="Start, record time, ISO 8601 (UTC if no offset)")
    ],
    to: Annotated[str, typer.Option("--to", help="End, exclusive, ISO 8601")],
    namespace: Annotated[str | None, typer.Option(help="Replay namespace")] = None,
    source_namespace: Annotated[str, typer.Option(help="Documents to take")] = LIVE_NAMESPACE,
    speed: Annotated[str, typer.Option(help="N times real time, or `max`")] = "max",
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Re-read a time range of news.documents.v1 and republish it into a namespace.

    Times without a timezone are UTC. The range is found with offsets_for_times.
    """
    settings, ingest = _settings()
    start, end = _when(from_, "--from"), _when(to, "--to")
    try:
        report = replay_kafka(
            settings,
            start,
            end,
            namespace,
            source_namespace=source_namespace,
            speed=parse_speed(speed),
            progress=progress,
            ingest=ingest,
            paging=PagingSettings().page_namespaces,
        )
    except (ConfigurationError, TransientError, DlqLimitExceeded) as exc:
        raise _fail(exc) from None
    _echo_report(report)


@replay_app.command("list")
def replay_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array of the namespaces, for scripts.")
    ] = False,
) -> None:
    """List namespaces: replays with their inputs and reports, and any others the store has."""
    settings, _ = _settings()
    infos = list_replays(settings)
    if as_json:
        typer.echo(json.dumps([info.model_dump(mode="json") for info in infos]))
        return
    for info in infos:
        if info.kind in ("live", "unknown"):
            done = "-"
        elif info.finished_at is None:
            done = "running"
        else:
            done = f"{info.report.produced if info.report else 0} docs"
        typer.echo(f"{info.namespace:<40} {info.kind:<8} {done:<12} {' '.join(info.inputs)[:80]}")


@replay_app.command("drop")
def replay_drop(
    name: Annotated[str, typer.Argument(help="Namespace to delete")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a replay namespace: its series, alerts state and dedupe keys (never `live`).

    Asks first (nothing can bring the series back); `--yes` skips the question for scripts.
    """
    settings, _ = _settings()
    if name != LIVE_NAMESPACE and not yes:
        typer.confirm(f"Delete namespace {name!r} and all its series?", abort=True)
    try:
        removed = drop_replay(settings, name)
    except ConfigurationError as exc:
        raise _fail(exc) from None
    typer.echo(f"dropped {name}: {removed} keys")
