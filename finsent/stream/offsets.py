"""Per-partition offset tracking: a commit never passes the lowest unwritten offset.

Every consumed record is tracked until it is done (written, or dead-lettered and the dead
letter acknowledged). The commit point of a partition is its lowest offset not yet done,
or one past the last consumed record when all are done. Done-ness arrives out of order
(a dead letter is done at once while earlier records still wait in a batch), so the
commit point is derived from the pending set, never from "the last record I saw".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class _PartitionOffsets:
    __slots__ = ("done", "next_offset", "pending")

    def __init__(self) -> None:
        self.pending: deque[int] = deque()  # consumed, in order; done ones popped from the front
        self.done: set[int] = set()  # done but not yet at the front of `pending`
        self.next_offset = -1

    def commit_point(self) -> int:
        while self.pending and self.pending[0] in self.done:
            self.done.discard(self.pending.popleft())
        return self.pending[0] if self.pending else self.next_offset


class OffsetTracker:
    """Knows, per partition, up to where a commit is safe."""

    def __init__(self) -> None:
        self._parts: dict[int, _PartitionOffsets] = {}
        self._committed: dict[int, int] = {}

    def consumed(self, partition: int, offset: int) -> None:
        """A record was read; it holds back commits until `done`."""
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _PartitionOffsets()
            # Where this consumer started reading: committing it again would say nothing.
            self._committed.setdefault(partition, offset)
        if offset < part.next_offset:
            # Read again after a rewind: its first copy still holds the commit point (or
            # is already done, and rewriting it is idempotent).
            return
        part.pending.append(offset)
        part.next_offset = offset + 1

    def done(self, partition: int, offset: int) -> None:
        """A record was written or dead-lettered."""
        part = self._parts.get(partition)
        if part is not None:
            part.done.add(offset)

    def lowest_unwritten(self, partition: int) -> int | None:
        """The lowest consumed offset not yet done, or None."""
        part = self._parts.get(partition)
        if part is None:
            return None
        point = part.commit_point()
        return point if part.pending else None

    def committable(self) -> dict[int, int]:
        """Partitions whose safe commit point moved since the last `committed` call."""
        out: dict[int, int] = {}
        for partition, part in self._parts.items():
            point = part.commit_point()
            if point > self._committed.get(partition, -1):
                out[partition] = point
        return out

    def committed(self, offsets: dict[int, int]) -> None:
        """The broker acknowledged a commit of `offsets`."""
        for partition, offset in offsets.items():
            self._committed[partition] = max(offset, self._committed.get(partition, -1))

    def pending(self) -> int:
        """Records consumed and not yet done, over all partitions."""
        return sum(len(p.pending) - len(p.done) for p in self._parts.values())

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is known of partitions this consumer no longer owns."""
        for partition in partitions:
            self._parts.pop(partition, None)
            self._committed.pop(partition, None)

    def clear(self) -> None:
        self._parts.clear()
        self._committed.clear()
