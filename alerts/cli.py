"""`finsent alerts`: the alerting service and its log."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from alerts.channels.alertmanager import AlertmanagerChannel
from alerts.channels.base import BearerAuth, Channel, describe
from alerts.channels.publish import GrafanaAnnotationChannel, KafkaChannel
from alerts.channels.slack import SlackChannel
from alerts.channels.webhook import WebhookChannel, new_secret
from alerts.engine import Clock, utc_now
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.redact import protect_logs
from alerts.service import AlertService
from alerts.settings import AlertsSettings
from alerts.state import AlertStateStore
from finsent.logs import configure_logging
from finsent.service import run_service
from finsent.settings import FinsentSettings, GrafanaSettings
from finsent.store import SeriesStore, open_store
from finsent.topics import ALERTS

log = logging.getLogger(__name__)

app = typer.Typer(
    help="Page on-call once per real negative-sentiment incident; inspect the alert log.",
    no_args_is_help=True,
)

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime) -> datetime:
    """`30m`, `12h`, `7d` (before now) or an ISO 8601 time (UTC if no offset)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use e.g. 30m, 12h, 7d or 2026-01-31T09:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_channels(
    settings: AlertsSettings,
    base: FinsentSettings,
    client: httpx.Client,
    clock: Clock = utc_now,
) -> list[Channel]:
    """The channels the settings configure; Kafka last so on-call is never behind it.

    `clock` is the service clock (Alertmanager's `startsAt`/`endsAt`); webhook signing
    always uses the real clock.
    """
    channels: list[Channel] = []
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        channels.append(WebhookChannel(settings.webhook_url, secret, client))
    if settings.slack_webhook_url:
        slack_url = settings.slack_webhook_url.get_secret_value()
        channels.append(SlackChannel(slack_url, client, web_url=settings.web_url))
    if (settings.alertmanager_url or settings.slack_webhook_url) and not settings.web_url:
        # Not fatal (the page still goes out), but on-call gets no link to the evidence.
        log.warning(
            "FINSENT_ALERTS_WEB_URL is not set: Alertmanager pages carry no generatorURL "
            "and Slack pages no 'open in finsent' button"
        )
    if settings.alertmanager_url:
        auth: httpx.Auth | None = None
        if settings.alertmanager_username and settings.alertmanager_password:
            auth = httpx.BasicAuth(
                settings.alertmanager_username, settings.alertmanager_password.get_secret_value()
            )
        elif settings.alertmanager_bearer_token:
            auth = BearerAuth(settings.alertmanager_bearer_token.get_secret_value())
        channels.append(
            AlertmanagerChannel(
                settings.alertmanager_url,
                client,
                clock,
                resend_s=settings.alertmanager_resend_s,
                hold_s=settings.alertmanager_hold_s,
                web_url=settings.web_url,
                runbook_url=settings.alertmanager_runbook_url,
                auth=auth,
            )
        )
    grafana = GrafanaSettings()
    if grafana.url is not None:
        channels.append(GrafanaAnnotationChannel(grafana))
    if settings.publish_kafka:
        from finsent.kafka_io import ensure_pipeline_topics, make_producer

        ensure_pipeline_topics(base.kafka, [ALERTS])
        channels.append(KafkaChannel(make_producer(base.kafka), settings.notify_timeout_s))
    return channels


def build_notifier(
    settings: AlertsSettings,
    base: FinsentSettings,
    client: httpx.Client,
    clock: Clock,
    metrics: AlertMetrics,
) -> Notifier:
    """The notifier every alert engine pages through: `alerts run` and `finsent run` alike.

    One place, so that both honour the retry, backoff and Retry-After settings and count
    into the engine's own metrics (`finsent run` used to build a bare `Notifier`).
    """
    return Notifier(
        build_channels(settings, base, client, clock),
        metrics,
        attempts=settings.notify_attempts,
        backoff_s=settings.notify_backoff_s,
        max_retry_after_s=settings.notify_max_retry_after_s,
    )


def secret_values(settings: AlertsSettings, base: FinsentSettings) -> list[str]:
    """Every credential this service holds, for the log filter."""
    found = [
        settings.webhook_secret,
        settings.slack_webhook_url,
        settings.alertmanager_password,
        settings.alertmanager_bearer_token,
        base.redis.password,
        GrafanaSettings().token,
    ]
    return [s.get_secret_value() for s in found if s is not None]


def setup_logging(settings: AlertsSettings, base: FinsentSettings) -> None:
    """Root logging for the service, with every credential it holds masked."""
    configure_logging(base.log_level, base.log_format)
    protect_logs(secret_values(settings, base))


