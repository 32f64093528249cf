"""Consumer lag per partition, and failing fast when the consumer is out of its group."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from finsent.stream.base import RunnerObserver
from finsent.stream.errors import NotInGroup


class LagMonitor:
    """Reports each assigned partition's lag to the observer, at most once an interval.

    Lag is best-effort telemetry: a broker error skips a report. Having no partition for
    `unassigned_timeout_s` while the topic has unconsumed records raises `NotInGroup`.
    """

    def __init__(
        self,
        consumer: KafkaConsumer,
        topic: str,
        observer: RunnerObserver,
        *,
        interval_s: float,
        unassigned_timeout_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._observer = observer
        self._interval_s = interval_s
        self._unassigned_timeout_s = unassigned_timeout_s
        self._clock = clock
        self._unassigned_since: float | None = None
        self._last_check = float("-inf")
        self._last_processed_ts: dict[int, int] = {}
        self._reported: set[int] = set()

    def processed(self, partition: int, timestamp_ms: int) -> None:
        """A record of `partition` with this timestamp was written or dead-lettered."""
        self._last_processed_ts[partition] = timestamp_ms

    def forget_processed(self) -> None:
        """Uncommitted work was dropped: its records no longer count as processed."""
        self._last_processed_ts.clear()

    def take_reported(self) -> set[int]:
        """The partitions lag was reported for since the last call."""
        taken, self._reported = self._reported, set()
        return taken

    def report(self) -> None:
        """Report lag when the interval has passed.

        Raises:
            NotInGroup: no partition for `unassigned_timeout_s` while the topic has lag.
        """
        now = self._clock()
        if now - self._last_check < self._interval_s:
            return
        self._last_check = now
        assignment = self._consumer.assignment()
        if not assignment:
            self._check_unassigned(now)
            return
        self._unassigned_since = None
        try:
            ends = self._consumer.end_offsets(list(assignment))
        except KafkaError:
            return  # lag is best-effort telemetry
        wall_ms = time.time() * 1000
        for tp in assignment:
            behind = max(0, ends.get(tp, 0) - self._consumer.position(tp))
            last_ts = self._last_processed_ts.get(tp.partition)
            seconds = (wall_ms - last_ts) / 1000 if behind and last_ts else 0.0
            self._observer.lag(tp.partition, behind, max(0.0, seconds))
            self._reported.add(tp.partition)

    def _check_unassigned(self, now: float) -> None:
        """Fail fast instead of spinning with no partition while the topic has lag."""
        if self._unassigned_since is None:
            self._unassigned_since = now
            return
        if now - self._unassigned_since < self._unassigned_timeout_s:
            return
        lagging = self._group_lag()
        if lagging:
            raise NotInGroup(
                f"no partition of {self._topic} assigned for "
                f"{now - self._unassigned_since:.0f} s while partitions {sorted(lagging)} "
                "have unconsumed records: the consumer is not in its group"
            )

    def _group_lag(self) -> dict[int, int]:
        """Partitions of the topic whose committed offset (this group) is behind the end."""
        try:
            partitions = self._consumer.partitions_for_topic(self._topic) or set()
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            # Bounded waits: this runs exactly when the coordinator may be unreachable.
            ends = self._consumer.end_offsets(tps, timeout_ms=10_000)
            committed = {tp: self._consumer.committed(tp, timeout_ms=10_000) or 0 for tp in tps}
            return {
                tp.partition: ends[tp] - committed[tp] for tp in tps if ends[tp] > committed[tp]
            }
        except KafkaError:
            return {}
