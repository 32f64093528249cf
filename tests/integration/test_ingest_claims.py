"""Dedupe claims around produce failures (real Redis; a stand-in producer makes the
failures happen exactly where the test needs them). A client's retry after a failure must
never be answered "duplicate" for a document that is not on the topic."""

from __future__ import annotations

import threading
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
from ingest.ingestor import Handled, Ingestor
from ingest.models import RawItem
from ingest.normalize import Normalizer
from ingest.settings import IngestSettings
from tests.integration.conftest import own_words


class Record(Future):  # type: ignore[misc]
    def get(self, timeout: float | None = None) -> Any:
        if not self.is_done:
            raise KafkaTimeoutError("not acknowledged in time")
        if self.exception is not None:
            raise self.exception
        return self.value


class Producer:
    """Refuses the send numbered `refuse_at`, fails (after sending) those in `fail`, and
    leaves records unsettled when `hold`."""

    def __init__(
        self, refuse_at: int | None = None, hold: bool = False, fail: frozenset[int] = frozenset()
    ) -> None:
        self.refuse_at = refuse_at
        self.hold = hold
        self.fail = fail
        self.records: list[Record] = []

    def send(self, topic: str, **kw: Any) -> Record:
        if self.refuse_at is not None and len(self.records) == self.refuse_at:
            raise KafkaTimeoutError("metadata not available")
        record = Record()
        if len(self.records) in self.fail:
            record.failure(NotLeaderForPartitionError())
        elif not self.hold:
            record.success(None)
        self.records.append(record)
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
            # Its own words: texts that differ only in numbers are near duplicates.
            text=f"Apple story number {i} with its own words {own_words(i)}",
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


def outcomes(results: list[list[Handled] | TransientError]) -> list[list[str] | str]:
    """Each request's outcomes, or "503" where it failed."""
    return [[h.outcome for h in r] if isinstance(r, list) else "503" for r in results]


@pytest.mark.parametrize(
    ("producer", "first_answers", "retry_answers"),
    [
        # Record 1 (docs[1]) is not acknowledged: only its request fails. On retry it is
        # new again; everything acknowledged is a duplicate, the failed request's other
        # document included (as for one request alone).
        (
            Producer(fail=frozenset({1})),
            [["produced"], "503", ["produced"]],
            [["duplicate"], ["produced"], ["duplicate"], ["duplicate"]],
        ),
        # The producer refuses send 2 (docs[2]): its request fails, and so does every
        # request after it, whose records were never sent and whose claims are freed;
        # docs[1] was sent and acknowledged before the refusal, so it is a duplicate.
        (
            Producer(refuse_at=2),
            [["produced"], "503", "503"],
            [["duplicate"], ["duplicate"], ["produced"], ["produced"]],
        ),
    ],
    ids=["not-acknowledged", "refused-at-send"],
)
def test_grouped_requests_fail_alone_and_a_retry_is_never_a_false_duplicate(
    redis_client: redis.Redis,
    normalizer: Normalizer,
    ns: str,
    producer: Producer,
    first_answers: list[list[str] | str],
    retry_answers: list[list[str] | str],
) -> None:
    docs = items(4)
    first = ingestor(redis_client, normalizer, producer, ns)
    results = first.handle_groups_and_wait([[docs[0]], [docs[1], docs[2]], [docs[3]]])
    assert outcomes(results) == first_answers
    retry = ingestor(redis_client, normalizer, Producer(), ns)
    assert outcomes(retry.handle_groups_and_wait([[d] for d in docs])) == retry_answers


def test_groups_decide_as_if_handled_one_after_another_when_an_id_is_busy(
    redis_client: redis.Redis, normalizer: Normalizer, ns: str
) -> None:
    docs = items(4)
    held = Producer(hold=True)
    other = ingestor(redis_client, normalizer, held, ns)
    with pytest.raises(TransientError):
        other.handle_and_wait([docs[3]], timeout_s=0.05)  # docs[3] is in flight elsewhere
    grouped = ingestor(redis_client, normalizer, Producer(), ns)
    # The same id twice in two requests, and an id another process is publishing: one
    # by one, the second request is a duplicate of the first (acknowledged by then), not
    # a "still being published" error, and only the busy request is told to retry.
    results = grouped.handle_groups_and_wait([[docs[0]], [docs[0]], [docs[3]], [docs[1]]])
    assert outcomes(results) == [["produced"], ["duplicate"], "503", ["produced"]]
    assert "still being published" in str(results[2])


def test_a_push_repeating_a_document_this_process_is_publishing_waits_for_it(
    redis_client: redis.Redis, normalizer: Normalizer, ns: str
) -> None:
    held = Producer(hold=True)
    one = ingestor(redis_client, normalizer, held, ns)
    doc = items(1)
    with pytest.raises(TransientError, match="not acknowledged"):
        one.handle_and_wait(doc, timeout_s=0.05)  # its ack is late: the record is in flight
    threading.Timer(0.2, held.records[0].success, args=(None,)).start()
    # The same story again, in the same process (two pushes of one headline at once): not
    # a 503 to retry, but its answer once the first copy is on the topic.
    assert [h.outcome for h in one.handle_and_wait(doc, timeout_s=5)] == ["duplicate"]
