"""The engine over a fakeredis store: live timing, late data, future documents, cold start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import pytest
from pydantic import ValidationError

from alerts.detector import DetectorParams
from alerts.engine import AlertEngine
from alerts.notify import Notifier, NotifyError
from alerts.rules import DEFAULT_RULES, Rule
from alerts.settings import AlertsSettings
from finsent.labels import SentimentLabel
from finsent.schemas import Alert, ScoredDocument
from finsent.store import CoreStore, SeriesStore, StoreOptions
from finsent.store.testing import scored_doc

T0 = datetime(2026, 3, 2, tzinfo=UTC)
MIN = timedelta(minutes=1)
POLL = timedelta(minutes=5)
RULE = Rule(
    name="neg-1h",
    window_s=3600,
    step_s=300,
    lateness_s=600,
    kinds=("ticker", "all"),
    params=DetectorParams(min_count=10, min_negative=5, resolve_s=900),
)
QUIET = DEFAULT_RULES[1]


class Recorder:
    def __init__(self, name: str = "pager", fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.got: list[Alert] = []

    def send(self, alert: Alert) -> None:
        if self.fail:
            raise NotifyError("down")
        self.got.append(alert)


class Clock:
    """The wall clock of a live service, moved by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def background(ns: str, hours: int, per_hour: int = 12, start: datetime = T0) -> list[Any]:
    """Ordinary chatter: 20% negative, spread over the hours, about MSFT and the market."""
    docs = []
    for h in range(hours):
        for i in range(per_hour):
            label: SentimentLabel = "negative" if i % 5 == 0 else "neutral"
            at = start + timedelta(hours=h, seconds=i * 3600 // per_hour)
            docs.append(scored_doc(f"bg-{h}-{i}", at, ns, label, tickers=("MSFT",)))
    return docs


def burst(ns: str, start: datetime, n: int = 12, ticker: str = "WMT") -> list[ScoredDocument]:
    """A burst: n posts over n minutes, 5 in 6 negative."""
    return [
        scored_doc(
            f"{ticker}-{start:%H%M}-{i}",
            start + i * MIN,
            ns,
            "neutral" if i % 6 == 5 else "negative",
            tickers=(ticker,),
        )
        for i in range(n)
    ]


def make_engine(
    store: SeriesStore,
    clock: Clock,
    channels: list[Any] | None = None,
    page: tuple[str, ...] = ("ns",),
    rules: tuple[Rule, ...] = (RULE,),
) -> AlertEngine:
    settings = AlertsSettings(rules=rules, page_namespaces=page, publish_kafka=False)
    return AlertEngine(store, settings, Notifier(channels or [], attempts=1), clock=clock)


def live(
    store: SeriesStore, engine: AlertEngine, clock: Clock, docs: list[ScoredDocument]
) -> list[Alert]:
    """Documents arrive as they are published; the service polls every 5 minutes (for half
    an hour after a document; then the clock jumps: nothing more to decide), and once more
    after the last document."""
    out: list[Alert] = []
    for doc in sorted(docs, key=lambda d: d.published_at):
        last = clock.at
        while clock.at + POLL <= doc.published_at and clock.at < last + 6 * POLL:
            clock.at += POLL
            out += engine.evaluate("ns")
        clock.at = max(clock.at, doc.published_at)
        store.write_batch([doc])
    return out + engine.evaluate("ns")


def essence(alerts: list[Alert]) -> list[tuple[Any, ...]]:
    return [
        (a.state, a.series, a.window_start, a.decided_at, a.doc_count, round(a.z_score, 9))
        for a in alerts
    ]


@pytest.fixture
def store() -> SeriesStore:
    return CoreStore(fakeredis.FakeRedis(), StoreOptions())


def test_a_rule_that_could_never_page_is_refused_at_start_up() -> None:
    # The old daily rule: decided an hour after its window ends, paged only within an hour.
    daily = Rule(name="daily", window_s=86_400, kinds=("ticker",), lateness_s=3600)
    with pytest.raises(ValidationError, match="'daily' could never page"):
        AlertsSettings(rules=(daily,), max_event_lag_s=3600)
    AlertsSettings(rules=(daily,), max_event_lag_s=3600 + 60 + 10)  # enough room: accepted
    assert AlertsSettings().rules == DEFAULT_RULES  # the defaults can all page


def test_a_rule_reading_trimmed_minutes_is_refused(store: SeriesStore) -> None:
    week = Rule(name="week", window_s=7 * 86_400, kinds=("ticker",))
    with pytest.raises(ValueError, match="minute_retention_s"):
        make_engine(store, Clock(T0), rules=(week,))


def test_live_burst_pages_within_minutes(store: SeriesStore) -> None:
    clock = Clock(T0)
    pager = Recorder()
    engine = make_engine(store, clock, [pager])
    start = T0 + timedelta(hours=30, minutes=2)
    got = live(store, engine, clock, background("ns", 40) + burst("ns", start))
    fired = [a for a in got if a.state == "firing" and a.series.kind == "ticker"]
    assert [a.series.value for a in fired] == ["WMT"]
    alert = fired[0]
    assert alert.notify and pager.got[0].incident_id == alert.incident_id
    assert alert.decided_at is not None
    # Paged at most a step plus the lateness after the posts that make the burst.
    assert alert.decided_at - start <= timedelta(minutes=25)
    assert alert.decided_at == alert.window_end + timedelta(seconds=RULE.lateness_s)
    assert alert.evaluated_at <= clock.at


def test_a_future_dated_document_neither_judges_nor_resolves_the_future(
    store: SeriesStore,
) -> None:
    clock = Clock(T0)
    engine = make_engine(store, clock)
    start = T0 + timedelta(hours=30)
    got = live(store, engine, clock, background("ns", 30) + burst("ns", start))
    clock.at = start + 25 * MIN
    got += engine.evaluate("ns")
    # A document dated a day ahead (the store accepts up to max_future_s of clock skew)
    # moves the store's watermark a day on; the engine still stops at the wall clock.
    store.write_batch([scored_doc("ahead", clock.at + timedelta(days=1), "ns", tickers=("X",))])
    got += engine.evaluate("ns")
    assert [a.state for a in got if a.series.kind == "ticker"] == ["firing"]
    open_now = [a.series.value for a in engine.open_incidents("ns") if a.series.kind == "ticker"]
    assert open_now == ["WMT"]  # not resolved on calm windows that have not happened
    cursor = engine.state.cursor_ms("ns", RULE.name)
    assert cursor is not None
    assert cursor <= int((clock.at - timedelta(seconds=RULE.lateness_s)).timestamp() * 1000)
    # As the clock catches up, the incident resolves on windows that have now happened.
    clock.at += timedelta(hours=2)
    resolved = [a for a in engine.evaluate("ns") if a.series.kind == "ticker"]
    assert [a.state for a in resolved] == ["resolved"]
    assert resolved[0].window_end <= clock.at


def test_late_batch_within_lateness_gives_the_same_decision_as_on_time_data() -> None:
    start = T0 + timedelta(hours=30, minutes=2)
    decisions = []
    for late in (False, True):
        store = CoreStore(fakeredis.FakeRedis(), StoreOptions())
        clock = Clock(T0)
        engine = make_engine(store, clock)
        docs = background("ns", 40)
        if late:
            # An RSS-like batch: the burst's posts reach the store only 8 minutes after the
            # last of them was published, while other documents moved the watermark on.
            held = burst("ns", start)
            got = live(store, engine, clock, [d for d in docs if d.published_at < start])
            arrival = held[-1].published_at + 8 * MIN
            got += live(
                store, engine, clock, [d for d in docs if start <= d.published_at < arrival]
            )
            store.write_batch(held)
            got += live(store, engine, clock, [d for d in docs if d.published_at >= arrival])
        else:
            got = live(store, engine, clock, docs + burst("ns", start))
        decisions.append(essence([a for a in got if a.series.kind == "ticker"]))
    assert decisions[0] and decisions[0][0][0] == "firing"
    assert decisions[1] == decisions[0]


def test_replay_decides_exactly_what_live_decided() -> None:
    def docs_for(ns: str) -> list[ScoredDocument]:
        return background(ns, 60) + burst(ns, T0 + timedelta(hours=30))

    live_store = CoreStore(fakeredis.FakeRedis(), StoreOptions())
    clock = Clock(T0)
    engine = make_engine(live_store, clock)
    seen = live(live_store, engine, clock, docs_for("ns"))
    seen += engine.evaluate("ns")

    replay_store = CoreStore(fakeredis.FakeRedis(), StoreOptions())
    replay_store.write_batch(docs_for("replay"))
    at_once = make_engine(replay_store, Clock(T0 + timedelta(days=400)), page=()).evaluate("replay")
    assert [a.state for a in seen if a.series.kind == "ticker"] == ["firing", "resolved"]
    assert essence(seen) == essence(at_once)
    assert all(a.notify for a in seen) and not any(a.notify for a in at_once)


def test_cold_start_first_burst_pages_calm_week_does_not(store: SeriesStore) -> None:
    clock = Clock(T0)
    engine = make_engine(store, clock, rules=DEFAULT_RULES)
    # A week of a few calm posts a day on a brand-new name, and nothing else.
    calm = [
        scored_doc(
            f"c-{d}-{i}",
            T0 + timedelta(days=d, hours=9 + 3 * i),
            "ns",
            "negative" if (d + i) % 4 == 0 else "neutral",
            tickers=("NEWCO",),
        )
        for d in range(7)
        for i in range(3)
    ]
    assert live(store, engine, clock, calm) == []
    # A name never seen before: its first documents are a burst.
    start = T0 + timedelta(days=7, hours=14)
    later = scored_doc("later", start + timedelta(hours=1), "ns", tickers=("MSFT",))
    fired = live(store, engine, clock, [*burst("ns", start, n=10, ticker="FRESH"), later])
    assert [(a.state, a.series.value) for a in fired] == [("firing", "FRESH")]


def test_a_replay_written_whole_before_evaluation_still_decides_its_early_steps() -> None:
    # A burst on day 1, then ten more days of chatter, all written before the first pass
    # (`finsent run` at full speed): replays keep their minute buckets, so the burst's
    # steps, far more than `minute_retention_s` behind the watermark, are still decided.
    store = CoreStore(fakeredis.FakeRedis(), StoreOptions())
    late = T0 + timedelta(days=11)
    store.write_batch(
        background("replay", 40)
        + burst("replay", T0 + timedelta(hours=30))
        + background("replay", 2, start=late)
    )
    assert late - T0 > timedelta(seconds=store.options.minute_retention_s)
    fired = make_engine(store, Clock(late + timedelta(days=1)), page=()).evaluate("replay")
    assert ("firing", "WMT") in [(a.state, a.series.value) for a in fired]


def test_replay_namespace_is_logged_not_paged() -> None:
    # Core: fakeredis has no `TS.ADD ... ON_DUPLICATE` (the TS backend runs on the real
    # module in tests/integration/test_store_contract.py).
    store = CoreStore(fakeredis.FakeRedis(), StoreOptions())
    pager = Recorder()
    store.write_batch(background("replay", 40) + burst("replay", T0 + timedelta(hours=30)))
    replay = make_engine(store, Clock(T0 + timedelta(days=2)), [pager], page=("live",))
    fired = replay.evaluate("replay")
    assert fired and all(not a.notify for a in fired) and pager.got == []
    assert replay.state.outbox("replay") == []  # nothing to deliver for a replay


def test_one_call_covers_every_closed_step_even_past_the_per_pass_bound(
    store: SeriesStore,
) -> None:
    store.write_batch(background("b", 40) + burst("b", T0 + timedelta(hours=30)))
    settings = AlertsSettings(rules=(RULE,), page_namespaces=(), max_steps_per_pass=7)
    fired = AlertEngine(store, settings, clock=lambda: T0).evaluate("b")
    assert [(a.state, a.series.value) for a in fired if a.series.kind == "ticker"] == [
        ("firing", "WMT"),
        ("resolved", "WMT"),
    ]


def _wmt(alerts: list[Alert]) -> list[tuple[str, bool]]:
    return [(a.state, a.notify) for a in alerts if a.series.value == "WMT"]


def test_a_resolution_pages_exactly_when_its_firing_paged(store: SeriesStore) -> None:
    """On-call must hear "resolved" for every page they got, and never for one they did not.

    Each state change used to ask only whether its own window was recent. After an outage
    of `alerts run` longer than `max_event_lag_s`, a firing decided from the backlog was
    (rightly) not paged, but its resolution, recent by then, paged on its own: a RESOLVED
    for an incident on-call never saw. The other way round, an incident paged live and
    resolved from a stale backlog never told on-call it was over.
    """
    start = T0 + timedelta(hours=30, minutes=2)
    docs = background("ns", 40) + burst("ns", start)
    store.write_batch(docs)
    # Back from an outage 110 min after the burst: its firing is stale, its end is not.
    late = make_engine(store, Clock(start + timedelta(minutes=110)))
    assert _wmt(late.evaluate("ns")) == [("firing", False), ("resolved", False)]

    other = CoreStore(fakeredis.FakeRedis(), StoreOptions())
    clock = Clock(T0)
    pager = Recorder()
    engine = make_engine(other, clock, [pager])
    before = [d for d in docs if d.published_at <= start + 45 * MIN]
    assert _wmt(live(other, engine, clock, before)) == [("firing", True)]
    # Then down for four hours: the resolution is decided from a stale backlog.
    other.write_batch([d for d in docs if d.published_at > start + 45 * MIN])
    clock.at = start + timedelta(hours=4)
    assert _wmt(engine.evaluate("ns")) == [("resolved", True)]
    engine.deliver("ns")
    assert [a.state for a in pager.got if a.series.value == "WMT"] == ["firing", "resolved"]
