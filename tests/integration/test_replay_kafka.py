"""`replay_kafka`: a time range of a documents topic, republished into a namespace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from finsent.errors import ConfigurationError
from finsent.schemas import Document
from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.dedupe import drop_namespace_keys
from ingest.replay import drop_replay, replay_kafka
from ingest.settings import IngestSettings
from ingest.sources.files import read_files
from ingest.wiring import open_ingestor
from tests.integration.conftest import read_topic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


@pytest.fixture
def spaces(
    settings: FinsentSettings, redis_client: redis.Redis, namespace: str
) -> Iterator[tuple[str, str, str]]:
    names = (namespace + "-src", namespace + "-other", namespace + "-rp")
    yield names
    for ns in names[:2]:
        drop_namespace_keys(redis_client, ns)
    drop_replay(settings, names[2])


def ingest_into(settings: FinsentSettings, topic: str, namespace: str, path: Path) -> None:
    ingest = IngestSettings()
    with open_ingestor(settings, ingest, namespace=namespace, topic=topic) as ingestor:
        ingestor.run(read_files([path], ingest.max_raw_bytes))


def test_a_time_range_is_republished_in_the_replay_namespace(
    settings: FinsentSettings,
    topic_factory: Callable[..., str],
    spaces: tuple[str, str, str],
) -> None:
    src, other, target = spaces
    source_topic = topic_factory("docs", partitions=3)
    out_topic = topic_factory("replay")
    start = datetime.now(UTC) - timedelta(seconds=1)
    ingest_into(settings, source_topic, src, FIXTURES / "documents.jsonl")
    ingest_into(settings, source_topic, other, FIXTURES / "documents.jsonl")  # filtered out
    time.sleep(0.2)
    middle = datetime.now(UTC)
    time.sleep(0.2)
    ingest_into(settings, source_topic, src, FIXTURES / "documents.csv")  # after the range

    report = replay_kafka(
        settings,
        start,
        middle,
        target,
        source_namespace=src,
        source_topic=source_topic,
        topic=out_topic,
        progress=False,
    )
    assert (report.documents_in, report.produced, report.balanced) == (2, 2, True)

    original = [
        DOCUMENTS.decode(r.value)
        for r in read_topic(settings, source_topic)
        if r.timestamp < middle.timestamp() * 1000
    ]
    expected = sorted(
        (d.model_copy(update={"namespace": target}) for d in original if d.namespace == src),
        key=lambda d: (d.published_at, d.id),
    )
    replayed: list[Document] = [DOCUMENTS.decode(r.value) for r in read_topic(settings, out_topic)]
    assert replayed == expected
    assert [d.id for d in replayed] == ["desk:d-2", "desk:d-1"]  # event-time order

    again = replay_kafka(
        settings, start, middle, target, source_namespace=src, source_topic=source_topic,
        topic=out_topic, progress=False,
    )  # fmt: skip
    assert (again.produced, again.duplicates) == (0, 2)  # idempotent per namespace


def test_bad_ranges_and_live_are_refused(settings: FinsentSettings) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ConfigurationError, match="after"):
        replay_kafka(settings, now, now - timedelta(seconds=1), "x-replay", progress=False)
    with pytest.raises(ConfigurationError, match="live"):
        replay_kafka(settings, now - timedelta(hours=1), now, "live", progress=False)


def test_a_long_range_is_streamed_through_a_bounded_window(
    settings: FinsentSettings, topic_factory: Callable[..., str], namespace: str
) -> None:
    """`replay kafka` holds at most its reorder window, not the whole range."""
    from ingest.sources.kafka_range import KafkaRangeReader
    from tests.integration.conftest import make_documents, produce

    topic = topic_factory("docs", partitions=3)
    start = datetime.now(UTC) - timedelta(seconds=1)
    docs = make_documents(600, namespace)
    produce(settings, topic, docs)
    end = datetime.now(UTC) + timedelta(seconds=1)

    held = []
    with KafkaRangeReader(
        settings, topic, start, end, namespace, namespace + "-rp", reorder_window=25
    ) as reader:
        assert reader.total == 600
        out = []
        for doc in reader:
            held.append(reader.buffered)
            out.append(doc)
    assert max(held) <= 26
    assert sorted(d.id for d in out if isinstance(d, Document)) == sorted(d.id for d in docs)
    assert all(isinstance(d, Document) and d.namespace == namespace + "-rp" for d in out)
