"""A fake Kafka consumer and a fake batch handler for unit tests of the stream runner's logic.

Only the runner's own logic is under test here (batching, offsets, rebalances, retries);
the real broker is used by tests/integration. The fake consumer keeps kafka-python's
semantics that the runner relies on: per-partition positions advanced by `poll`, commits
of "next offset to read", `seek`, pause/resume, and rebalance listeners whose callbacks
are coroutines run on another thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from finsent.errors import InvalidMessage, Reason, TransientError
from finsent.stream.base import Envelope, Rejected
from finsent.stream.dlq import DeadLetterProducer

TOPIC = "docs.v1"


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    timestamp: int
    value: bytes | None
    key: bytes | None = None


class FakeConsumer:
    """Serves fixed per-partition logs; records commits, pauses and seeks."""

    def __init__(self, logs: dict[int, list[bytes]], max_records: int = 5) -> None:
        self.logs = logs
        self.max_records = max_records
        self.positions = dict.fromkeys(logs, 0)
        self.committed_offsets: dict[int, int] = {}
        self.commits: list[dict[int, int]] = []
        self.assigned: set[int] = set(logs)
        self.paused_parts: set[int] = set()
        self.listener: Any = None
        self.polls = 0
        self.timeouts: list[int] = []  # each poll's timeout_ms
        self.closed = False
        self.on_poll: list[Callable[[FakeConsumer], None]] = []
        self.on_commit: list[Callable[[dict[int, int]], None]] = []

    def tp(self, partition: int) -> TopicPartition:
        return TopicPartition(TOPIC, partition)

    def subscribe(self, topics: Sequence[str], listener: Any = None) -> None:
        assert list(topics) == [TOPIC]
        self.listener = listener

    def poll(self, timeout_ms: int = 0, update_offsets: bool = True) -> dict[Any, list[Record]]:
        self.polls += 1
        self.timeouts.append(timeout_ms)
        for hook in list(self.on_poll):
            hook(self)
        out: dict[Any, list[Record]] = {}
        for p in sorted(self.assigned - self.paused_parts):
            start = self.positions[p]
            values = self.logs[p][start : start + self.max_records]
            if values:
                out[self.tp(p)] = [
                    Record(p, start + i, 1_700_000_000_000 + start + i, v)
                    for i, v in enumerate(values)
                ]
                self.positions[p] = start + len(values)
        return out

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        plain = {tp.partition: meta.offset for tp, meta in offsets.items()}
        for hook in self.on_commit:
            hook(plain)
        self.commits.append(plain)
        self.committed_offsets.update(plain)

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.committed_offsets.get(tp.partition)

    def assignment(self) -> set[TopicPartition]:
        return {self.tp(p) for p in self.assigned}

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_parts |= {tp.partition for tp in tps}

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_parts -= {tp.partition for tp in tps}

    def paused(self) -> set[TopicPartition]:
        return {self.tp(p) for p in self.paused_parts}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp.partition] = offset

    def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp.partition] = 0

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp.partition]

    def highwater(self, tp: TopicPartition) -> int | None:
        return len(self.logs[tp.partition])

    def end_offsets(
        self, tps: Sequence[TopicPartition], timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        return {tp: len(self.logs[tp.partition]) for tp in tps}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.logs)

    def close(self, autocommit: bool = True) -> None:
        self.closed = True

    # -- helpers for tests ------------------------------------------------------------

    def all_read(self) -> bool:
        return all(self.positions[p] >= len(self.logs[p]) for p in self.logs)

    def revoke_on_io_thread(self, partitions: set[int], then_assign: set[int]) -> None:
        """What kafka-python 3 does: listener coroutines run on its own thread."""

        def io() -> None:
            revoked = {self.tp(p) for p in partitions}
            asyncio.run(self.listener.on_partitions_revoked(revoked))
            self.assigned = set(then_assign)
            for p in then_assign:  # a new assignment starts from the committed offset
                self.positions[p] = self.committed_offsets.get(p, 0)
            asyncio.run(self.listener.on_partitions_assigned({self.tp(p) for p in then_assign}))

        thread = threading.Thread(target=io)
        thread.start()
        thread.join()


class _Future:
    def __init__(self, error: Exception | None = None) -> None:
        self._error = error

    def get(self, timeout: float | None = None) -> None:
        if self._error is not None:
            raise self._error


class FakeProducer:
    """Stands in for the dead-letter producer's KafkaProducer: records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []
        self.flushes = 0

    def send(self, topic: str, value: bytes, key: bytes | None, headers: Any) -> _Future:
        self.sent.append((topic, value, dict(headers)))
        return _Future()

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def offsets(self) -> set[tuple[int, int]]:
        """(partition, offset) of every dead letter sent."""
        return {(int(h["original_partition"]), int(h["original_offset"])) for _, _, h in self.sent}


class FakeHandler:
    """Items are texts; cost is their length; the model returns the length; writes are kept.

    `broken` fails every compute (a broken model); `poison` texts fail on their own;
    `write_failures` makes that many writes raise `TransientError` first.
    """

    def __init__(self) -> None:
        self.written: list[tuple[int, int]] = []  # (partition, offset), in write order
        self.broken = False
        self.canary_broken = False
        self.poison: set[str] = set()
        self.write_failures = 0
        self.write_calls = 0
        self.refuse: set[str] = set()
        self.sizes: list[int] = []  # of every batch given to compute, the canary left out

    def decode(self, raw: bytes | None) -> str:
        if raw is None or raw.startswith(b"bad"):
            raise InvalidMessage(Reason.MALFORMED, "not a document")
        return raw.decode()

    def cost(self, item: str) -> int:
        return len(item)

    def canary(self) -> str:
        return "canary"

    def prepare(self, items: Sequence[str]) -> list[str]:
        return list(items)

    def compute(self, prepared: list[str]) -> list[int]:
        if prepared != ["canary"]:
            self.sizes.append(len(prepared))
        if self.broken and not (prepared == ["canary"] and not self.canary_broken):
            raise RuntimeError("CUDA error: device-side assert triggered")
        if any(p in self.poison for p in prepared):
            raise ValueError("cannot score this one")
        return [len(p) for p in prepared]

    def write(self, batch: Sequence[Envelope[str]], results: Sequence[int]) -> list[Rejected]:
        self.write_calls += 1
        if self.write_failures:
            self.write_failures -= 1
            raise TransientError("redis unavailable: OutOfMemoryError")
        refused = [
            Rejected(i, "store refused: too late")
            for i, e in enumerate(batch)
            if e.value in self.refuse
        ]
        refused_at = {r.index for r in refused}
        self.written += [
            (e.partition, e.offset) for i, e in enumerate(batch) if i not in refused_at
        ]
        return refused


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def make_dlq(producer: FakeProducer) -> Callable[..., DeadLetterProducer]:
    def make(max_consecutive: int | None = 1000) -> DeadLetterProducer:
        return DeadLetterProducer(producer, max_consecutive=max_consecutive)

    return make
