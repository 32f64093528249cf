"""Replay of the StockNet month (2,687 lines) through the real broker and Redis."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from finsent.schemas import Document
from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.replay import Pacer, drop_replay, list_replays, replay_files
from ingest.settings import IngestSettings
from tests.integration.conftest import read_topic


@pytest.fixture(scope="module")
def stocknet() -> Path:
    root = IngestSettings().data_dir / "stocknet-dataset" / "tweet" / "raw"
    assert root.is_dir(), f"StockNet data missing at {root} (set FINSENT_DATA_DIR)"
    return root


@pytest.fixture
def namespaces(settings: FinsentSettings, namespace: str) -> Iterator[tuple[str, str]]:
    pair = (namespace + "-a", namespace + "-b")
    yield pair
    for ns in pair:
        drop_replay(settings, ns)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


def independent_counts(root: Path) -> tuple[int, int, float]:
    """Lines, unique tweet ids and event-time span (s), read without any ingest code."""
    lines, ids, times = 0, set(), []
    for path in root.rglob("*"):
        if path.is_file():
            for line in path.read_bytes().splitlines():
                if line.strip():
                    tweet = json.loads(line)
                    lines += 1
                    ids.add(tweet["id_str"])
                    times.append(datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y"))
    return lines, len(ids), (max(times) - min(times)).total_seconds()


def test_two_replays_of_the_month_yield_identical_documents(
    settings: FinsentSettings,
    topic_factory: Callable[..., str],
    namespaces: tuple[str, str],
    stocknet: Path,
) -> None:
    lines, unique_ids, span_s = independent_counts(stocknet)
    assert (lines, unique_ids) == (2687, 2287)  # as SOURCES.md states
    topics = (topic_factory("replay"), topic_factory("replay"))
    fake = FakeTime()
    reports = [
        replay_files([stocknet], settings, namespaces[0], None, False, topics[0]),
        # 3600x real time, on a fake clock: the pacing must not change what is produced.
        replay_files(
            [stocknet],
            settings,
            namespaces[1],
            3600.0,
            False,
            topics[1],
            pacer=Pacer(3600.0, fake.monotonic, fake.sleep),
        ),
    ]
    assert fake.slept == pytest.approx(span_s / 3600, rel=1e-3)

    for report in reports:
        assert report.documents_in == lines
        assert report.balanced
        assert report.dead_lettered == 0
        assert report.duplicates_by_kind["id"] == lines - unique_ids
        collapsed = report.duplicates_by_kind.get("content", 0) + report.duplicates_by_kind.get(
            "near", 0
        )
        assert report.produced + collapsed == unique_ids
        assert collapsed > 300  # retweets and spam: see docs/ingest.md for the figures
    assert [r.namespace for r in reports] == list(namespaces)
    assert reports[0].model_copy(update={"namespace": None}) == reports[1].model_copy(
        update={"namespace": None}
    )

    streams: list[list[Document]] = []
    for topic, ns in zip(topics, namespaces, strict=True):
        docs = [DOCUMENTS.decode(r.value) for r in read_topic(settings, topic)]
        assert {d.namespace for d in docs} == {ns}
        streams.append([d.model_copy(update={"namespace": "x"}) for d in docs])
    assert len(streams[0]) == reports[0].produced
    assert streams[0] == streams[1]  # ids, texts, tickers, times, order: all equal

    docs = streams[0]
    assert [d.published_at for d in docs] == sorted(d.published_at for d in docs)
    assert all(d.ingested_at == d.published_at for d in docs)
    assert docs[0].published_at >= datetime(2015, 9, 30, tzinfo=UTC)
    assert len({d.id for d in docs}) == len(docs)

    listed = {info.namespace: info for info in list_replays(settings)}
    assert listed[namespaces[0]].report == reports[0]
    assert listed[namespaces[0]].finished_at is not None


def test_the_wmt_ngcg_promotion_counts_once(
    settings: FinsentSettings,
    topic_factory: Callable[..., str],
    namespace: str,
    stocknet: Path,
) -> None:
    day = stocknet / "WMT" / "2015-10-14"
    raw = [json.loads(line) for line in day.read_bytes().splitlines() if line.strip()]
    promo = [t for t in raw if "$NGCG" in t["text"]]
    assert len(promo) >= 40
    topic = topic_factory("replay")
    try:
        report = replay_files([day], settings, namespace, None, False, topic)
    finally:
        drop_replay(settings, namespace)
    docs = [DOCUMENTS.decode(r.value) for r in read_topic(settings, topic)]
    assert sum("NGCG" in d.tickers for d in docs) == 1
    assert report.produced == len(docs) <= len(raw) - len(promo) + 1
