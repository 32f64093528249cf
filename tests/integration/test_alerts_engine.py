"""The alert engine on the real Redis (and, for the alert topic, the real Kafka broker).

A local HTTP receiver on 127.0.0.1 records every notification; the tests count pages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from kafka import TopicPartition
from standardwebhooks.webhooks import Webhook

from alerts.channels.alertmanager import AlertmanagerChannel
from alerts.channels.base import Channel
from alerts.channels.publish import KafkaChannel
from alerts.channels.webhook import WebhookChannel, new_secret
from alerts.detector import DetectorParams
from alerts.engine import AlertEngine
from alerts.notify import Notifier
from alerts.rules import Rule
from alerts.settings import AlertsSettings
from finsent.kafka_io import ensure_topics, make_consumer, make_producer
from finsent.labels import SentimentLabel
from finsent.schemas import Alert
from finsent.settings import FinsentSettings
from finsent.store import SeriesStore, open_store
from finsent.store.testing import scored_doc
from finsent.topics import ALERTS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
W = timedelta(minutes=15)
SECRET = new_secret()
RULE = Rule(
    name="neg-15m",
    window_s=900,
    step_s=300,
    lateness_s=60,
    kinds=("ticker",),
    params=DetectorParams(min_count=20, min_negative=10, resolve_s=600, cooldown_s=1800),
)
LATER = timedelta(days=1)
"""A wall clock a day past the data: every window has happened (and is too old to page)."""


@dataclass
class Receiver:
    """What the local HTTP server got: (path, headers, body)."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(b) for p, _, b in self.requests if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            box.requests.append((self.path, dict(self.headers.items()), body))
            self.send_response(box.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(settings: FinsentSettings) -> Iterator[SeriesStore]:
    made = open_store(settings, "core")
    yield made
    made.close()


@pytest.fixture
def ns(store: SeriesStore, namespace: str) -> Iterator[str]:
    yield namespace
    store.drop_namespace(namespace)


def window_docs(ns: str, index: int, count: int, negatives: int, ticker: str = "WMT") -> list[Any]:
    start = T0 + index * W
    docs = []
    for i in range(count):
        sentiment: SentimentLabel = "negative" if i < negatives else "neutral"
        at = start + timedelta(seconds=(i * 853) % 900)
        docs.append(scored_doc(f"{ticker}-{index}-{i}", at, ns, sentiment, tickers=(ticker,)))
    return docs


BASELINE = [(40, 8)] * 10  # 20% negative
SPIKE = [(40, 30), (40, 28)]
CALM = [(40, 8), (40, 8), (40, 8)]


def write_windows(store: SeriesStore, ns: str, shape: list[tuple[int, int]], first: int) -> int:
    for offset, (count, negatives) in enumerate(shape):
        store.write_batch(window_docs(ns, first + offset, count, negatives))
    return first + len(shape)


def closed_at(index: int) -> datetime:
    """When every step ending by the end of window `index - 1` is decided: its lateness on."""
    return T0 + index * W + timedelta(seconds=RULE.lateness_s + 1)


def close_through(store: SeriesStore, ns: str, index: int) -> None:
    """Advance the watermark past window `index - 1` plus lateness with one quiet document."""
    store.write_batch([scored_doc(f"tick-{index}", closed_at(index), ns, tickers=("ZZZ",))])


def make_engine(
    store: SeriesStore, ns: str, channels: list[Channel], clock_at: Callable[[], datetime]
) -> AlertEngine:
    settings = AlertsSettings(rules=(RULE,), page_namespaces=(ns,), max_event_lag_s=3600)
    notifier = Notifier(channels, attempts=2, backoff_s=0.01)
    return AlertEngine(store, settings, notifier, clock=clock_at)


def webhook(receiver: Receiver, client: httpx.Client) -> WebhookChannel:
    return WebhookChannel(receiver.url + "/hook", SECRET, client, lambda: datetime.now(UTC))


def test_one_page_per_incident_across_a_restart(
    store: SeriesStore, ns: str, receiver: Receiver
) -> None:
    now = {"t": T0}
    with httpx.Client(timeout=2) as client:
        channels: list[Channel] = [webhook(receiver, client)]
        engine = make_engine(store, ns, channels, lambda: now["t"])
        nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
        close_through(store, ns, nxt)
        now["t"] = closed_at(nxt)
        fired = engine.evaluate(ns)
        assert [(a.state, a.series.value) for a in fired] == [("firing", "WMT")]
        assert engine.evaluate(ns) == []  # idempotent

        # The service restarts in the middle of the incident: a new engine, same Redis.
        restarted = make_engine(store, ns, [webhook(receiver, client)], lambda: now["t"])
        assert [a.incident_id for a in restarted.open_incidents(ns)] == [fired[0].incident_id]
        nxt = write_windows(store, ns, SPIKE[1:], nxt)
        close_through(store, ns, nxt)
        assert restarted.evaluate(ns) == []
        nxt = write_windows(store, ns, CALM, nxt)
        close_through(store, ns, nxt)
        now["t"] = closed_at(nxt)
        resolved = restarted.evaluate(ns)
        assert [(a.state, a.incident_id) for a in resolved] == [("resolved", fired[0].incident_id)]
        assert restarted.evaluate(ns) == []

    pages = receiver.bodies("/hook")
    assert [(p["state"], p["incident_id"]) for p in pages] == [
        ("firing", fired[0].incident_id),
        ("resolved", fired[0].incident_id),
    ]
    first = Alert.model_validate(pages[0])
    assert first.doc_count >= RULE.params.min_count and first.observed > 0.5
    assert first.baseline == pytest.approx(0.2, abs=0.02) and first.z_score >= RULE.params.z_fire
    # Decided inside the spike's 15 minutes, not once they were over.
    assert T0 + 10 * W < first.window_end < T0 + 11 * W
    assert first.decided_at == first.window_end + timedelta(seconds=RULE.lateness_s)
    assert len(first.evidence) == 5 and all(e.score < 0 for e in first.evidence)
    _path, headers, body = receiver.requests[0]
    assert Webhook(SECRET).verify(body, headers)["incident_id"] == fired[0].incident_id
    log = restarted.state.log(ns)
    assert [(a.state, a.notify) for a in log] == [("firing", True), ("resolved", True)]
    assert restarted.open_incidents(ns) == []


def test_committed_but_undelivered_page_is_sent_once_after_restart(
    store: SeriesStore, ns: str, receiver: Receiver
) -> None:
    clock = lambda: T0 + 12 * W  # noqa: E731
    nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
    close_through(store, ns, nxt)
    with httpx.Client(timeout=2) as client:
        receiver.status = 503  # on-call receiver down when the incident is decided
        down = make_engine(store, ns, [webhook(receiver, client)], clock)
        assert [a.state for a in down.evaluate(ns)] == ["firing"]
        assert len(receiver.requests) == 2  # two attempts, both refused
        receiver.status = 200
        restarted = make_engine(store, ns, [webhook(receiver, client)], clock)
        assert restarted.evaluate(ns) == []
        assert restarted.evaluate(ns) == []
    statuses = [json.loads(b)["state"] for _, _, b in receiver.requests]
    # Two refused attempts before the restart, then exactly one delivery after it.
    assert statuses == ["firing", "firing", "firing"]
    assert restarted.state.outbox(ns) == []


def test_a_dead_channel_does_not_block_the_others(
    store: SeriesStore, ns: str, receiver: Receiver
) -> None:
    clock = lambda: T0 + 12 * W  # noqa: E731
    nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
    close_through(store, ns, nxt)
    with httpx.Client(timeout=0.5) as client:
        dead = WebhookChannel("http://127.0.0.1:9/nothing", None, client, clock)
        dead.name = "dead-webhook"
        am = AlertmanagerChannel(receiver.url, client, clock)
        engine = make_engine(store, ns, [dead, am], clock)
        assert [a.state for a in engine.evaluate(ns)] == ["firing"]
    sent = receiver.bodies("/api/v2/alerts")
    assert len(sent) == 1
    labels = sent[0][0]["labels"]
    assert labels["series"] == "WMT" and labels["namespace"] == ns
    assert (
        labels["alertname"] == "FinsentNegativeSentiment"
        and sent[0][0]["endsAt"] > sent[0][0]["startsAt"]
    )
    # The dead channel stays in the outbox for the next pass; the delivered one does not.
    entries = engine.state.outbox(ns)
    done = engine.state.outbox_store.delivered(ns, entries)
    assert [set(e.pending) - done[e.field] for e in entries] == [{"dead-webhook"}]


def test_replays_and_stale_windows_are_logged_but_never_paged(
    store: SeriesStore, ns: str, receiver: Receiver
) -> None:
    nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
    close_through(store, ns, nxt)
    with httpx.Client(timeout=2) as client:
        # Not a paging namespace (a replay).
        settings = AlertsSettings(rules=(RULE,), page_namespaces=("live",))
        replay = AlertEngine(
            store, settings, Notifier([webhook(receiver, client)]), clock=lambda: T0
        )
        assert [(a.state, a.notify) for a in replay.evaluate(ns)] == [("firing", False)]
    assert receiver.requests == []
    assert [a.notify for a in replay.state.log(ns)] == [False]


def test_stale_windows_in_a_paging_namespace_are_not_paged(
    store: SeriesStore, ns: str, receiver: Receiver
) -> None:
    nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
    close_through(store, ns, nxt)
    with httpx.Client(timeout=2) as client:
        # The wall clock is a day past the data: a backfill, not an incident to page.
        engine = make_engine(store, ns, [webhook(receiver, client)], lambda: T0 + timedelta(days=1))
        assert [(a.state, a.notify) for a in engine.evaluate(ns)] == [("firing", False)]
    assert receiver.requests == []


def test_replayed_in_one_go_equals_evaluated_as_it_arrived(
    store: SeriesStore, namespace: str
) -> None:
    shape = BASELINE + SPIKE + CALM + BASELINE[:4] + SPIKE[:1] + CALM
    live_ns, replay_ns = namespace + "a", namespace + "b"
    try:
        incremental = make_engine(store, live_ns, [], lambda: T0 + LATER)
        seen: list[Alert] = []
        for i, (count, negatives) in enumerate(shape):
            store.write_batch(window_docs(live_ns, i, count, negatives))
            seen += incremental.evaluate(live_ns)
        close_through(store, live_ns, len(shape))
        seen += incremental.evaluate(live_ns)

        write_windows(store, replay_ns, shape, 0)
        close_through(store, replay_ns, len(shape))
        at_once = make_engine(store, replay_ns, [], lambda: T0 + LATER).evaluate(replay_ns)

        def essence(alerts: list[Alert]) -> list[tuple[Any, ...]]:
            return [
                (a.state, a.series, a.window_start, a.decided_at, a.observed, round(a.z_score, 9))
                for a in alerts
            ]

        assert [a.state for a in seen] == ["firing", "resolved", "firing", "resolved"]
        assert essence(seen) == essence(at_once)
    finally:
        store.drop_namespace(live_ns)
        store.drop_namespace(replay_ns)


def test_state_changes_are_published_to_the_alert_topic(
    store: SeriesStore, ns: str, settings: FinsentSettings
) -> None:
    ensure_topics(settings.kafka, [ALERTS.name])
    consumer = make_consumer(settings.kafka, group_id=None)
    producer = make_producer(settings.kafka)
    try:
        partitions = [
            TopicPartition(ALERTS.name, p) for p in consumer.partitions_for_topic(ALERTS.name)
        ]
        consumer.assign(partitions)
        consumer.seek_to_end()
        for tp in partitions:
            consumer.position(tp)
        nxt = write_windows(store, ns, BASELINE + SPIKE + CALM, 0)
        close_through(store, ns, nxt)
        engine = make_engine(store, ns, [KafkaChannel(producer, 10)], lambda: T0 + LATER)
        changes = engine.evaluate(ns)
        assert [a.state for a in changes] == ["firing", "resolved"]
        got: list[Alert] = []
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while len(got) < 2 and datetime.now(UTC) < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got += [ALERTS.decode(r.value) for r in records]
        mine = [a for a in got if a.namespace == ns]
        assert [(a.state, a.incident_id) for a in mine] == [
            (a.state, a.incident_id) for a in changes
        ]
    finally:
        consumer.close()
        producer.close(timeout=5)


def test_unique_namespaces_do_not_share_incidents(store: SeriesStore, ns: str) -> None:
    other = ns + "x"
    try:
        for name in (ns, other):
            nxt = write_windows(store, name, BASELINE + SPIKE[:1], 0)
            close_through(store, name, nxt)
        a = make_engine(store, ns, [], lambda: T0 + LATER).evaluate(ns)
        b = make_engine(store, other, [], lambda: T0 + LATER).evaluate(other)
        assert len(a) == len(b) == 1 and a[0].incident_id != b[0].incident_id
    finally:
        store.drop_namespace(other)


def test_engine_ids_are_stable(store: SeriesStore, ns: str) -> None:
    nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
    close_through(store, ns, nxt)
    fired = make_engine(store, ns, [], lambda: T0 + LATER).evaluate(ns)
    again = make_engine(store, ns, [], lambda: T0 + LATER).evaluate(ns)
    start_ms = int(fired[0].window_start.timestamp() * 1000)
    assert fired[0].incident_id == f"{ns}.neg-15m.ticker.WMT.{start_ms}" and again == []


def test_two_services_racing_page_once(store: SeriesStore, ns: str, receiver: Receiver) -> None:
    nxt = write_windows(store, ns, BASELINE + SPIKE[:1], 0)
    close_through(store, ns, nxt)
    results: list[list[Alert]] = []
    with httpx.Client(timeout=2) as client:
        engines = [
            make_engine(store, ns, [webhook(receiver, client)], lambda: T0 + 12 * W)
            for _ in range(4)
        ]
        threads = [
            threading.Thread(target=lambda e=e: results.append(e.evaluate(ns))) for e in engines
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        engines[0].evaluate(ns)  # whoever lost the delivery lease: deliver what is left
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert [p["state"] for p in receiver.bodies("/hook")] == ["firing"]
