"""The engine on the RedisTimeSeries backend (fakeredis): one page per incident, replays quiet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis

from alerts.detector import DetectorParams
from alerts.notify import Channel, Notifier, NotifyError
from alerts.rules import Rule
from alerts.service import AlertEngine
from alerts.settings import AlertsSettings
from finsent.labels import SentimentLabel
from finsent.schemas import Alert, ScoredDocument
from finsent.store import SeriesStore, StoreOptions, TimeSeriesStore
from finsent.store.testing import scored_doc

T0 = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
RULE = Rule(
    name="neg-1h",
    window_s=3600,
    kinds=("ticker", "all"),
    grace_s=0,
    params=DetectorParams(min_count=20, min_history_windows=5, min_baseline_docs=50),
)


class Recorder:
    def __init__(self, name: str = "pager", fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.got: list[Alert] = []

    def send(self, alert: Alert) -> None:
        if self.fail:
            raise NotifyError("down")
        self.got.append(alert)


def hour(ns: str, index: int, count: int, negatives: int) -> list[ScoredDocument]:
    docs = []
    for i in range(count):
        label: SentimentLabel = "negative" if i < negatives else "positive"
        at = T0 + index * H + timedelta(seconds=i * 61)
        docs.append(scored_doc(f"{index}-{i}", at, ns, label, tickers=("AAPL",)))
    return docs


def engine(
    store: SeriesStore, channels: list[Channel], page: tuple[str, ...] = ("ns",)
) -> AlertEngine:
    settings = AlertsSettings(rules=(RULE,), page_namespaces=page, max_event_lag_s=86_400)
    return AlertEngine(store, settings, Notifier(channels, attempts=1), clock=lambda: T0 + 30 * H)


def test_incident_pages_once_across_restart_on_timeseries_backend() -> None:
    store = TimeSeriesStore(fakeredis.FakeRedis(), StoreOptions())
    pager = Recorder()
    shape = [(50, 10)] * 8 + [(50, 40), (50, 42), (50, 10), (50, 10)]
    first = engine(store, [pager])
    for i, (count, neg) in enumerate(shape[:9]):
        store.write_batch(hour("ns", i, count, neg))
        first.evaluate("ns")
    # One quiet document past the hour closes the spike window.
    store.write_batch(
        [scored_doc("tick", T0 + 9 * H + timedelta(minutes=1), "ns", tickers=("ZZZ",))]
    )
    assert [(a.state, a.series.kind) for a in first.evaluate("ns")] == [
        ("firing", "all"),
        ("firing", "ticker"),
    ]
    second = engine(store, [pager])  # restart mid-incident
    for i, (count, neg) in enumerate(shape[9:], start=9):
        store.write_batch(hour("ns", i, count, neg))
        second.evaluate("ns")
    store.write_batch([scored_doc("end", T0 + 13 * H, "ns", tickers=("ZZZ",))])
    second.evaluate("ns")
    states = [(a.state, a.series.value) for a in pager.got]
    assert states == [
        ("firing", "all"),
        ("firing", "AAPL"),
        ("resolved", "all"),
        ("resolved", "AAPL"),
    ]
    assert len({a.incident_id for a in pager.got}) == 2


def test_replay_namespace_is_logged_not_paged_and_dead_channels_give_up() -> None:
    store = TimeSeriesStore(fakeredis.FakeRedis(), StoreOptions())
    pager = Recorder()
    for i, (count, neg) in enumerate([(50, 10)] * 8 + [(50, 45), (5, 0)]):
        store.write_batch(hour("replay", i, count, neg))
    replay = engine(store, [pager], page=("live",))
    fired = replay.evaluate("replay")
    assert fired and all(not a.notify for a in fired) and pager.got == []
    assert replay.state.outbox("replay") == []  # nothing to deliver for a replay

    dead = Recorder("dead", fail=True)
    live = AlertEngine(
        store,
        AlertsSettings(
            rules=(RULE,), page_namespaces=("replay2",), max_event_lag_s=86_400, notify_max_rounds=2
        ),
        Notifier([dead], attempts=1, backoff_s=0),
        clock=lambda: T0 + 10 * H,
    )
    for i, (count, neg) in enumerate([(50, 10)] * 8 + [(50, 45), (5, 0)]):
        store.write_batch(hour("replay2", i, count, neg))
    assert live.evaluate("replay2")
    assert len(live.state.outbox("replay2")) == 2  # first round failed, kept
    live.evaluate("replay2")
    assert live.state.outbox("replay2") == []  # dropped after notify_max_rounds


def test_until_holds_windows_open_for_slow_partitions() -> None:
    store = TimeSeriesStore(fakeredis.FakeRedis(), StoreOptions())
    for i, (count, neg) in enumerate([(50, 10)] * 8 + [(50, 45)]):
        store.write_batch(hour("p", i, count, neg))
    # A fast partition is already two hours ahead.
    store.write_batch([scored_doc("fast", T0 + 11 * H, "p", tickers=("ZZZ",))])
    slow = engine(store, [], page=())
    assert slow.evaluate("p", until=T0 + 8 * H + timedelta(minutes=30)) == []
    fired = slow.evaluate("p", until=T0 + 9 * H)
    assert [(a.state, a.series.value) for a in fired] == [("firing", "all"), ("firing", "AAPL")]


def test_one_call_covers_every_closed_window_even_past_the_per_pass_bound() -> None:
    store = TimeSeriesStore(fakeredis.FakeRedis(), StoreOptions())
    for i, (count, neg) in enumerate([(50, 10)] * 8 + [(50, 45), (50, 10)]):
        store.write_batch(hour("b", i, count, neg))
    store.write_batch([scored_doc("end", T0 + 11 * H, "b", tickers=("ZZZ",))])
    settings = AlertsSettings(rules=(RULE,), page_namespaces=(), max_windows_per_pass=3)
    fired = AlertEngine(store, settings, clock=lambda: T0).evaluate("b")
    assert [(a.state, a.series.value) for a in fired] == [
        ("firing", "all"),
        ("firing", "AAPL"),
        ("resolved", "all"),
        ("resolved", "AAPL"),
    ]
