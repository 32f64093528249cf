"""`finsent run`: the whole pipeline over some history, in one command.

Starts the stack, then, in this process, the inference consumer and the alert engine (and
the web view with `--web`); replays the given files into a namespace of their own; and,
with `--exit-when-done`, waits until every document is scored and every window evaluated,
writes a JSON report and exits. Without it, it keeps serving until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.run_lane import GroupProbe, RunFailed, TrackingPacer, check_scorer, drop_lane
from cli.run_report import RunReport, SeriesTotalsOut, alert_out
from finsent.logs import configure_logging
from finsent.schemas import LIVE_NAMESPACE, Alert
from finsent.settings import FinsentSettings
from ingest.cli import parse_speed

log = logging.getLogger(__name__)

EXIT_FAILED = 3
"""Exit status when the run stopped on a fault (the scorer died, or scoring stalled)."""


STACK_STILL_RUNNING = (
    "the broker and Redis keep running (they hold the replay's series for the web view); "
    "stop them with `make stack-down` or `finsent stack down`"
)


@contextlib.contextmanager
def quiet_loggers(*names: str, level: int = logging.CRITICAL) -> Iterator[None]:
    """Raise some loggers' threshold for a while, then restore it.

    While the broker starts, kafka-python logs an ERROR for every refused connection of the
    readiness probe: a dozen lines a newcomer reads as failure, though the stack reports
    its own timeout if the broker never comes up.
    """
    loggers = [logging.getLogger(name) for name in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, old in zip(loggers, before, strict=True):
            lg.setLevel(old)


def quiet_model_loading() -> None:
    """transformers warns once that our encoder's config has no `loss_type`: inference never
    computes a transformers loss, so the warning is noise; other transformers warnings stay."""
    logging.getLogger("transformers.modeling_utils").setLevel(logging.ERROR)


def run(
    replay: Annotated[
        list[Path],
        typer.Option(
            "--replay",
            help="Files or folders of history (JSONL, CSV, StockNet tweets); repeatable.",
            exists=True,
        ),
    ],
    namespace: Annotated[
        str | None,
        typer.Option(help="Replay namespace (default replay-<UTC time>); never 'live'."),
    ] = None,
    speed: Annotated[
        str, typer.Option(help="N times real time, or 'max' for as fast as possible.")
    ] = "max",
    exit_when_done: Annotated[
        bool, typer.Option(help="Exit once every document is scored and evaluated.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write the JSON report here (with --exit-when-done).")
    ] = None,
    web: Annotated[bool, typer.Option(help="Serve the built-in web view meanwhile.")] = False,
    web_port: Annotated[int, typer.Option(help="Port of the web view.")] = 8050,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run the whole pipeline (stack, ingest, inference, alerts) over some history.

    Everything lands in a replay namespace, so live series stay clean and no alert
    reaches on-call. Documents are scored on a topic and consumer group of the run's own
    (replay.<namespace>.documents.v1, inference-replay-<namespace>), never the live ones.
    Exits with status 3 and the cause if the scorer stops or scoring stalls. `make run`
    uses this on the bundled StockNet month with --web.
    """
    base = FinsentSettings()
    configure_logging("WARNING" if progress else base.log_level, base.log_format)
    if progress:
        # With the progress bar (`make run`), the stage lines speak; kafka-python's warnings
        # while a fresh broker elects its group coordinator heal by themselves.
        logging.getLogger("kafka").setLevel(logging.ERROR)
    if namespace == LIVE_NAMESPACE:
        raise typer.BadParameter("a replay never writes the live namespace")
    try:
        result = run_pipeline(
            base,
            replay,
            namespace=namespace,
            speed=parse_speed(speed),
            exit_when_done=exit_when_done,
            web_port=web_port if web else None,
            progress=progress,
        )
    except RunFailed as exc:
        typer.echo(f"finsent run failed: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
    if result is None:
        return
    text = result.model_dump_json(indent=2)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text + "\n")
        typer.echo(f"report written to {report}")
    typer.echo(
        f"{result.documents_in} documents in: {result.scored} scored, "
        f"{result.duplicates} duplicates, {result.dead_lettered} dead-lettered; "
        f"{len(result.alerts)} alert state changes"
    )
    for reason, count in result.refused_by_store.items():
        typer.echo(f"  {count} refused by the store: {reason}", err=True)
    typer.echo(f"done; {STACK_STILL_RUNNING}", err=True)


