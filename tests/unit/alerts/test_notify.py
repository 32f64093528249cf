"""The notifier retries with bounded backoff, honours Retry-After, and stops without a lease."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from alerts.channels.base import Channel, NotifyError
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from finsent.schemas import Alert
from tests.sample_alerts import sample_alert

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def alert() -> Alert:
    return sample_alert(at=NOW)


class Flaky:
    """Fails `failures` times (optionally with a Retry-After), then succeeds."""

    def __init__(self, name: str, failures: int, retry_after_s: float | None = None) -> None:
        self.name, self.failures, self.retry_after_s, self.calls = name, failures, retry_after_s, 0

    def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NotifyError("http_429" if self.retry_after_s else "http_503", self.retry_after_s)


def test_a_channel_no_longer_configured_fails_with_one_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier([Flaky("fine", 0)])
    with caplog.at_level(logging.ERROR, logger="alerts.notify"):
        assert [notifier.send("gone", alert()) for _ in range(3)] == ["failed"] * 3
    assert len(caplog.records) == 1 and caplog.records[0].channel == "gone"  # type: ignore[attr-defined]


def test_retries_with_bounded_backoff_and_counts_failures() -> None:
    sleeps: list[float] = []
    metrics = AlertMetrics()
    flaky, dead, fine = Flaky("flaky", 2), Flaky("dead", 99), Flaky("fine", 0)
    channels: list[Channel] = [dead, flaky, fine]
    notifier = Notifier(channels, metrics, attempts=3, backoff_s=0.5, sleep=sleeps.append)
    outcomes = [notifier.send(n, alert()) for n in ("dead", "flaky", "fine", "unknown")]
    assert outcomes == ["failed", "sent", "sent", "failed"]
    assert (dead.calls, flaky.calls, fine.calls) == (3, 3, 1)
    assert sleeps == [0.5, 1.0, 0.5, 1.0]
    failures = metrics.registry.get_sample_value(
        "finsent_alerts_notification_failures_total", {"channel": "dead", "reason": "http_503"}
    )
    assert failures == 3
    assert (
        metrics.registry.get_sample_value(
            "finsent_alerts_notifications_total", {"channel": "flaky"}
        )
        == 1
    )


def test_a_short_retry_after_is_waited_out() -> None:
    sleeps: list[float] = []
    slack = Flaky("slack", 1, retry_after_s=3)
    notifier = Notifier(
        [slack], attempts=3, backoff_s=0.5, max_retry_after_s=5, sleep=sleeps.append
    )
    assert notifier.send("slack", alert()) == "sent"
    assert sleeps == [3]  # the receiver's wait, not our 0.5 s backoff


def test_a_long_retry_after_defers_the_channel_until_then() -> None:
    clock = {"t": 1000.0}
    sleeps: list[float] = []
    slack = Flaky("slack", 1, retry_after_s=120)
    notifier = Notifier(
        [slack],
        attempts=3,
        max_retry_after_s=5,
        sleep=sleeps.append,
        monotonic=lambda: clock["t"],
    )
    assert notifier.send("slack", alert()) == "deferred"
    assert (slack.calls, sleeps) == (1, [])  # no hammering, no blocking the pass
    clock["t"] += 60
    assert notifier.send("slack", alert()) == "deferred"
    assert slack.calls == 1  # still inside Retry-After: not even tried
    clock["t"] += 61
    assert notifier.send("slack", alert()) == "sent"
    assert slack.calls == 2


def test_send_stops_when_the_lease_is_lost() -> None:
    dead = Flaky("dead", 99)
    allowed = iter([True, False])
    notifier = Notifier([dead], attempts=3, backoff_s=0, sleep=lambda _: None)
    assert notifier.send("dead", alert(), lambda: next(allowed)) == "aborted"
    assert dead.calls == 1
