"""DeadLetterProducer against a stand-in producer: size cap, send errors, no wedging.

(The real broker's refusal of a 1 MiB dead letter is shown over HTTP in
tests/integration/test_ingest_hostile.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future

from finsent.errors import TransientError
from finsent.stream.dlq import MAX_VALUE_BYTES, DeadLetter, DeadLetterProducer


class Pending(Future):  # type: ignore[misc]
    """A record future the test settles by hand (`get` as FutureRecordMetadata has it)."""

    def get(self, timeout: float | None = None) -> Any:
        if not self.is_done:
            raise KafkaTimeoutError("not settled")
        if self.exception is not None:
            raise self.exception
        return self.value


class Producer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.futures: list[Future] = []
        self.refuse: Exception | None = None

    def send(self, topic: str, **kw: Any) -> Future:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append({"topic": topic, **kw})
        future = Pending()
        self.futures.append(future)
        return future

    def flush(self, timeout: float | None = None) -> None:
        pass


def test_values_over_the_cap_are_cut_with_a_header_saying_so() -> None:
    producer = Producer()
    dlq = DeadLetterProducer(producer, max_consecutive=None)
    dlq.send(DeadLetter(b"x" * (1024 * 1024 + 7), "oversized: big", "news"))
    (sent,) = producer.sent
    assert sent["topic"] == "news.dlq"
    assert len(sent["value"]) == MAX_VALUE_BYTES < 1024 * 1024
    assert ("truncated_from", str(1024 * 1024 + 7).encode()) in sent["headers"]
    dlq.send(DeadLetter(b"small", "malformed: x", "news"))
    assert producer.sent[1]["value"] == b"small"
    assert all(k != "truncated_from" for k, _ in producer.sent[1]["headers"])


def test_a_refused_send_is_a_transient_error() -> None:
    producer = Producer()
    producer.refuse = MessageSizeTooLargeError("too big")
    dlq = DeadLetterProducer(producer, max_consecutive=None)
    with pytest.raises(TransientError, match="dead-letter produce failed"):
        dlq.send(DeadLetter(b"v", "malformed: x", "news"))


def test_a_failed_flush_is_reported_once_and_does_not_wedge_later_flushes() -> None:
    producer = Producer()
    dlq = DeadLetterProducer(producer, max_consecutive=None)
    dlq.send(DeadLetter(b"v", "malformed: x", "news"))
    producer.futures[0].failure(KafkaTimeoutError("delivery timed out"))
    with pytest.raises(TransientError):
        dlq.flush(timeout_s=0.1)
    dlq.flush(timeout_s=0.1)  # the outage is over: nothing stale is re-raised
    dlq.send(DeadLetter(b"w", "malformed: y", "news"))
    producer.futures[1].success(None)
    dlq.flush(timeout_s=0.1)
