"""Dead-letter producer: invalid messages go to `<topic>.dlq` with the reason, never dropped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from finsent.errors import DlqLimitExceeded, TransientError
from finsent.topics import dlq_of

log = logging.getLogger(__name__)

MAX_VALUE_BYTES: Final = 512 * 1024
"""Dead-letter values are cut to this. Kafka refuses records over 1 MiB (the producer's
`max_request_size` and the broker's `message.max.bytes`), and a rejected input may be
that large: the reason and the first half-MiB say enough to find and fix it."""


@dataclass(frozen=True)
class DeadLetter:
    """One rejected input: its raw bytes and where it came from."""

    value: bytes | None
    reason: str
    original_topic: str
    original_partition: int | None = None
    original_offset: int | None = None
    key: bytes | None = None


class DeadLetterProducer:
    """Sends rejected inputs to `<original_topic>.dlq` with headers that say why.

    Headers (as in getsentry/arroyo's KafkaDlqProducer, plus topic and reason):
    `original_topic`, `original_partition`, `original_offset`, `reason`, and
    `truncated_from` (the original length) when the value was cut to `max_value_bytes`.

    `max_consecutive` caps invalid messages in a row: past it, raise `DlqLimitExceeded`
    because a stream that is all garbage is a bad deploy, not bad data.

    Thread-safe: the push API's request threads share one.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        *,
        max_consecutive: int | None = 1000,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self._producer = producer
        self._max_consecutive = max_consecutive
        self._max_value_bytes = max_value_bytes
        self._consecutive = 0
        self._lock = threading.Lock()
        self._pending: list[FutureRecordMetadata] = []

    def send(self, letter: DeadLetter) -> FutureRecordMetadata:
        """Queue one dead letter; `flush` (or `wait` on the returned future) before committing.

        Raises:
            TransientError: the producer refused it (broker metadata unavailable, buffer full).
            DlqLimitExceeded: too many invalid messages in a row.
        """
        value = letter.value if letter.value is not None else b""
        headers = [
            ("original_topic", letter.original_topic.encode()),
            ("reason", letter.reason.encode()[:1000]),
        ]
        if letter.original_partition is not None:
            headers.append(("original_partition", str(letter.original_partition).encode()))
        if letter.original_offset is not None:
            headers.append(("original_offset", str(letter.original_offset).encode()))
        if len(value) > self._max_value_bytes:
            headers.append(("truncated_from", str(len(value)).encode()))
            value = value[: self._max_value_bytes]
        try:
            future = self._producer.send(
                dlq_of(letter.original_topic), value=value, key=letter.key, headers=headers
            )
        except KafkaError as exc:
            raise TransientError(f"dead-letter produce failed: {type(exc).__name__}") from exc
        log.warning(
            "dead-lettered",
            extra={
                "topic": letter.original_topic,
                "partition": letter.original_partition,
                "offset": letter.original_offset,
                "reason": letter.reason[:200],
            },
        )
        with self._lock:
            self._pending.append(future)
            self._consecutive += 1
            consecutive = self._consecutive
        if self._max_consecutive is not None and consecutive > self._max_consecutive:
            raise DlqLimitExceeded(
                f"{consecutive} invalid messages in a row on {letter.original_topic}: "
                "stopping, this looks like a bad deploy rather than bad data"
            )
        return future

    def saw_valid(self) -> None:
        """Reset the consecutive-invalid count."""
        with self._lock:
            self._consecutive = 0

    def flush(self, timeout_s: float = 30.0) -> None:
        """Block until every dead letter sent so far is acknowledged.

        The pending list is taken first, so a failure is reported once, to this caller,
        and never wedges later calls (it used to re-raise on every flush after an outage).

        Raises:
            TransientError: the broker did not acknowledge one of them in time.
        """
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise TransientError(f"dead letters not acknowledged: {type(exc).__name__}") from exc
        self.wait(pending, timeout_s)

    def wait(self, futures: Sequence[FutureRecordMetadata], timeout_s: float = 30.0) -> None:
        """Block until these dead letters are acknowledged (without flushing anyone else's).

        Raises:
            TransientError: the broker refused one or did not answer in time.
        """
        for future in futures:
            try:
                future.get(timeout=timeout_s)
            except KafkaError as exc:
                raise TransientError(f"dead letter not acknowledged: {type(exc).__name__}") from exc
        with self._lock:
            done = set(map(id, futures))
            self._pending = [f for f in self._pending if id(f) not in done]
