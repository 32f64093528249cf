"""Rebalances, handed from kafka-python's I/O thread to the polling thread.

The listener only sets flags (STYLE.md section 10); the runner's polling thread reads
them before its next step, drops uncommitted work and rewinds.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener

log = logging.getLogger(__name__)


class Revocations:
    """Set by the rebalance listener on kafka-python's I/O thread, read by the poll thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._flag = False
        self._awaiting_assignment = False

    def revoked(self, partitions: set[int]) -> None:
        with self._lock:
            self._pending |= partitions
            self._flag = True
            self._awaiting_assignment = True

    def assigned(self) -> None:
        """A rebalance completed; still a reason to rewind (see `RebalanceListener`)."""
        with self._lock:
            self._flag = True
            self._awaiting_assignment = False

    @property
    def awaiting_assignment(self) -> bool:
        """Revoked (or lost) and not assigned since: a rebalance is under way."""
        return self._awaiting_assignment

    def take(self) -> set[int] | None:
        """The partitions revoked since the last call, or None when there was no revocation."""
        with self._lock:
            if not self._flag:
                return None
            taken, self._pending, self._flag = self._pending, set(), False
            return taken

    @property
    def pending(self) -> bool:
        return self._flag


class RebalanceListener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Only flags revocations: the polling thread acts on them (STYLE.md section 10).

    kafka-python 3 runs listeners on its I/O thread; touching the runner's batches from
    here would race the polling thread.
    """

    def __init__(self, revocations: Revocations) -> None:
        self._revocations = revocations

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._revocations.revoked({tp.partition for tp in revoked})

    async def on_partitions_lost(self, lost: Any) -> None:
        self._revocations.revoked({tp.partition for tp in lost})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        # Also a reason to rewind: records fetched for newly assigned partitions while
        # the writer held (or with cooperative rebalancing, where nothing is revoked
        # first) must be read again from the committed offsets, never skipped.
        self._revocations.assigned()
        log.info(
            "partitions assigned", extra={"partitions": sorted(tp.partition for tp in assigned)}
        )
