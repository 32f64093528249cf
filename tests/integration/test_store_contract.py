"""One contract, every `SeriesStore` backend (STYLE.md section 7).

- core: the real Redis server started by `finsent stack up` (settings fixture);
- timeseries: fakeredis' RedisTimeSeries emulation (with lupa for Lua);
- timeseries-real: a real RedisTimeSeries server when FINSENT_TEST_REDIS_TS_URL is set.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import fakeredis
import pytest
import redis

from finsent.errors import TransientError
from finsent.labels import TOPIC_LABELS, SentimentLabel, topic_slug
from finsent.schemas import ScoredDocument, SeriesRef
from finsent.settings import FinsentSettings, RedisSettings
from finsent.store import (
    ALL_SERIES,
    CoreStore,
    SeriesStore,
    StoreOptions,
    TimeSeriesStore,
    open_store,
)

T0 = datetime(2015, 10, 14, 12, 0, tzinfo=UTC)
INGESTED = datetime(2026, 11, 28, tzinfo=UTC)
OPTIONS = StoreOptions(
    minute_retention_s=2 * 86_400,
    max_lateness_s=4 * 86_400,
    evidence_retention_s=2 * 86_400,
    hour_retention_s=30 * 86_400,
)

TS_URL = os.environ.get("FINSENT_TEST_REDIS_TS_URL")
# The real-TS variant exists only when a server is given: CI treats a skip as a failure.
BACKENDS = ["core", "timeseries-fake"] + (["timeseries-real"] if TS_URL else [])


def make_doc(
    doc_id: str,
    at: datetime,
    namespace: str,
    *,
    sentiment: SentimentLabel = "neutral",
    score: float = 0.0,
    tickers: tuple[str, ...] = ("WMT",),
    source: str = "stocknet",
    topic: str = "Stock Movement",
    model: str = "m1",
) -> ScoredDocument:
    probs = {"negative": (0.8, 0.1, 0.1), "neutral": (0.1, 0.8, 0.1), "positive": (0.1, 0.1, 0.8)}
    return ScoredDocument(
        document_id=doc_id,
        source=source,
        namespace=namespace,
        tickers=tickers,
        published_at=at,
        ingested_at=INGESTED,
        scored_at=INGESTED,
        title=f"title {doc_id}",
        snippet="snippet",
        url=f"https://example.test/{doc_id}",
        sentiment=sentiment,
        sentiment_probs=probs[sentiment],
        score=score,
        topic=topic,
        topic_probs=tuple(1.0 / len(TOPIC_LABELS) for _ in TOPIC_LABELS),
        model_version=model,
    )


def random_docs(namespace: str, n: int, seed: int) -> list[ScoredDocument]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentiment: SentimentLabel = rng.choice(["negative", "neutral", "positive"])
        score = {"negative": -0.5, "neutral": 0.0, "positive": 0.5}[sentiment] + rng.uniform(
            -0.3, 0.3
        )
        docs.append(
            make_doc(
                f"d{seed}-{i}",
                T0 + timedelta(seconds=rng.randrange(0, 6 * 3600)),
                namespace,
                sentiment=sentiment,
                score=round(score, 3),
                tickers=tuple(rng.sample(["WMT", "AAPL", "GOOG"], rng.randint(0, 2))),
                source=rng.choice(["stocknet", "rss:reuters-markets"]),
                topic=rng.choice(TOPIC_LABELS[:3]),
                model=rng.choice(["m1", "m2"]),
            )
        )
    return docs


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, settings: FinsentSettings) -> Iterator[SeriesStore]:
    kind = request.param
    if kind == "core":
        # The stack's Redis 7 has no RedisTimeSeries: "auto" must pick core.
        made: SeriesStore = open_store(settings.model_copy(update={"store": OPTIONS}), "auto")
        assert isinstance(made, CoreStore)
    elif kind == "timeseries-fake":
        made = TimeSeriesStore(fakeredis.FakeRedis(), OPTIONS)
    else:
        assert TS_URL is not None
        made = TimeSeriesStore(redis.Redis.from_url(TS_URL), OPTIONS)
    yield made
    made.close()


@pytest.fixture
def ns(store: SeriesStore, namespace: str) -> Iterator[str]:
    yield namespace
    store.drop_namespace(namespace)


def expected_totals(
    docs: list[ScoredDocument], ref: SeriesRef, start: datetime, end: datetime
) -> tuple[int, int, int, int, float]:
    def counts_in(d: ScoredDocument) -> bool:
        if not start <= d.published_at.replace(second=0, microsecond=0) < end:
            return False
        return {
            "all": True,
            "ticker": ref.value in d.tickers,
            "topic": topic_slug(d.topic) == ref.value,
            "source": d.source == ref.value,
        }[ref.kind]

    mine = {d.document_id: d for d in docs if counts_in(d)}.values()
    return (
        len(mine),
        sum(d.sentiment == "negative" for d in mine),
        sum(d.sentiment == "neutral" for d in mine),
        sum(d.sentiment == "positive" for d in mine),
        sum(d.score for d in mine),
    )


def observed(
    store: SeriesStore, ref: SeriesRef, ns: str, start: datetime, end: datetime
) -> tuple[int, int, int, int, float]:
    t = store.total(ref, ns, start, end)
    return (t.count, t.negative, t.neutral, t.positive, t.score_sum)


def assert_all_series_match(store: SeriesStore, docs: list[ScoredDocument], ns: str) -> None:
    start, end = T0 - timedelta(hours=1), T0 + timedelta(hours=8)
    refs = store.list_series(ns)
    assert ALL_SERIES in refs
    for ref in refs:
        want = expected_totals(docs, ref, start, end)
        got = observed(store, ref, ns, start, end)
        assert got[:4] == want[:4], ref
        assert got[4] == pytest.approx(want[4], abs=1e-6), ref
        hourly = store.total(ref, ns, start, end, resolution="1h")
        assert hourly.count == want[0], ref


def test_every_document_counted_once_in_every_series(store: SeriesStore, ns: str) -> None:
    docs = random_docs(ns, 120, seed=1)
    assert store.write_batch(docs) == 120
    assert store.document_count(ns) == 120
    assert_all_series_match(store, docs, ns)


def test_redelivery_changes_nothing(store: SeriesStore, ns: str) -> None:
    docs = random_docs(ns, 60, seed=2)
    assert store.write_batch(docs[:40]) == 40
    # A redelivered batch overlapping the first, plus new documents.
    result = store.write_batch_detailed(docs[20:])
    assert (result.new, result.duplicate, result.rejected) == (20, 20, ())
    assert store.write_batch(docs) == 0
    assert store.document_count(ns) == 60
    assert_all_series_match(store, docs, ns)


def test_out_of_order_events_land_in_their_event_time_bucket(store: SeriesStore, ns: str) -> None:
    late = make_doc(
        "late", T0 + timedelta(minutes=3, seconds=59), ns, sentiment="negative", score=-0.9
    )
    newer = make_doc("newer", T0 + timedelta(hours=5), ns, sentiment="positive", score=0.7)
    store.write_batch([newer])
    store.write_batch([late])
    minute = T0 + timedelta(minutes=3)
    got = store.total(ALL_SERIES, ns, minute, minute + timedelta(minutes=1))
    assert (got.count, got.negative) == (1, 1)
    assert got.score_sum == pytest.approx(-0.9)
    assert store.total(ALL_SERIES, ns, T0, minute).count == 0
    assert store.watermark(ns) == newer.published_at
    assert store.first_event(ns) == late.published_at
    points = store.range(ALL_SERIES, ns, T0, T0 + timedelta(hours=6), timedelta(hours=1))
    assert [p.totals.count for p in points] == [1, 0, 0, 0, 0, 1]


def test_retention_counts_back_from_the_watermark_not_the_wall_clock(
    store: SeriesStore, ns: str
) -> None:
    old = make_doc("old", T0, ns, sentiment="negative", score=-0.5)
    store.write_batch([old])
    hour = (T0, T0 + timedelta(hours=1))
    assert [e.document_id for e in store.evidence(ALL_SERIES, ns, *hour)] == ["old"]
    # 2015 data, written in 2026, is still there: retention is relative to event time.
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(minutes=1)).count == 1
    # Three days later (minutes and evidence kept 2 days, dedupe 4, hours 30): the minute
    # bucket and the evidence expire, the hourly bucket stays.
    store.write_batch([make_doc("later", T0 + timedelta(days=3), ns)])
    store.trim(ns)
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(minutes=1)).count == 0
    assert store.total(ALL_SERIES, ns, *hour, resolution="1h").count == 1
    assert store.evidence(ALL_SERIES, ns, *hour) == []
    # Within max lateness: a redelivery is still a duplicate, a straggler still counts
    # (hourly only: its minute is gone and is not recreated).
    result = store.write_batch_detailed([old, make_doc("straggler", T0, ns)])
    assert (result.new, result.duplicate, result.rejected) == (1, 1, ())
    assert store.total(ALL_SERIES, ns, *hour, resolution="1h").count == 2
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(minutes=1)).count == 0
    # Beyond max lateness: refused, and reported so the caller can dead-letter it.
    store.write_batch([make_doc("much-later", T0 + timedelta(days=5), ns)])
    store.trim(ns)
    result = store.write_batch_detailed([make_doc("too-late", T0, ns), old])
    assert result.new == 0
    assert {doc_id for doc_id, _ in result.rejected} == {"too-late", "old"}
    assert store.total(ALL_SERIES, ns, *hour, resolution="1h").count == 2


def test_a_partition_weeks_ahead_of_another_loses_nothing(store: SeriesStore, ns: str) -> None:
    # A replay consumed from two partitions: one delivers day 3 before the other's day 0.
    ahead = [make_doc(f"a{i}", T0 + timedelta(days=3, minutes=i), ns) for i in range(10)]
    behind = [
        make_doc(f"b{i}", T0 + timedelta(minutes=i), ns, sentiment="negative", score=-0.5)
        for i in range(10)
    ]
    assert store.write_batch(ahead) == 10
    assert store.write_batch(behind) == 10
    assert store.write_batch(ahead + behind) == 0
    day0 = store.total(ALL_SERIES, ns, T0, T0 + timedelta(days=1), resolution="1h")
    assert (day0.count, day0.negative) == (10, 10)
    assert store.document_count(ns) == 20


def test_future_timestamps_are_rejected_not_watermarked(store: SeriesStore, ns: str) -> None:
    bad = make_doc("future", INGESTED + timedelta(days=30), ns)
    result = store.write_batch_detailed([bad, make_doc("ok", T0, ns)])
    assert result.new == 1
    assert [doc_id for doc_id, _ in result.rejected] == ["future"]
    assert store.watermark(ns) == T0


def test_concurrent_writers_count_each_document_once(
    store: SeriesStore, ns: str, request: pytest.FixtureRequest
) -> None:
    docs = random_docs(ns, 200, seed=3)
    news: list[int] = []

    def writer(seed: int) -> None:
        mine = docs[:]
        random.Random(seed).shuffle(mine)
        for i in range(0, len(mine), 25):
            news.append(store.write_batch(mine[i : i + 25]))

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(news) == 200
    assert store.document_count(ns) == 200
    assert_all_series_match(store, docs, ns)


def test_evidence_is_the_most_negative_documents_in_the_window(store: SeriesStore, ns: str) -> None:
    scores = [-0.9, -0.2, 0.4, -0.7, -0.95, 0.1]
    docs = [
        make_doc(f"e{i}", T0 + timedelta(minutes=10 * i), ns, sentiment="negative", score=s)
        for i, s in enumerate(scores)
    ]
    store.write_batch(docs)
    wmt = SeriesRef(kind="ticker", value="WMT")
    top = store.evidence(wmt, ns, T0, T0 + timedelta(minutes=35), limit=2)
    assert [e.document_id for e in top] == ["e0", "e3"]
    assert top[0].url == "https://example.test/e0" and "title e0" in top[0].snippet
    assert (
        store.evidence(SeriesRef(kind="ticker", value="AAPL"), ns, T0, T0 + timedelta(hours=1))
        == []
    )


def test_listing_movers_and_dropping(store: SeriesStore, ns: str) -> None:
    before = [
        make_doc(f"b{i}", T0 + timedelta(minutes=i), ns, tickers=("AAPL", "WMT")) for i in range(10)
    ]
    after = [
        make_doc(
            f"a{i}",
            T0 + timedelta(hours=1, minutes=i),
            ns,
            tickers=("WMT",),
            sentiment="negative",
            score=-0.6,
        )
        for i in range(8)
    ] + [
        make_doc(f"c{i}", T0 + timedelta(hours=1, minutes=i), ns, tickers=("AAPL",))
        for i in range(8)
    ]
    store.write_batch(before + after)
    assert [r.value for r in store.list_series(ns, "ticker")] == ["AAPL", "WMT"]
    assert ns in store.list_namespaces()
    movers = store.top_movers(ns, "ticker", T0 + timedelta(hours=2), timedelta(hours=1))
    assert movers[0].series.value == "WMT" and movers[0].change == pytest.approx(1.0)
    assert movers[1].change == pytest.approx(0.0)
    assert store.drop_namespace(ns) > 0
    assert ns not in store.list_namespaces()
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(hours=3)).count == 0
    assert store.watermark(ns) is None


def test_unreachable_redis_is_a_transient_error(namespace: str) -> None:
    dead = open_store(FinsentSettings(redis=RedisSettings(port=1, socket_timeout_s=0.2)), "core")
    with pytest.raises(TransientError):
        dead.write_batch([make_doc("x", T0, namespace)])
