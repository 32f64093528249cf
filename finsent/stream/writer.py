"""Writes with retry: a `TransientError` pauses fetching and backs off until the sink is back.

Nothing is committed while a write is retried, and nothing is dead-lettered for it: a
dependency that is down (Redis out of memory, read-only during a failover, the broker
restarting) is not bad input. Only the sink's per-item refusals come back as `Rejected`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

from finsent.errors import TransientError
from finsent.stream.base import BatchHandler, Envelope, Rejected, RetryPolicy, RunnerObserver

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Hold(Protocol):
    """How the writer waits between attempts without losing its place in the group."""

    def pause(self) -> None:
        """Stop fetching new records (the consumer keeps its group membership)."""
        ...

    def hold(self, seconds: float) -> bool:
        """Wait about `seconds` while staying in the group; True means give up the write
        (the partitions were revoked, or the shutdown grace ran out)."""
        ...

    def resume(self) -> None:
        """Fetch again."""
        ...


class RetryingWriter(Generic[T, R]):
    """Writes a batch until the sink takes it, backing off exponentially in between."""

    def __init__(
        self,
        handler: BatchHandler[T, Any, R],
        retry: RetryPolicy,
        observer: RunnerObserver,
        hold: Hold,
    ) -> None:
        self._handler = handler
        self._retry = retry
        self._observer = observer
        self._hold = hold
        self.failures = 0

    def write(
        self, envelopes: Sequence[Envelope[T]], results: Sequence[R]
    ) -> Sequence[Rejected] | None:
        """The sink's refusals once written; None when the write was given up."""
        backoff = self._retry.initial_backoff_s
        paused = False
        try:
            while True:
                try:
                    return self._handler.write(envelopes, results)
                except TransientError as exc:
                    self.failures += 1
                    reason = str(exc)[:200]
                    self._observer.write_retried(reason.split(":", 1)[0])
                    self._observer.ready(False)
                    log.warning(
                        "write failed, pausing and backing off",
                        extra={"error": reason, "backoff_s": backoff, "attempt": self.failures},
                    )
                    if not paused:
                        self._hold.pause()
                        paused = True
                    if self._hold.hold(backoff):
                        return None
                    backoff = min(backoff * 2, self._retry.max_backoff_s)
        finally:
            if paused:
                self._hold.resume()
                self._observer.ready(True)
