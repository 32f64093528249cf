"""Files through the whole ingest chain: real Redis dedupe, real Kafka topic and DLQ."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.dedupe import drop_namespace_keys
from ingest.settings import IngestSettings
from ingest.sources.files import read_files
from ingest.wiring import open_ingestor
from tests.integration.conftest import read_topic

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ns(redis_client: redis.Redis, namespace: str) -> Iterator[str]:
    yield namespace
    drop_namespace_keys(redis_client, namespace)


def test_file_ingest_accounts_for_every_input(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    topic = topic_factory("ingest", partitions=2)
    ingest = IngestSettings()
    paths = [FIXTURES / "documents.jsonl", FIXTURES / "documents.csv"]
    with open_ingestor(settings, ingest, namespace=ns, topic=topic, clock=lambda: NOW) as ingestor:
        report = ingestor.run(read_files(paths, ingest.max_raw_bytes))

    # jsonl: d-1, d-2 ok; d-3 no time; bad json; d-4 1985; d-5 blank; d-2 again (dup).
    # csv: c-1, c-2 ok; c-3 bad bytes; c-4 naive time.
    assert report.documents_in == 11
    assert report.produced == 4
    assert report.duplicates == 1 and report.duplicates_by_kind == {"id": 1}
    assert report.dead_lettered == 6
    assert report.dead_letter_reasons == {
        "missing_time": 1, "malformed": 2, "time_too_old": 1, "missing_text": 1, "undecodable": 1,
    }  # fmt: skip
    assert report.balanced
    assert report.per_ticker == {"BAC": 1, "GE": 1, "JPM": 1, "XOM": 1}

    records = read_topic(settings, topic)
    docs = [DOCUMENTS.decode(r.value) for r in records]
    assert sorted(d.id for d in docs) == ["csvdesk:c-1", "csvdesk:c-2", "desk:d-1", "desk:d-2"]
    for record, doc in zip(records, docs, strict=True):
        assert record.key == (doc.primary_ticker or "").encode()
        assert doc.namespace == ns
        assert doc.ingested_at == NOW
    jpm = next(d for d in docs if d.id == "desk:d-2")
    assert jpm.published_at == datetime(2015, 10, 13, 11, tzinfo=UTC)

    letters = read_topic(settings, topic + ".dlq")
    assert len(letters) == 6
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["original_topic"] == topic.encode()
        assert headers["reason"]
    assert b"not json at all" in [r.value for r in letters]


def test_ingesting_the_same_file_again_produces_nothing_new(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    topic = topic_factory("ingest")
    ingest = IngestSettings()
    path = [FIXTURES / "documents.jsonl"]
    for expected in (2, 0):
        with open_ingestor(settings, ingest, namespace=ns, topic=topic) as ingestor:
            report = ingestor.run(read_files(path, ingest.max_raw_bytes))
        assert report.produced == expected
        assert report.balanced
    assert len(read_topic(settings, topic)) == 2
