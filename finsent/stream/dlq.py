"""Dead-letter producer: invalid messages go to `<topic>.dlq` with the reason, never dropped."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata

from finsent.errors import DlqLimitExceeded

log = logging.getLogger(__name__)


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
    `original_topic`, `original_partition`, `original_offset`, `reason`.

    `max_consecutive` caps invalid messages in a row: past it, raise `DlqLimitExceeded`
    because a stream that is all garbage is a bad deploy, not bad data.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        *,
        max_consecutive: int | None = 1000,
    ) -> None:
        self._producer = producer
        self._max_consecutive = max_consecutive
        self._consecutive = 0
        self._pending: list[FutureRecordMetadata] = []

    def send(self, letter: DeadLetter) -> None:
        headers = [
            ("original_topic", letter.original_topic.encode()),
            ("reason", letter.reason.encode()[:1000]),
        ]
        if letter.original_partition is not None:
            headers.append(("original_partition", str(letter.original_partition).encode()))
        if letter.original_offset is not None:
            headers.append(("original_offset", str(letter.original_offset).encode()))
        future = self._producer.send(
            letter.original_topic + ".dlq",
            value=letter.value if letter.value is not None else b"",
            key=letter.key,
            headers=headers,
        )
        self._pending.append(future)
        log.warning(
            "dead-lettered",
            extra={
                "topic": letter.original_topic,
                "partition": letter.original_partition,
                "offset": letter.original_offset,
                "reason": letter.reason[:200],
            },
        )
        self._consecutive += 1
        if self._max_consecutive is not None and self._consecutive > self._max_consecutive:
            raise DlqLimitExceeded(
                f"{self._consecutive} invalid messages in a row on {letter.original_topic}: "
                "stopping, this looks like a bad deploy rather than bad data"
            )

    def saw_valid(self) -> None:
        """Reset the consecutive-invalid count."""
        self._consecutive = 0

    def flush(self, timeout_s: float = 30.0) -> None:
        """Block until every dead letter is acknowledged; call before committing past them."""
        if not self._pending:
            return
        self._producer.flush(timeout=timeout_s)
        for future in self._pending:
            future.get(timeout=timeout_s)  # raises if the broker refused it
        self._pending.clear()
