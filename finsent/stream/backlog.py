"""Whether a consumer is behind, and so should batch for throughput rather than latency.

A latency target (`BatchPolicy.target_batch_s`) keeps batches small so that a record which
arrives while the model is idle is written quickly. That is right while the consumer keeps
up, and wrong once records queue in Kafka: a record behind hundreds of others already waits
for all of them, and small batches make the whole queue drain slower (on a 2-core CPU,
batches of about 36 tweets scored 217-246 texts/s where 256 scored 283-310:
docs/benchmarks.md, "Backlog batching"). So while
the backlog is deep, batches are sized for throughput; once it is drained, for latency
again. Scores do not depend on the batch (docs/model.md), so the switch changes no result.
"""

from __future__ import annotations

import logging
from typing import Protocol

from kafka import TopicPartition
from kafka.errors import IllegalStateError

log = logging.getLogger(__name__)


class _Positions(Protocol):
    """What the backlog reads of a KafkaConsumer: local state only, no request."""

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...


class Backlog:
    """Records in Kafka that this consumer has not taken yet, with hysteresis.

    Counted from the highwater marks that fetch responses carry (so no extra request) and
    the next offset of each partition this consumer will take. Enters the backlogged
    state at `enter_at` waiting records and leaves it below half of that, so a consumer
    near the threshold does not flap between batch sizes.

    Args:
        consumer: The runner's consumer.
        enter_at: Waiting records that make the consumer backlogged; `None` never does.
    """

    def __init__(self, consumer: _Positions, enter_at: int | None) -> None:
        self._consumer = consumer
        self._enter_at = enter_at
        self._next: dict[int, int] = {}
        self.active = False

    def polled(self, first_offsets: dict[int, int]) -> None:
        """Note where each partition of a poll starts: its records wait until taken.

        Without it a partition's first poll would count as nothing waiting (its position
        is not known before a record of it is taken), and a consumer started on a deep
        backlog would batch its first poll, often thousands of records, for latency.
        """
        for partition, offset in first_offsets.items():
            self._next.setdefault(partition, offset)

    def forget(self) -> None:
        """Partitions were seeked back (a rewind): learn their positions from polls again."""
        self._next.clear()

    def consumed(self, partition: int, offset: int) -> None:
        """Note the record the runner just took."""
        self._next[partition] = offset + 1

    def waiting(self) -> int:
        """Records past the ones taken, on the assigned partitions (0 where unknown)."""
        total = 0
        for tp in self._consumer.assignment():
            try:
                highwater = self._consumer.highwater(tp)
            except IllegalStateError:
                continue  # revoked since `assignment()`: kafka-python rebalances on its I/O thread
            taken = self._next.get(tp.partition)
            if highwater is not None and taken is not None:
                total += max(0, highwater - taken)
        return total

    def update(self) -> bool:
        """Re-evaluate after a poll; returns whether the consumer is backlogged now."""
        if self._enter_at is None:
            return False
        waiting = self.waiting()
        if not self.active and waiting >= self._enter_at:
            self.active = True
            log.info(
                "behind: batching for throughput until the backlog drains",
                extra={"waiting": waiting},
            )
        elif self.active and waiting < self._enter_at // 2:
            self.active = False
            log.info("caught up: batching for latency again", extra={"waiting": waiting})
        return self.active