def run_pipeline(
    base: FinsentSettings,
    paths: list[Path],
    *,
    namespace: str | None,
    speed: float | None,
    exit_when_done: bool,
    web_port: int | None,
    progress: bool,
) -> RunReport | None:
    """The orchestration behind `finsent run`; returns the report when it exits by itself."""
    # Heavy imports here, so `finsent --help` stays fast.
    from alerts.cli import build_service
    from alerts.settings import AlertsSettings
    from devstack.stack import Stack
    from finsent.kafka_io import ensure_pipeline_topics, ensure_topics
    from finsent.service import ServiceThread
    from finsent.store import open_store
    from finsent.topics import (
        ALERTS,
        DOCUMENTS,
        SCORED,
        dlq_of,
        replay_documents_topic,
        replay_group,
    )
    from inference.service import ScoringService, load_scorer
    from inference.settings import InferenceSettings
    from ingest.replay import check_namespace, default_namespace, replay_files
    from ingest.settings import IngestSettings

    started_at = datetime.now(UTC)
    alerts_settings = AlertsSettings(metrics_port=None)
    ns = check_namespace(
        namespace or default_namespace(started_at), paging=alerts_settings.page_namespaces
    )
    typer.echo("[1/4] starting the stack (Kafka + Redis) ...", err=True)
    with quiet_loggers("kafka"):
        Stack(base).up()
        ensure_pipeline_topics(base.kafka, [DOCUMENTS, SCORED, ALERTS])
    # The replay's own lane: a topic and a group of its own, never the live ones, so a
    # replay next to a running `finsent infer` neither delays live documents nor takes
    # partitions from the live scorers (and one run's group never sees another's).
    topic, group = replay_documents_topic(ns), replay_group(ns)
    ensure_topics(base.kafka, [topic, dlq_of(topic)])
    store = open_store(base)

    typer.echo("[2/4] loading the model ...", err=True)
    quiet_model_loading()
    inference_settings = InferenceSettings(
        metrics_port=0, topic=topic, group_id=group, unassigned_timeout_s=60.0
    )
    scorer = load_scorer(inference_settings)
    typer.echo(f"      {scorer.model_version} on {inference_settings.device}", err=True)
    # The same services `finsent infer` and `finsent alerts run` build, so the wiring is theirs.
    stop = threading.Event()
    scoring = ScoringService(base, inference_settings, scorer=scorer, store=store)
    inference = ServiceThread(scoring, scoring.endpoint, stop, name="inference")
    inference.start()

    # The engine only: a replay is evaluated by the loop below, not the service's own.
    engines = contextlib.ExitStack()
    engine = engines.enter_context(build_service(base, alerts_settings, [ns]).engine())
    changes: list[Alert] = []
    alerts_stop = threading.Event()

    pacer = TrackingPacer(speed)

    def evaluate_loop() -> None:
        # The store's watermark is the newest event of any partition, and partitions run
        # apart during a replay; windows may only close at an event time every input has
        # reached: all documents handed to Kafka before it, and the group caught up.
        probe = GroupProbe(base, group, topic)
        try:
            while not alerts_stop.wait(1.0):
                safe = pacer.published_before
                if safe is None or not probe.caught_up(settle_s=0.5):
                    continue
                try:
                    changes.extend(engine.evaluate(ns, until=safe))
                except Exception:  # a failed pass is retried on the next tick
                    log.exception("alert evaluation failed; retrying")
        finally:
            probe.close()

    alerts = threading.Thread(target=evaluate_loop, name="alerts", daemon=True)
    alerts.start()
    typer.echo("[3/4] scoring and alerting started", err=True)
    if web_port is not None:
        _start_web(base, web_port, ns)
    pace = "as fast as possible" if speed is None else f"{speed:g}x real time"
    typer.echo(f"[4/4] replaying into namespace {ns}, {pace}", err=True)

    try:
        ingest_report = replay_files(
            paths,
            base,
            ns,
            speed=speed,
            progress=progress,
            pacer=pacer,
            ingest=IngestSettings(),
            topic=topic,
            paging=alerts_settings.page_namespaces,
        )
        if not exit_when_done:
            typer.echo(f"replay of {ns} published; still serving, Ctrl-C to stop", err=True)
            while True:
                inference.join(timeout=1.0)
                check_scorer(inference)
        probe = GroupProbe(base, group, topic)
        try:
            probe.wait_caught_up(lambda: check_scorer(inference))
        finally:
            probe.close()
        alerts_stop.set()
        alerts.join(timeout=60)
        while batch := engine.evaluate(ns):  # drain every window the watermark closed
            changes.extend(batch)
    except KeyboardInterrupt:
        typer.echo(f"stopped; {STACK_STILL_RUNNING}", err=True)
        return None
    finally:
        alerts_stop.set()
        stop.set()
        inference.join(timeout=60)
        engines.close()
        drop_lane(base, topic, group)

    far_past = datetime(1970, 1, 2, tzinfo=UTC)
    far_future = datetime.now(UTC) + timedelta(days=3650)
    scored = store.document_count(ns)
    per_ticker: dict[str, SeriesTotalsOut] = {}
    for series in store.list_series(ns, "ticker"):
        # Hourly series: minute buckets are kept only `minute_retention` behind the watermark.
        t = store.total(series, ns, far_past, far_future, resolution="1h")
        per_ticker[series.value] = SeriesTotalsOut(
            documents=t.count,
            negative=t.negative,
            neutral=t.neutral,
            positive=t.positive,
            negative_share=round(t.negative_share, 4),
            mean_score=round(t.mean_score, 4),
        )
    inference_dlq = ingest_report.produced - scored
    return RunReport(
        namespace=ns,
        inputs=[str(p) for p in paths],
        documents_in=ingest_report.documents_in,
        duplicates=ingest_report.duplicates,
        dead_lettered=ingest_report.dead_lettered + inference_dlq,
        scored=scored,
        refused_by_store=store.refusals(ns),
        ingest=ingest_report.model_dump(mode="json"),
        per_ticker=dict(sorted(per_ticker.items())),
        alerts=[alert_out(a) for a in changes],
        model_version=scorer.model_version,
        started_at=started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
    )


def _start_web(base: FinsentSettings, port: int, namespace: str) -> None:
    import uvicorn

    from dashboards.settings import WebSettings
    from dashboards.web.alert_log import RedisAlertLog
    from dashboards.web.app import create_app
    from finsent.store import open_store

    web_settings = WebSettings(port=port)
    app = create_app(web_settings, open_store(base), RedisAlertLog(base.redis.client()))
    config = uvicorn.Config(app, host=web_settings.host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="web", daemon=True).start()
    url = f"http://{web_settings.host}:{port}/#{namespace}"
    typer.echo(f"web view: {url}  (a ticker's drill-down: {url}/WMT)", err=True)
