"""The soak's receivers understand what finsent's own channels send.

Each real channel (alerts/channels/) posts through a mock transport; the captured request
goes through the receiver's parser, which must recover the page's state, series and, where
the channel carries it, the incident. If a channel's format changes, this says so here
rather than as a puzzling soak failure. Signing conventions are judged by the soak.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from alerts.channels.alertmanager import AlertmanagerChannel
from alerts.channels.slack import SlackChannel
from alerts.channels.webhook import WebhookChannel
from devstack.soak.receivers import (
    Received,
    alertmanager_deliveries,
    new_webhook_secret,
    slack_deliveries,
    webhook_deliveries,
)
from finsent.clock import Clock
from finsent.schemas import Alert, SeriesRef

NOW = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


def _alert(state: str) -> Alert:
    return Alert(
        incident_id="live.negative-spike.ticker.WMT.1",
        rule="negative-spike",
        series=SeriesRef(kind="ticker", value="WMT"),
        state=state,
        severity="warning",
        window_start=NOW - timedelta(minutes=15),
        window_end=NOW,
        observed=0.4,
        baseline=0.1,
        z_score=5.0,
        doc_count=30,
        evaluated_at=NOW,
    )


def _capture(channel: str, at: datetime) -> tuple[httpx.Client, list[Received]]:
    seen: list[Received] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(
            Received(
                channel=channel,
                real_s=at.timestamp(),
                at=at,
                status=200,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=request.content,
            )
        )
        return httpx.Response(200, json={})

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


def test_webhook_pages_are_recognised() -> None:
    secret = new_webhook_secret()
    client, seen = _capture("webhook", NOW)
    channel = WebhookChannel("http://receiver/finsent", secret, client)
    channel.send(_alert("firing"))
    channel.send(_alert("resolved"))
    deliveries, _ = webhook_deliveries(seen, secret, Clock())
    assert [(d.state, d.series, d.incident) for d in deliveries] == [
        ("firing", "ticker=WMT", "live.negative-spike.ticker.WMT.1"),
        ("resolved", "ticker=WMT", "live.negative-spike.ticker.WMT.1"),
    ]


def test_slack_pages_are_recognised() -> None:
    client, seen = _capture("slack", NOW)
    channel = SlackChannel("http://receiver/services/T/B/x", client)
    channel.send(_alert("firing"))
    channel.send(_alert("resolved"))
    deliveries, _ = slack_deliveries(seen)
    assert [(d.state, d.series) for d in deliveries] == [
        ("firing", "ticker=WMT"),
        ("resolved", "ticker=WMT"),
    ]


def test_alertmanager_pages_are_recognised() -> None:
    client, seen = _capture("alertmanager", NOW)
    channel = AlertmanagerChannel("http://receiver", client, lambda: NOW)
    channel.send(_alert("firing"))
    client_later, seen_later = _capture("alertmanager", NOW + timedelta(minutes=1))
    AlertmanagerChannel("http://receiver", client_later, lambda: NOW + timedelta(minutes=1)).send(
        _alert("resolved")
    )
    deliveries, _ = alertmanager_deliveries([*seen, *seen_later])
    assert [(d.state, d.series) for d in deliveries] == [
        ("firing", "ticker=WMT"),
        ("resolved", "ticker=WMT"),
    ]
