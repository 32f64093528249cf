"""Dedupe claims around produce failures (real Redis; a stand-in producer makes the
failures happen exactly where the test needs them). A client's retry after a failure must
never be answered "duplicate" for a document that is not on the topic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from kafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from kafka.future import Future

from finsent.errors import TransientError
from finsent.stream.dlq import DeadLetterProducer
from ingest.dedupe import DedupeConfig, Deduplicator, drop_namespace_keys
from ingest.ingestor import Ingestor
from ingest.models import RawItem
from ingest.normalize import Normalizer
from ingest.settings import IngestSettings


class Record(Future):  # type: ignore[misc]
    def get(self, timeout: float | None = None) -> Any:
        if not self.is_done:
            raise KafkaTimeoutError("not acknowledged in time")
        if self.exception is not None:
            raise self.exception
        return self.value


class Producer:
    """Refuses the send numbered `refuse_at`; leaves records unsettled when `hold`."""

    def __init__(self, refuse_at: int | None = None, hold: bool = False) -> None:
        self.refuse_at = refuse_at
        self.hold = hold
        self.records: list[Record] = []

    def send(self, topic: str, **kw: Any) -> Record:
        if self.refuse_at is not None and len(self.records) == self.refuse_at:
            raise KafkaTimeoutError("metadata not available")
        record = Record()
        self.records.append(record)
        if not self.hold:
            record.success(None)
        return record

    def flush(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture
def ns(redis_client: redis.Redis, namespace: str) -> Iterator[str]:
    yield namespace
    drop_namespace_keys(redis_client, namespace)


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer.from_settings(IngestSettings())


def items(n: int) -> list[RawItem]:
    return [
        RawItem(
            source="push:desk",
            source_id=f"push:desk:{i}",
            text=f"Apple story number {i} with its own words {i * 7}",
            published_at=datetime(2026, 1, 5, 12, i, tzinfo=UTC),
        )
        for i in range(n)
    ]


def ingestor(
    redis_client: redis.Redis, normalizer: Normalizer, producer: Producer, ns: str
) -> Ingestor:
    dedupe = Deduplicator(redis_client, DedupeConfig())
    dlq = DeadLetterProducer(producer, max_consecutive=None)
    return Ingestor(normalizer, dedupe, producer, dlq, namespace=ns)


def test_a_produce_failing_mid_batch_releases_every_unpublished_claim(
    redis_client: redis.Redis, normalizer: Normalizer, ns: str
) -> None:
    first = ingestor(redis_client, normalizer, Producer(refuse_at=2), ns)
    with pytest.raises(TransientError):
        first.handle_and_wait(items(5))
    # The retry: the two sent before the failure are on the topic (duplicates), the
    # three after it were never sent and are new again.
    retry = ingestor(redis_client, normalizer, Producer(), ns)
    outcomes = [h.outcome for h in retry.handle_and_wait(items(5))]
    assert outcomes == ["duplicate", "duplicate", "produced", "produced", "produced"]


def test_an_unacknowledged_document_is_never_a_duplicate_and_is_freed_when_it_fails(
    redis_client: redis.Redis, normalizer: Normalizer, ns: str
) -> None:
    held = Producer(hold=True)
    first = ingestor(redis_client, normalizer, held, ns)
    with pytest.raises(TransientError):
        first.handle_and_wait(items(1), timeout_s=0.05)  # the ack did not come in time
    retry = ingestor(redis_client, normalizer, Producer(), ns)
    with pytest.raises(TransientError, match="still being published"):
        retry.handle_and_wait(items(1))  # not "duplicate": it may still fail
    held.records[0].failure(NotLeaderForPartitionError())  # ...and it does
    first.flush(timeout_s=0.1)  # the first process settles it: claim released
    assert [h.outcome for h in retry.handle_and_wait(items(1))] == ["produced"]
    assert [h.outcome for h in retry.handle_and_wait(items(1))] == ["duplicate"]
