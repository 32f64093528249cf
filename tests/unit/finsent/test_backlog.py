"""A consumer far behind batches for throughput, then for latency again once caught up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from kafka import TopicPartition
from kafka.errors import IllegalStateError

from finsent.stream.backlog import LOG_EVERY_S, Backlog
from finsent.stream.batching import BatchBuilder, BatchPolicy
from finsent.stream.dlq import DeadLetterProducer
from finsent.stream.runner import StreamRunner
from tests.unit.finsent.conftest import TOPIC, FakeConsumer, FakeHandler
from tests.unit.finsent.test_runner import stop_when_drained


class Positions:
    def __init__(self, highwater: dict[int, int | None]) -> None:
        self.marks = highwater

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in self.marks}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.marks[tp.partition]


def test_waiting_counts_what_a_poll_returned_before_it_is_taken() -> None:
    marks: dict[int, int | None] = {0: 1000, 1: 500, 2: None}
    assert Backlog(Positions(marks), enter_at=100).waiting() == 0  # nothing known yet
    # A first poll: partition 0 starts at its committed 200. Before it is taken, 800 + 500
    # wait (exactly: behind at 1300, not at 1301); partition 2 has no highwater yet.
    polled = {0: (200, 249), 1: (0, 99)}
    assert Backlog(Positions(marks), enter_at=1300).update(polled)
    backlog = Backlog(Positions(marks), enter_at=1301)
    assert not backlog.update(polled)
    assert backlog.waiting() == 750 + 400  # the runner has taken the poll since


def test_a_partition_revoked_while_counting_is_skipped_not_fatal() -> None:
    class Revoking(Positions):
        def highwater(self, tp: TopicPartition) -> int | None:
            if tp.partition == 1:  # the I/O thread took it between assignment() and here
                raise IllegalStateError("Partition is not assigned")
            return super().highwater(tp)

    backlog = Backlog(Revoking({0: 1000, 1: 1000}), enter_at=1000)
    assert backlog.update({0: (0, 9), 1: (0, 9)})  # partition 0's 1000; 1 is skipped
    assert backlog.waiting() == 990


def test_enters_at_the_threshold_and_leaves_below_half_of_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    minutes = iter(range(0, 10**6, int(LOG_EVERY_S)))  # switches far apart: each is logged
    backlog = Backlog(Positions({0: 1000}), enter_at=100, monotonic=lambda: next(minutes))
    assert not backlog.update({0: (901, 901)})  # 99 waiting
    with caplog.at_level(logging.INFO, logger="finsent.stream.backlog"):
        assert backlog.update({0: (900, 939)})  # 100: read again from 900 after a rewind
        assert backlog.update({0: (941, 949)})  # 59: still behind (hysteresis)
        assert not backlog.update({0: (951, 960)})  # 49 < 50
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["behind", "caught up"]


def test_never_backlogged_without_a_threshold() -> None:
    backlog = Backlog(Positions({0: 10**6}), enter_at=None)
    assert not backlog.update({0: (0, 0)})


def test_backlogged_builder_uses_the_backlog_limits_and_ignores_the_latency_target() -> None:
    policy = BatchPolicy(
        max_count=4,
        max_tokens=10**6,
        target_batch_s=0.01,
        backlog_at=1,
        backlog_max_count=10,
        backlog_max_tokens=50,
    )
    builder: BatchBuilder[str] = BatchBuilder(policy, len)
    builder.record([10], 1.0)  # 0.1 s per token: the target admits one item only
    builder.add("x" * 5)
    assert builder.full()
    builder.backlogged = True
    assert not builder.full()
    for _ in range(8):
        builder.add("x" * 5)
    assert builder.fits(5) and not builder.full()  # 9 items x 5 = 45 tokens
    assert not builder.fits(6)  # 10 x 6 = 60 > 50
    builder.add("x" * 5)
    assert builder.full()  # 10 items


def _batch_sizes(
    policy: BatchPolicy, make_dlq: Callable[..., DeadLetterProducer]
) -> tuple[list[int], FakeConsumer, FakeHandler]:
    consumer = FakeConsumer({0: [f"doc-{i}".encode() for i in range(300)]}, max_records=50)
    handler = FakeHandler()
    stop_flag = threading.Event()
    runner: StreamRunner[str, list[str], int] = StreamRunner(
        consumer, TOPIC, handler, make_dlq(), policy, stop=stop_flag
    )
    stop_when_drained(consumer, stop_flag)
    runner.run()
    return handler.sizes, consumer, handler


def test_a_runner_behind_batches_big_until_the_backlog_drains(
    make_dlq: Callable[..., DeadLetterProducer],
) -> None:
    common = {"max_count": 8, "max_tokens": 10**6, "max_wait_s": 0.0, "launch_when_idle": False}
    behind = BatchPolicy(**common, backlog_at=150, backlog_max_count=40, backlog_max_tokens=10**6)
    sizes, consumer, handler = _batch_sizes(behind, make_dlq)
    # Polls of 50 close their batch (no wait). Before each poll 300, 250, ... 50 records
    # wait: the first poll already counts, and the last, below 75, is batched by 8 again.
    assert sizes == [40, 10] * 5 + [8] * 6 + [2]
    assert sorted(handler.written) == [(0, i) for i in range(300)]
    assert consumer.committed_offsets == {0: 300}

    sizes, _, handler = _batch_sizes(BatchPolicy(**common), make_dlq)
    assert max(sizes) == 8
    assert sorted(handler.written) == [(0, i) for i in range(300)]


def test_a_load_hovering_at_the_threshold_logs_once_a_minute_and_then_the_current_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    backlog = Backlog(Positions({0: 1000}), enter_at=100, monotonic=lambda: now[0])
    behind, drained = {0: (900, 909)}, {0: (960, 969)}  # 100 and 40 waiting
    with caplog.at_level(logging.INFO, logger="finsent.stream.backlog"):
        for _ in range(5):  # ten switches within a few seconds
            assert backlog.update(behind)
            now[0] += 1
            assert not backlog.update(drained)
            now[0] += 1
        lines = [(r.getMessage().split(":")[0], r.__dict__.get("switches")) for r in caplog.records]
        assert lines == [("behind", None)]  # the other nine went to DEBUG
        now[0] = LOG_EVERY_S + 1
        assert not backlog.update(drained)  # no switch, but the quiet time is over
        assert not backlog.update(drained)  # and said once
    lines = [(r.getMessage().split(":")[0], r.__dict__.get("switches")) for r in caplog.records]
    assert lines == [("behind", None), ("caught up", 9)]
