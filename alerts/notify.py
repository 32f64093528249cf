"""On-call channels: generic signed webhook, Slack, Alertmanager, and the Kafka alert topic.

Each channel sends one `Alert`; `Notifier` retries each with bounded exponential backoff,
runs channels concurrently so a dead one never delays the others, and counts failures.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from kafka import KafkaProducer

from alerts.metrics import AlertMetrics
from finsent.grafana import post_annotation
from finsent.schemas import Alert
from finsent.settings import GrafanaSettings
from finsent.topics import ALERTS

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Finsent-Signature"


class NotifyError(Exception):
    """A channel could not deliver; `reason` is a short label for the failure metric."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Channel(Protocol):
    """Somewhere an alert is sent."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one alert or raise `NotifyError`."""


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: `sha256=<hex HMAC-SHA256 of the body>`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _post(client: httpx.Client, url: str, content: bytes, headers: dict[str, str]) -> None:
    try:
        response = client.post(url, content=content, headers=headers)
    except httpx.TimeoutException:
        raise NotifyError("timeout") from None
    except httpx.HTTPError:
        raise NotifyError("connection") from None
    if response.status_code >= 300:
        raise NotifyError(f"http_{response.status_code}")


def describe(alert: Alert) -> str:
    """One line for humans (no document text beyond the evidence snippets)."""
    verb = "FIRING" if alert.state == "firing" else "RESOLVED"
    return (
        f"[{verb} {alert.severity}] {alert.rule} {alert.series.kind}={alert.series.value} "
        f"({alert.namespace}): negative share {alert.observed:.0%} vs baseline "
        f"{alert.baseline:.0%}, z={alert.z_score:.1f}, {alert.doc_count} docs, "
        f"window {alert.window_start:%Y-%m-%d %H:%M}–{alert.window_end:%H:%M} UTC"
    )


class WebhookChannel:
    """POSTs the alert JSON, signed with HMAC-SHA256 over the exact body."""

    name = "webhook"

    def __init__(self, url: str, secret: bytes | None, client: httpx.Client) -> None:
        self._url, self._secret, self._client = url, secret, client

    def send(self, alert: Alert) -> None:
        body = alert.model_dump_json().encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": _idempotency_key(alert)}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        _post(self._client, self._url, body, headers)


class SlackChannel:
    """Slack incoming webhook: a text message with the top evidence links."""

    name = "slack"

    def __init__(self, url: str, client: httpx.Client) -> None:
        self._url, self._client = url, client

    def send(self, alert: Alert) -> None:
        lines = [describe(alert)]
        for ev in alert.evidence[:3]:
            link = f"<{ev.url}|{ev.document_id}>" if ev.url else ev.document_id
            lines.append(f"• {ev.score:+.2f} {link}: {ev.snippet[:140]}")
        body = httpx.Request("POST", self._url, json={"text": "\n".join(lines)}).content
        _post(self._client, self._url, body, {"Content-Type": "application/json"})


class AlertmanagerChannel:
    """Prometheus Alertmanager `POST /api/v2/alerts`; resolve sets `endsAt` to now."""

    name = "alertmanager"

    def __init__(
        self,
        base_url: str,
        client: httpx.Client,
        hold: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._url = base_url.rstrip("/") + "/api/v2/alerts"
        self._client, self._hold, self._clock = client, hold, clock

    def payload(self, alert: Alert) -> list[dict[str, Any]]:
        now = self._clock()
        ends = now if alert.state == "resolved" else now + self._hold
        return [
            {
                # Same labels on fire and resolve: that is how Alertmanager matches them.
                "labels": {
                    "alertname": "FinsentNegativeSentiment",
                    "rule": alert.rule,
                    "namespace": alert.namespace,
                    "kind": alert.series.kind,
                    "series": alert.series.value,
                    "severity": alert.severity,
                    "incident_id": alert.incident_id,
                },
                "annotations": {
                    "summary": describe(alert),
                    "observed": f"{alert.observed:.4f}",
                    "baseline": f"{alert.baseline:.4f}",
                    "z_score": f"{alert.z_score:.2f}",
                    "doc_count": str(alert.doc_count),
                    "evidence": " | ".join(e.url or e.document_id for e in alert.evidence),
                },
                "startsAt": _rfc3339(alert.window_end if alert.state == "firing" else now),
                "endsAt": _rfc3339(ends),
            }
        ]

    def send(self, alert: Alert) -> None:
        body = httpx.Request("POST", self._url, json=self.payload(alert)).content
        _post(self._client, self._url, body, {"Content-Type": "application/json"})


class KafkaChannel:
    """Publishes every state change to `alerts.fired.v1`, keyed by incident id."""

    name = "kafka"

    def __init__(self, producer: KafkaProducer, timeout_s: float) -> None:
        self._producer, self._timeout_s = producer, timeout_s

    def send(self, alert: Alert) -> None:
        key = ALERTS.key(alert)
        try:
            self._producer.send(
                ALERTS.name, value=ALERTS.encode(alert), key=key.encode() if key else None
            ).get(timeout=self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - kafka-python raises many unrelated types
            raise NotifyError(type(exc).__name__) from None


class GrafanaAnnotationChannel:
    """Posts every state change as a Grafana annotation, so dashboards show incidents."""

    name = "grafana"

    def __init__(self, settings: GrafanaSettings) -> None:
        self._settings = settings

    def send(self, alert: Alert) -> None:
        try:
            post_annotation(self._settings, alert)
        except Exception as exc:  # noqa: BLE001 - grafana-client raises many unrelated types
            raise NotifyError(type(exc).__name__) from None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _idempotency_key(alert: Alert) -> str:
    return f"{alert.incident_id}|{alert.state}"


class Notifier:
    """Delivers alerts to named channels with bounded retries.

    Args:
        channels: the configured channels (names must be unique).
        metrics: where deliveries and failures are counted.
        attempts: tries per channel per `deliver` call.
        backoff_s: delay before the first retry; doubles per retry.
        sleep: injectable for tests.
    """

    def __init__(
        self,
        channels: Iterable[Channel] = (),
        metrics: AlertMetrics | None = None,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._channels = {c.name: c for c in channels}
        self._metrics = metrics or AlertMetrics()
        self._attempts, self._backoff_s, self._sleep = attempts, backoff_s, sleep

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self._channels)

    def deliver(self, alert: Alert, channel_names: Sequence[str]) -> set[str]:
        """Try each named channel (concurrently); returns the names that succeeded."""
        wanted = [self._channels[n] for n in channel_names if n in self._channels]
        if not wanted:
            return set()
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            results = list(pool.map(lambda c: self._try(c, alert), wanted))
        return {c.name for c, ok in zip(wanted, results, strict=True) if ok}

    def _try(self, channel: Channel, alert: Alert) -> bool:
        delay = self._backoff_s
        for attempt in range(1, self._attempts + 1):
            try:
                channel.send(alert)
            except NotifyError as exc:
                self._metrics.notification_failures.labels(channel.name, exc.reason).inc()
                log.warning(
                    "notification failed",
                    extra={
                        "channel": channel.name,
                        "incident_id": alert.incident_id,
                        "attempt": attempt,
                        "reason": exc.reason,
                    },
                )
                if attempt < self._attempts:
                    self._sleep(delay)
                    delay *= 2
                continue
            self._metrics.notifications.labels(channel.name).inc()
            return True
        return False