def load_settings() -> AlertsSettings:
    """`AlertsSettings` from the environment, or a clear error and exit code 2.

    pydantic's own message would echo the offending input, which may be a secret.
    """
    try:
        return AlertsSettings()
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.echo(f"error: FINSENT_ALERTS {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


@app.command("run")
def run(
    namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace", "-n", help="Namespace to evaluate (repeatable; default: settings)."
        ),
    ] = None,
    once: Annotated[bool, typer.Option(help="Evaluate and deliver once, then exit.")] = False,
) -> None:
    """Judge sliding event-time windows every few minutes and notify on-call, until Ctrl-C.

    A window is decided once the namespace's low watermark (newest event, never past the
    wall clock in paging namespaces) is its rule's lateness past its end, so the same data
    always gives the same alerts. Only namespaces in FINSENT_ALERTS_PAGE_NAMESPACES
    (default: live) and windows newer than FINSENT_ALERTS_MAX_EVENT_LAG_S may page; a rule
    that could never page is refused at start-up; everything is logged.
    Channels: FINSENT_ALERTS_WEBHOOK_URL (+ _WEBHOOK_SECRET, Standard Webhooks
    signing), _SLACK_WEBHOOK_URL, _ALERTMANAGER_URL (re-sent every _ALERTMANAGER_RESEND_S
    while firing); every state change also goes to the `alerts.fired.v1` topic. A page
    that cannot be delivered is retried for FINSENT_ALERTS_NOTIFY_RETENTION_H hours and
    reported as overdue after _NOTIFY_OVERDUE_S (see docs/alerts.md).
    """
    base = FinsentSettings()
    settings = load_settings()
    setup_logging(settings, base)
    namespaces = tuple(namespace) if namespace else settings.namespaces
    service = build_service(base, settings, namespaces, once=once, echo=typer.echo)
    code = run_service(service, service.endpoint, command="finsent alerts run")
    if code:
        raise typer.Exit(code)


def build_service(
    base: FinsentSettings,
    settings: AlertsSettings,
    namespaces: Sequence[str],
    *,
    once: bool = False,
    echo: Callable[[str], object] = lambda line: None,
) -> AlertService:
    """The alerting service with its channels; `finsent alerts run` and `finsent run` both
    build it here."""
    make_notifier = functools.partial(build_notifier, settings, base)
    return AlertService(base, settings, namespaces, make_notifier, once=once, echo=echo)


@app.command("webhook-secret")
def webhook_secret() -> None:
    """Print a new random webhook signing secret (`whsec_...`) for FINSENT_ALERTS_WEBHOOK_SECRET.

    Give the same value to the receiver; it verifies each request's `webhook-signature`.
    """
    typer.echo(new_secret())


def _namespaces(store: SeriesStore, namespace: str | None) -> list[str]:
    """`namespace`, or every namespace with data; a name with no data is said on stderr,
    since a typo would otherwise print nothing, like a namespace with no alerts."""
    known = store.list_namespaces()
    if namespace is None:
        return known
    if namespace not in known:
        typer.echo(
            f"note: namespace {namespace!r} holds no data (namespaces with data: "
            f"{', '.join(known) or 'none'})",
            err=True,
        )
    return [namespace]


@app.command("list")
def list_alerts(
    since: Annotated[
        str | None, typer.Option(help="Only changes logged since: 30m, 12h, 7d or ISO time.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="One namespace (default: all).")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents still firing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON alert per line.")] = False,
) -> None:
    """Print the alert log: every firing and resolution, paged or not (replays included)."""
    base = FinsentSettings()
    settings = load_settings()
    store = open_store(base, settings.store_backend)
    state = AlertStateStore(store.client)
    # Real time, not the service clock: the log's stream ids are Redis's own wall clock.
    start = parse_since(since, utc_now()) if since else None
    try:
        for ns in _namespaces(store, namespace):
            alerts = state.open_incidents(ns) if open_only else state.log(ns, start)
            for alert in alerts:
                paged = "" if alert.notify else " (not paged)"
                typer.echo(alert.model_dump_json() if as_json else describe(alert) + paged)
    finally:
        store.close()


@app.command("outbox")
def outbox(
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="One namespace (default: all).")
    ] = None,
) -> None:
    """Print pages not yet delivered: incident, state, age, channels delivered and pending.

    A page stays here until every channel has acknowledged it, for up to
    FINSENT_ALERTS_NOTIFY_RETENTION_H hours; see finsent_alerts_pages_overdue.
    """
    base = FinsentSettings()
    settings = load_settings()
    store = open_store(base, settings.store_backend)
    outbox_store = AlertStateStore(store.client).outbox_store
    now = utc_now()
    try:
        for ns in _namespaces(store, namespace):
            entries = outbox_store.entries(ns)
            done = outbox_store.delivered(ns, entries)
            for entry in entries:
                age = f"{(now - entry.queued_at).total_seconds():.0f}s" if entry.queued_at else "?"
                pending = [c for c in entry.pending if c not in done[entry.field]]
                typer.echo(
                    f"{ns} {entry.alert.incident_id} {entry.alert.state} age={age} "
                    f"delivered={','.join(sorted(done[entry.field])) or '-'} "
                    f"pending={','.join(pending) or '-'}"
                )
    finally:
        store.close()
