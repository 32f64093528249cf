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
import time
from collections.abc import Callable
from typing import Protocol

from kafka import TopicPartition
from kafka.errors import IllegalStateError

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0
"""At most one INFO line about switching per this many seconds (see `Backlog`)."""


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

    Each switch is logged at INFO, but at most once per `LOG_EVERY_S`: a load that hovers
    around capacity could switch every few seconds and bury the log. Switches inside the
    quiet time go to DEBUG, and once it is over the next update says the current state
    and how many switches there were, so the last INFO line is never a stale state.

    Args:
        consumer: The runner's consumer.
        enter_at: Waiting records that make the consumer backlogged; `None` never does.
        monotonic: The clock of the log's quiet time.
    """

    def __init__(
        self,
        consumer: _Positions,
        enter_at: int | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._enter_at = enter_at
        self._monotonic = monotonic
        self._next: dict[int, int] = {}
        self._logged_at: float | None = None
        self._unlogged = 0  # switches since the last INFO line
        self.active = False

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

    def update(self, polled: dict[int, tuple[int, int]]) -> bool:
        """After a poll, before its records are taken: whether the consumer is behind.

        Args:
            polled: Each partition of the poll, with its first and last offset. The poll's
                own records count as waiting: without them a consumer started on a deep
                backlog would batch its first poll, often thousands of records, for
                latency. Its first offset is also where a rewind left the partition.
        """
        if self._enter_at is None:
            return False
        for partition, (first, _) in polled.items():
            self._next[partition] = first
        waiting = self.waiting()
        for partition, (_, last) in polled.items():
            self._next[partition] = last + 1  # the runner takes the whole poll next
        if not self.active and waiting >= self._enter_at:
            self.active = True
            self._switched(waiting)
        elif self.active and waiting < self._enter_at // 2:
            self.active = False
            self._switched(waiting)
        elif self._unlogged and self._quiet_time_over():
            self._log(logging.INFO, waiting)
        return self.active

    def _switched(self, waiting: int) -> None:
        self._unlogged += 1
        self._log(logging.INFO if self._quiet_time_over() else logging.DEBUG, waiting)

    def _quiet_time_over(self) -> bool:
        return self._logged_at is None or self._monotonic() - self._logged_at >= LOG_EVERY_S

    def _log(self, level: int, waiting: int) -> None:
        message = (
            "behind: batching for throughput until the backlog drains"
            if self.active
            else "caught up: batching for latency again"
        )
        extra = {"waiting": waiting}
        if level == logging.INFO:
            if self._unlogged > 1:
                extra["switches"] = self._unlogged  # since the last INFO line
            self._logged_at, self._unlogged = self._monotonic(), 0
        log.log(level, message, extra=extra)
