"""One contract, both `SeriesStore` backends, each on a real server (STYLE.md section 7).

- core: a plain Debian redis-server with no modules, started for this module on a free
  port: proves the core backend needs nothing else and that `auto` picks it there;
- timeseries: the stack's Redis with RedisTimeSeries 1.12 loaded (`make setup` fetches it;
  `finsent stack up` loads it): the module's own parser, retention and duplicate policy,
  which an emulation does not reproduce (it accepts `,` in label values, for one).

Writes carry source offsets as the scorer's do; `offsets_for` numbers them per partition.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from devstack.stack import Stack
from finsent.errors import ConfigurationError, TransientError
from finsent.labels import TOPIC_LABELS, SentimentLabel, topic_slug
from finsent.schemas import ScoredDocument, SeriesRef
from finsent.settings import FinsentSettings, RedisSettings, StackSettings
from finsent.store import (
    ALL_SERIES,
    CoreStore,
    SeriesStore,
    SourceOffset,
    StoreOptions,
    TimeSeriesStore,
    open_store,
    open_store_on,
)
from finsent.store.base import lua_source
from finsent.store.testing import scored_doc
from finsent.store.write import FUTURE_REASON, RETENTION_REASON, build_calls

T0 = datetime(2015, 10, 14, 12, 0, tzinfo=UTC)
INGESTED = datetime(2026, 11, 28, tzinfo=UTC)
# Retention applies to every namespace here (test namespaces are not `live`).
OPTIONS = StoreOptions(
    minute_retention_s=2 * 86_400,
    evidence_retention_s=2 * 86_400,
    hour_retention_s=30 * 86_400,
    keep_replays=False,
)
BACKENDS = ["core", "timeseries"]
STREAM = "news.documents.v1"


def offsets_for(
    docs: list[ScoredDocument], partitions: int = 4, start: int = 0
) -> list[SourceOffset]:
    """Document i from partition i % partitions, offsets counting up per partition."""
    return [SourceOffset(STREAM, i % partitions, start + i // partitions) for i in range(len(docs))]


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
    return scored_doc(
        doc_id, at, namespace, sentiment, tickers=tickers, source=source, topic=topic,
        model_version=model, score=score, ingested_at=INGESTED,
    )  # fmt: skip


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


@pytest.fixture(scope="module")
def plain_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A redis-server without modules, on a free port, for this module only."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    home = tmp_path_factory.mktemp("plain-redis")
    stack = Stack(
        FinsentSettings(
            redis=RedisSettings(port=port),
            stack=StackSettings(home=home, redis_port=port, redis_modules=home / "none"),
        )
    )
    stack.up(("redis",))
    client = RedisSettings(port=port).client()
    yield client
    client.close()
    stack.down(("redis",))


@pytest.fixture(scope="module")
def ts_redis(settings: FinsentSettings) -> redis.Redis:
    client = settings.redis.client()
    modules = [m[b"name"] for m in client.module_list()]
    assert b"timeseries" in modules, (
        "the stack's Redis runs without RedisTimeSeries: run `make setup`, then "
        "`finsent stack down && finsent stack up`"
    )
    return client


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[SeriesStore]:
    if request.param == "core":
        made = open_store_on(request.getfixturevalue("plain_redis"), OPTIONS, "auto")
        assert isinstance(made, CoreStore), "auto must pick core on a Redis without modules"
    else:
        made = open_store_on(request.getfixturevalue("ts_redis"), OPTIONS, "auto")
        assert isinstance(made, TimeSeriesStore), "auto must pick RedisTimeSeries when loaded"
    yield made


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
    assert store.write_batch(docs, offsets_for(docs)) == 120
    assert store.document_count(ns) == 120
    assert_all_series_match(store, docs, ns)


def test_redelivery_with_other_batch_boundaries_changes_nothing(
    store: SeriesStore, ns: str
) -> None:
    docs = random_docs(ns, 60, seed=2)
    offsets = offsets_for(docs)
    assert store.write_batch(docs[:40], offsets[:40]) == 40
    # Redelivered from an older commit, cut differently, with new documents after it.
    result = store.write_batch_detailed(docs[20:], offsets[20:])
    assert (result.new, result.duplicate, result.rejected) == (20, 20, ())
    assert store.write_batch(docs, offsets) == 0
    assert store.document_count(ns) == 60
    assert_all_series_match(store, docs, ns)


def test_a_restarted_writer_resumes_from_the_stored_fence(store: SeriesStore, ns: str) -> None:
    # The fence lives in Redis: a new process (a new store object) knows what was written.
    docs = random_docs(ns, 80, seed=4)
    offsets = offsets_for(docs)
    store.write_batch(docs[:50], offsets[:50])
    restarted = open_store_on(store.client, OPTIONS, store.backend)  # type: ignore[arg-type]
    for i in range(0, 80, 7):  # the whole range again, in small batches
        restarted.write_batch(docs[i : i + 7], offsets[i : i + 7])
    assert store.document_count(ns) == 80
    assert_all_series_match(store, docs, ns)


def test_a_call_resent_after_a_timeout_gets_its_first_reply(store: SeriesStore, ns: str) -> None:
    # redis-py resends a command whose reply timed out; the resent call must not read as
    # a fence conflict (which would report the batch's documents as duplicates, and its
    # refusals would never be dead-lettered) nor count twice.
    docs = random_docs(ns, 30, seed=6)
    call = build_calls(docs, OPTIONS, lambda i: False)[ns]
    call.fences = [{"field": f"{STREAM}:0", "expected": "", "offset": "29"}]
    keys, argv = call.script_args(store._bucket_keys, store._series_labels)
    script = store.client.register_script(
        lua_source(f"{store.backend}.lua") + lua_source("write_batch.lua")
    )
    first, again = script(keys=keys, args=argv), script(keys=keys, args=argv)
    assert first == again == [1]
    assert store.document_count(ns) == 30
    assert_all_series_match(store, docs, ns)


def test_per_document_path_counts_the_same(store: SeriesStore, ns: str) -> None:
    docs = random_docs(ns, 50, seed=5)
    assert store.write_per_document(docs, offsets_for(docs)) == 50
    assert store.write_per_document(docs, offsets_for(docs)) == 0
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
    def at(
        doc_id: str, when: datetime, offset: int, **kw: object
    ) -> tuple[ScoredDocument, SourceOffset]:
        return make_doc(doc_id, when, ns, **kw), SourceOffset(STREAM, 0, offset)  # type: ignore[arg-type]

    def write(*pairs: tuple[ScoredDocument, SourceOffset]) -> tuple[int, int, set[str]]:
        r = store.write_batch_detailed([p[0] for p in pairs], [p[1] for p in pairs])
        return r.new, r.duplicate, {doc_id for doc_id, _ in r.rejected}

    old = at("old", T0, 0, sentiment="negative", score=-0.5)
    assert write(old) == (1, 0, set())
    hour = (T0, T0 + timedelta(hours=1))
    assert [e.document_id for e in store.evidence(ALL_SERIES, ns, *hour)] == ["old"]
    # 2015 data, written in 2026, is still there: retention is relative to event time.
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(minutes=1)).count == 1
    # Three days later (minutes and evidence kept 2 days, hours 30): the minute bucket
    # and the evidence expire, the hourly bucket stays.
    assert write(at("later", T0 + timedelta(days=3), 1)) == (1, 0, set())
    store.trim(ns)
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(minutes=1)).count == 0
    assert store.total(ALL_SERIES, ns, *hour, resolution="1h").count == 1
    assert store.evidence(ALL_SERIES, ns, *hour) == []
    # A redelivery is a duplicate; a straggler still counts, hourly only (its minute is
    # gone and is not recreated, nor is its evidence).
    assert write(old, at("straggler", T0, 2, sentiment="negative")) == (1, 1, set())
    assert store.total(ALL_SERIES, ns, *hour, resolution="1h").count == 2
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(minutes=1)).count == 0
    assert store.evidence(ALL_SERIES, ns, *hour) == []
    # Beyond hour retention: refused, reported (to dead-letter) and tallied once.
    assert write(at("much-later", T0 + timedelta(days=40), 3)) == (1, 0, set())
    store.trim(ns)
    assert store.total(ALL_SERIES, ns, *hour, resolution="1h").count == 0
    assert write(at("too-late", T0, 4)) == (0, 0, {"too-late"})
    assert write(at("too-late", T0, 4)) == (0, 1, set())
    assert store.refusals(ns) == {RETENTION_REASON: 1}
    assert store.document_count(ns) == 4


def test_a_replay_keeps_every_document_of_a_long_history_in_any_partition_order(
    store: SeriesStore, namespace: str
) -> None:
    # Two years over four partitions, one partition delivered entirely before the others:
    # with the default options a replay namespace keeps its whole history.
    replay = open_store_on(store.client, StoreOptions(), store.backend)  # type: ignore[arg-type]
    rng = random.Random(9)
    start = datetime(2014, 1, 1, tzinfo=UTC)
    docs = [
        make_doc(f"y{i}", start + timedelta(hours=rng.randrange(2 * 365 * 24)), namespace,
                 sentiment=rng.choice(["negative", "neutral", "positive"]))
        for i in range(400)
    ]  # fmt: skip
    offsets = offsets_for(docs)
    by_partition = [[i for i in range(len(docs)) if offsets[i].partition == p] for p in range(4)]
    order = by_partition[3] + [i for p in zip(*by_partition[:3], strict=True) for i in p]
    try:
        for k in range(0, len(order), 37):
            chunk = order[k : k + 37]
            result = replay.write_batch_detailed(
                [docs[i] for i in chunk], [offsets[i] for i in chunk]
            )
            assert result.rejected == ()
        assert replay.document_count(namespace) == 400
        everything = (start - timedelta(days=1), start + timedelta(days=800))
        hourly = replay.total(ALL_SERIES, namespace, *everything, resolution="1h")
        assert hourly.count == 400
        assert hourly.negative == sum(d.sentiment == "negative" for d in docs)
        assert replay.total(ALL_SERIES, namespace, *everything).count == 400
        assert replay.refusals(namespace) == {}
    finally:
        replay.drop_namespace(namespace)


def test_future_timestamps_are_rejected_not_watermarked(store: SeriesStore, ns: str) -> None:
    docs = [make_doc("future", INGESTED + timedelta(days=30), ns), make_doc("ok", T0, ns)]
    for _ in range(2):  # redelivered: rejected again (to dead-letter), tallied once
        result = store.write_batch_detailed(docs, offsets_for(docs))
        assert [doc_id for doc_id, _ in result.rejected] == ["future"]
    assert store.watermark(ns) == T0
    assert store.document_count(ns) == 1
    assert store.refusals(ns) == {FUTURE_REASON: 1}


def test_label_values_a_real_redistimeseries_refuses_are_stored(
    store: SeriesStore, ns: str
) -> None:
    # A pushed `source` is free text; `,` `(` `)` stopped the old script half-way.
    hostile = ["src,with(commas)", "a%b", "tab\there", "(", "é,ü"]
    docs = [make_doc(f"h{i}", T0, ns, source=src) for i, src in enumerate(hostile)]
    assert store.write_batch(docs, offsets_for(docs)) == len(hostile)
    for src in hostile:
        ref = SeriesRef(kind="source", value=src)
        assert store.total(ref, ns, T0, T0 + timedelta(hours=1)).count == 1, src
    assert store.total(ALL_SERIES, ns, T0, T0 + timedelta(hours=1)).count == len(hostile)


def test_concurrent_writers_count_each_document_once(store: SeriesStore, ns: str) -> None:
    # Four writers deliver the same records (a rebalance's zombie consumers), each cut
    # into its own batches: the fences admit each record once.
    docs = random_docs(ns, 200, seed=3)
    offsets = offsets_for(docs)
    news: list[int] = []
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        step = random.Random(seed).randint(10, 40)
        try:
            for i in range(0, len(docs), step):
                news.append(store.write_batch(docs[i : i + step], offsets[i : i + step]))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(news) == 200
    assert store.document_count(ns) == 200
    assert_all_series_match(store, docs, ns)


def test_evidence_is_the_most_negative_documents_in_the_window(store: SeriesStore, ns: str) -> None:
    scores = [-0.9, -0.2, 0.4, -0.7, -0.95, 0.1]
    docs = [
        make_doc(f"e{i}", T0 + timedelta(minutes=10 * i), ns, sentiment="negative", score=s)
        for i, s in enumerate(scores)
    ]
    # Two batches: the second's documents compete with what the first kept.
    store.write_batch(docs[:3], offsets_for(docs[:3], 1))
    store.write_batch(docs[3:], offsets_for(docs[3:], 1, start=3))
    wmt = SeriesRef(kind="ticker", value="WMT")
    top = store.evidence(wmt, ns, T0, T0 + timedelta(minutes=35), limit=2)
    assert [e.document_id for e in top] == ["e0", "e3"]
    assert top[0].url == "https://example.test/e0" and "title e0" in top[0].snippet
    assert [e.document_id for e in store.evidence(wmt, ns, T0, T0 + timedelta(hours=1), 9)] == [
        "e4", "e0", "e3", "e1", "e5", "e2",
    ]  # fmt: skip
    assert (
        store.evidence(SeriesRef(kind="ticker", value="AAPL"), ns, T0, T0 + timedelta(hours=1))
        == []
    )


def test_evidence_keeps_the_most_negative_per_hour_across_batches(
    store: SeriesStore, ns: str
) -> None:
    cap = OPTIONS.evidence_per_hour
    docs = [
        make_doc(f"c{i}", T0 + timedelta(seconds=i), ns, sentiment="negative", score=-i / 100)
        for i in range(3 * cap)
    ]
    for i in range(0, len(docs), cap // 2):
        store.write_batch(docs[i : i + cap // 2], offsets_for(docs[i : i + cap // 2], 1, i))
    kept = store.evidence(ALL_SERIES, ns, T0, T0 + timedelta(hours=1), limit=100)
    assert [e.document_id for e in kept] == [f"c{i}" for i in range(3 * cap - 1, 2 * cap - 1, -1)]


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


def test_timeseries_asked_of_a_redis_without_it_is_a_startup_error(
    plain_redis: redis.Redis,
) -> None:
    with pytest.raises(ConfigurationError, match="no RedisTimeSeries"):
        open_store_on(plain_redis, StoreOptions(backend="timeseries"))
