"""The replay lane of `finsent run`: its pacer, the probe that says when scoring caught up,
and the clean-up of its topic and group."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from finsent.service import ServiceThread
from finsent.settings import FinsentSettings
from ingest.replay import Pacer

log = logging.getLogger(__name__)


class RunFailed(Exception):
    """`finsent run` cannot finish: the message says why (the scorer's own error)."""


def check_scorer(thread: ServiceThread) -> None:
    """Raise `RunFailed` with the cause if the scoring service is no longer running."""
    if thread.is_alive():
        return
    cause = f"{type(thread.error).__name__}: {thread.error}" if thread.error else "it exited"
    raise RunFailed(f"the scorer stopped before every document was scored ({cause})")


class TrackingPacer(Pacer):
    """The replay's pacer, remembering up to which event time documents went out."""

    def __init__(self, speed: float | None) -> None:
        super().__init__(speed)
        self._current: datetime | None = None
        self.published_before: datetime | None = None
        """Every document with an earlier event time has been handed to the producer."""

    def wait_for(self, event_time: datetime | None) -> None:
        super().wait_for(event_time)
        if event_time is not None:
            self.published_before, self._current = self._current, event_time


class GroupProbe:
    """Tells whether the scoring group has committed up to the end of the documents topic."""

    def __init__(self, base: FinsentSettings, group_id: str, topic: str) -> None:
        from kafka import TopicPartition

        from finsent.kafka_io import make_consumer

        self._settings = base
        self._group = group_id
        self._topic = topic
        self._consumer = make_consumer(base.kafka, group_id=group_id)
        partitions = self._consumer.partitions_for_topic(topic) or set()
        self._tps = [TopicPartition(topic, p) for p in sorted(partitions)]

    def caught_up(self, settle_s: float = 0.0) -> bool:
        time.sleep(settle_s)  # lets the producer's last linger reach the broker
        # Ends first: whatever was produced by now must be committed to count as done.
        ends = self._consumer.end_offsets(self._tps)
        return all((self._consumer.committed(tp) or 0) >= ends[tp] for tp in self._tps)

    def wait_caught_up(self, check: Callable[[], None], stall_s: float = 600.0) -> None:
        """Wait until the group has committed every document; fail fast otherwise.

        `check` raises if the scorer stopped. While the scorer runs, a stall (no commit
        moving for `stall_s`) fails with what the broker says of the group, instead of
        waiting without end.
        """
        last: dict[Any, int] = {}
        moved_at = time.monotonic()
        while True:
            check()
            committed = {tp: self._consumer.committed(tp) or 0 for tp in self._tps}
            ends = self._consumer.end_offsets(self._tps)
            if all(committed[tp] >= ends[tp] for tp in self._tps):
                return
            if committed != last:
                last, moved_at = committed, time.monotonic()
            elif time.monotonic() - moved_at > stall_s:
                lag = {tp.partition: ends[tp] - committed[tp] for tp in self._tps}
                raise RunFailed(
                    f"scoring stalled for {stall_s:.0f} s with lag {lag} on {self._topic} "
                    f"(group {self._group}: {self.describe_group()})"
                )
            time.sleep(0.5)

    def describe_group(self) -> str:
        """The broker's view of the group: its state and members' partitions."""
        from finsent.kafka_io import make_admin

        try:
            admin = make_admin(self._settings.kafka)
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return f"not described: {exc}"
        try:
            info = admin.describe_groups([self._group])[self._group]
            return f"state {info.get('group_state')}, {len(info.get('members') or [])} members"
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return f"not described: {exc}"
        finally:
            admin.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._consumer.close(autocommit=False)


def drop_lane(base: FinsentSettings, topic: str, group: str) -> None:
    """Delete the run's documents topic and group (its `.dlq` stays for inspection)."""
    from finsent.kafka_io import make_admin

    try:
        admin = make_admin(base.kafka)
    except Exception:  # best-effort cleanup: the broker may be gone
        log.warning("could not drop the replay lane", exc_info=True)
        return
    try:
        with contextlib.suppress(Exception):
            admin.delete_groups([group])
        with contextlib.suppress(Exception):
            admin.delete_topics([topic])
    finally:
        admin.close()
