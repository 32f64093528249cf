"""Delivery never drops or doubles a page: dead channels, restarts, two replicas, re-sends.

Redis is fakeredis (no server needed for the outbox logic); time is simulated except in
the lease-renewal test, which needs Redis' own expiry.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import fakeredis
import httpx
import pytest

from alerts.channels.alertmanager import AlertmanagerChannel
from alerts.channels.base import Channel, NotifyError
from alerts.delivery import Delivery, DeliveryOptions
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.state import AlertStateStore, OutboxEntry, Transition
from finsent import redis_keys
from finsent.schemas import Alert, AlertState
from tests.sample_alerts import T0, sample_alert

NS = "live"


def alert(ticker: str = "WMT", state: AlertState = "firing", notify: bool = True) -> Alert:
    return sample_alert(ticker, state, namespace=NS, notify=notify)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    """A channel that records what it got; down while `down()` says so."""

    def __init__(self, name: str, down: Callable[[], bool] = lambda: False) -> None:
        self.name, self.down = name, down
        self.got: list[Alert] = []

    def send(self, alert: Alert) -> None:
        if self.down():
            raise NotifyError("connection")
        self.got.append(alert)


class Replica:
    """One `alerts run` process: its own state store, notifier and delivery, shared Redis."""

    def __init__(
        self,
        r: fakeredis.FakeRedis,
        channels: Sequence[Channel],
        clock: Callable[[], datetime],
        options: DeliveryOptions | None = None,
    ) -> None:
        self.metrics = AlertMetrics()
        self.state = AlertStateStore(r, clock)
        notifier = Notifier(channels, self.metrics, attempts=1, backoff_s=0, sleep=lambda _: None)
        self.delivery = Delivery(
            self.state.outbox_store,
            notifier,
            self.state.open_incidents,
            options or DeliveryOptions(),
            clock,
            self.metrics,
        )

    def commit(self, change: Alert, pending: Sequence[str]) -> None:
        """Commit a decision the way the engine does (one MULTI with the outbox entry)."""

        def evaluate(cursor: int | None, _: object) -> Transition:
            entry = OutboxEntry(alert=change, pending=tuple(pending))
            return Transition(cursor_ms=(cursor or 0) + 1, changes=[entry])

        assert self.state.transact(NS, "r", evaluate) is not None

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_channel_dead_for_ten_minutes_gets_the_page_once_and_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    slack = Receiver("slack", down=lambda: clock.now < T0 + timedelta(minutes=10))
    webhook = Receiver("webhook")
    replica = Replica(fakeredis.FakeRedis(), [slack, webhook], clock)
    replica.commit(alert(), ["slack", "webhook"])
    overdue_seen: list[float] = []
    with caplog.at_level(logging.INFO, logger="alerts.delivery"):
        # The service loop: one pass every 10 s for 15 minutes.
        while clock.now <= T0 + timedelta(minutes=15):
            replica.delivery.deliver(NS)
            overdue_seen.append(
                replica.sample("finsent_alerts_pages_overdue", namespace=NS, channel="slack")
            )
            clock.now += timedelta(seconds=10)
    assert [a.incident_id for a in webhook.got] == [alert().incident_id]
    assert [a.incident_id for a in slack.got] == [alert().incident_id]  # never dropped, once
    assert replica.state.outbox(NS) == []
    # Overdue from 5 minutes until the channel came back, then clear.
    assert overdue_seen[29] == 0 and overdue_seen[30] == 1 and overdue_seen[59] == 1
    assert overdue_seen[60:] == [0] * len(overdue_seen[60:])
    assert replica.sample("finsent_alerts_overdue_pages_total", channel="slack") == 1
    assert replica.sample("finsent_alerts_overdue_pages_total", channel="webhook") == 0
    assert replica.sample("finsent_alerts_pages_dropped_total", channel="slack") == 0
    assert replica.sample("finsent_alerts_page_delay_seconds_sum", channel="slack") == 600
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages.count(("ERROR", "page overdue")) == 1  # logged once, not every pass
    assert ("WARNING", "overdue page delivered") in messages


def test_a_page_is_dropped_only_after_the_retention_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    replica = Replica(
        fakeredis.FakeRedis(), [Receiver("slack", down=lambda: True)], clock, DeliveryOptions()
    )
    replica.commit(alert(), ["slack"])
    clock.now = T0 + timedelta(hours=23, minutes=59)
    replica.delivery.deliver(NS)
    assert len(replica.state.outbox(NS)) == 1
    clock.now = T0 + timedelta(hours=24, seconds=1)
    with caplog.at_level(logging.ERROR, logger="alerts.delivery"):
        assert replica.delivery.deliver(NS) == 0
    assert replica.state.outbox(NS) == []
    assert replica.sample("finsent_alerts_pages_dropped_total", channel="slack") == 1
    assert "page dropped after retention" in caplog.messages


class Crash(BaseException):
    """The process dies here (BaseException: nothing in the pass may swallow it)."""


def test_a_restart_between_the_2xx_and_the_outbox_update_does_not_resend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = fakeredis.FakeRedis()
    clock = Clock()
    slack, webhook = Receiver("slack"), Receiver("webhook", down=lambda: True)
    first = Replica(r, [slack, webhook], clock)
    first.commit(alert("WMT"), ["slack", "webhook"])
    first.commit(alert("XOM"), ["slack"])

    def crash(*_: object) -> None:
        raise Crash

    # Both channels answered (slack 2xx twice, webhook down); the process dies before it
    # updates the outbox.
    monkeypatch.setattr(first.state.outbox_store, "remove", crash)
    with pytest.raises(Crash):
        first.delivery.deliver(NS)
    assert [a.series.value for a in slack.got] == ["WMT", "XOM"]
    assert len(first.state.outbox(NS)) == 2  # still there: the update never happened

    # The restarted service (new process, same Redis), with the webhook back.
    slack2, webhook2 = Receiver("slack"), Receiver("webhook")
    restarted = Replica(r, [slack2, webhook2], clock)
    assert restarted.delivery.deliver(NS) == 0
    assert slack2.got == []  # its markers say slack already has both pages
    assert [a.series.value for a in webhook2.got] == ["WMT"]
    assert restarted.state.outbox(NS) == []
    restarted.delivery.deliver(NS)
    assert slack2.got == [] and len(webhook2.got) == 1


class Slow:
    """A channel that takes `delay_s` per send (a slow receiver) and counts every send."""

    def __init__(self, delay_s: float, hook: Callable[[Alert], None] = lambda _: None) -> None:
        self.name, self.delay_s, self.hook = "slack", delay_s, hook
        self.got: list[str] = []
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        self.hook(alert)
        time.sleep(self.delay_s)
        with self._lock:
            self.got.append(alert.series.value)


def test_a_slow_pass_keeps_its_lease_so_a_second_replica_never_doubles() -> None:
    r = fakeredis.FakeRedis()
    # Eight sends of 0.5 s: the pass outlives the 3 s lease four seconds over, so without
    # renewal the second replica would take over mid-pass and send the same pages.
    sending = threading.Event()
    channel = Slow(0.5, hook=lambda _: sending.set())
    options = DeliveryOptions(lease_s=3)
    a = Replica(r, [channel], lambda: datetime.now(UTC), options)
    b = Replica(r, [channel], lambda: datetime.now(UTC), options)
    tickers = [f"T{i}" for i in range(8)]
    for ticker in tickers:
        a.commit(alert(ticker), ["slack"])
    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(a.delivery.deliver(NS)))
    first.start()
    assert sending.wait(30)
    tries: list[tuple[int, int]] = []  # (what b's pass returned, pages sent by then)
    while first.is_alive():
        tries.append((b.delivery.deliver(NS), len(channel.got)))
        time.sleep(0.05)
    first.join()
    assert results == [0] and tries and tries[0][0] == -1  # the lease kept b out mid-pass
    # b may get the lease in the moment between a's release and its thread's exit (a
    # loaded machine widens it): then every page is already sent and b finds none.
    assert all(got == -1 or (got == 0 and sent == 8) for got, sent in tries), tries
    assert sorted(channel.got) == tickers  # each page exactly once
    assert b.delivery.deliver(NS) == 0 and len(channel.got) == 8


def test_a_replica_that_lost_its_lease_stops_before_the_next_send() -> None:
    r = fakeredis.FakeRedis()
    lock = redis_keys.alert_delivery_lock(NS)

    def steal(sent: Alert) -> None:
        if sent.series.value == "T0":  # as if the lease had expired and B took it
            r.set(lock, b"replica-b")

    channel = Slow(0, hook=steal)
    a = Replica(r, [channel], lambda: T0)
    for ticker in ("T0", "T1", "T2"):
        a.commit(alert(ticker), ["slack"])
    a.delivery.deliver(NS)
    assert channel.got == ["T0"]  # the page in flight completes; nothing after it
    assert r.get(lock) == b"replica-b"  # and A did not release B's lease
    r.delete(lock)  # B's pass ends
    b = Replica(r, [channel], lambda: T0)
    assert b.delivery.deliver(NS) == 0
    assert channel.got == ["T0", "T1", "T2"]


def test_alertmanager_gets_active_alerts_again_until_resolved() -> None:
    clock = Clock()
    seen: list[tuple[datetime, dict[str, object]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((clock.now, json.loads(request.content)[0]))
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    am = AlertmanagerChannel("http://am.test", client, clock, resend_s=60)
    webhook = Receiver("webhook")
    replica = Replica(fakeredis.FakeRedis(), [am, webhook], clock)
    replica.commit(alert("WMT"), ["alertmanager", "webhook"])
    replica.commit(alert("XOM", notify=False), [])  # logged, not paged: never re-sent
    for _ in range(30):  # five minutes of passes every 10 s
        replica.delivery.deliver(NS)
        clock.now += timedelta(seconds=10)
    replica.commit(alert("WMT", state="resolved"), ["alertmanager", "webhook"])
    for _ in range(30):
        replica.delivery.deliver(NS)
        clock.now += timedelta(seconds=10)

    sends = [(at - T0).total_seconds() for at, _ in seen]
    assert sends == [0, 60, 120, 180, 240, 300]  # fired, re-sent every 60 s, resolved
    for at, item in seen[:-1]:
        assert item["endsAt"] == (at + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
        assert item["labels"] == seen[0][1]["labels"]
    resolved_at, resolved = seen[-1]
    assert resolved["endsAt"] == resolved_at.isoformat().replace("+00:00", "Z")
    assert {item["labels"]["series"] for _, item in seen} == {"WMT"}  # type: ignore[index]
    assert [a.state for a in webhook.got] == ["firing", "resolved"]  # webhook: once each
    assert (
        replica.sample("finsent_alerts_resends_total", channel="alertmanager", outcome="sent") == 4
    )
