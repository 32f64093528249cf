"""Channels build the right requests; the notifier retries, isolates and counts failures."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx

from alerts.metrics import AlertMetrics
from alerts.notify import (
    SIGNATURE_HEADER,
    AlertmanagerChannel,
    Channel,
    Notifier,
    NotifyError,
    SlackChannel,
    WebhookChannel,
    sign,
)
from finsent.schemas import Alert, Evidence, SeriesRef

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def alert(state: str = "firing") -> Alert:
    return Alert.model_validate(
        {
            "incident_id": "live.r.ticker.WMT.1",
            "rule": "r",
            "series": SeriesRef(kind="ticker", value="WMT"),
            "state": state,
            "severity": "warning",
            "window_start": NOW - timedelta(minutes=15),
            "window_end": NOW,
            "observed": 0.6,
            "baseline": 0.2,
            "z_score": 5.5,
            "doc_count": 40,
            "evidence": [
                Evidence(
                    document_id="d1",
                    published_at=NOW,
                    snippet="s",
                    url="https://x.test/1",
                    score=-0.9,
                )
            ],
            "evaluated_at": NOW,
        }
    )


def recording_client(status: int = 200) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_webhook_signs_the_exact_body() -> None:
    client, seen = recording_client()
    WebhookChannel("https://hook.test/x", b"k", client).send(alert())
    body = seen[0].content
    assert (
        seen[0].headers[SIGNATURE_HEADER]
        == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    )
    assert Alert.model_validate_json(body) == alert()
    assert sign(b"k", b"x") != sign(b"other", b"x")


def test_alertmanager_resolve_ends_now_with_the_same_labels() -> None:
    client, seen = recording_client()
    channel = AlertmanagerChannel("http://am.test:9093/", client, timedelta(hours=24), lambda: NOW)
    channel.send(alert("firing"))
    channel.send(alert("resolved"))
    fired, resolved = (json.loads(r.content)[0] for r in seen)
    assert str(seen[0].url) == "http://am.test:9093/api/v2/alerts"
    assert fired["labels"] == resolved["labels"]
    assert (
        fired["endsAt"] == "2026-03-03T10:00:00Z" and resolved["endsAt"] == "2026-03-02T10:00:00Z"
    )
    assert fired["annotations"]["evidence"] == "https://x.test/1"


def test_slack_message_names_the_series_and_links_evidence() -> None:
    client, seen = recording_client()
    SlackChannel("https://hooks.slack.test/T/B/X", client).send(alert())
    text = json.loads(seen[0].content)["text"]
    assert "ticker=WMT" in text and "<https://x.test/1|d1>" in text and "FIRING" in text


class Flaky:
    def __init__(self, name: str, failures: int) -> None:
        self.name, self.failures, self.calls = name, failures, 0

    def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NotifyError("http_503")


def test_retries_with_bounded_backoff_and_counts_failures() -> None:
    sleeps: list[float] = []
    metrics = AlertMetrics()
    flaky, dead, fine = Flaky("flaky", 2), Flaky("dead", 99), Flaky("fine", 0)
    channels: list[Channel] = [dead, flaky, fine]
    notifier = Notifier(channels, metrics, attempts=3, backoff_s=0.5, sleep=sleeps.append)
    assert notifier.deliver(alert(), ["dead", "flaky", "fine", "unknown"]) == {"flaky", "fine"}
    assert (dead.calls, flaky.calls, fine.calls) == (3, 3, 1)
    assert sorted(sleeps) == [0.5, 0.5, 1.0, 1.0]
    failures = metrics.registry.get_sample_value(
        "finsent_alerts_notification_failures_total", {"channel": "dead", "reason": "http_503"}
    )
    assert failures == 3


def test_http_errors_become_notify_errors() -> None:
    client, _ = recording_client(status=500)
    try:
        WebhookChannel("https://hook.test/x", None, client).send(alert())
    except NotifyError as exc:
        assert exc.reason == "http_500"
    else:
        raise AssertionError("a 500 must raise NotifyError")
