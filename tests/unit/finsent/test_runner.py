"""StreamRunner's logic against a fake consumer: offsets, faults, rebalances, retries.

The invariants hold whatever the batch boundaries: a commit never passes a record that is
neither written nor dead-lettered, a broken model commits and dead-letters nothing, and a
revocation is acted on by the polling thread only.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from kafka.errors import GroupAuthorizationFailedError, KafkaConnectionError

from finsent.errors import DlqLimitExceeded
from finsent.stream.base import Envelope, RetryPolicy
from finsent.stream.batching import BatchPolicy
from finsent.stream.dlq import DeadLetterProducer
from finsent.stream.errors import ComputeFault, NotInGroup
from finsent.stream.runner import StreamRunner
from tests.unit.finsent.conftest import TOPIC, FakeConsumer, FakeHandler, FakeProducer

SMALL = BatchPolicy(max_count=8, max_tokens=100, max_wait_s=0.0)


def mixed_logs(
    partitions: int, per_partition: int, seed: int, bad_every: int = 0
) -> dict[int, list[bytes]]:
    """Documents of 1 to 60 characters (so the token budget closes batches mid-poll)."""
    rng = random.Random(seed)
    logs: dict[int, list[bytes]] = {}
    for p in range(partitions):
        values = []
        for i in range(per_partition):
            if bad_every and i % bad_every == bad_every - 1:
                values.append(b"bad record")
            else:
                values.append(("x" * rng.randint(1, 60) + f"-{p}-{i}").encode())
        logs[p] = values
    return logs


def stop_when_drained(consumer: FakeConsumer, stop: threading.Event, idle_polls: int = 30) -> None:
    seen: list[int] = []

    def hook(c: FakeConsumer) -> None:
        if c.all_read():
            seen.append(c.polls)
            if len(seen) > idle_polls:
                stop.set()

    consumer.on_poll.append(hook)


def runner_for(
    consumer: FakeConsumer,
    handler: FakeHandler,
    dlq: DeadLetterProducer,
    policy: BatchPolicy = SMALL,
    **kwargs: Any,
) -> tuple[StreamRunner[Any, Any, Any], threading.Event]:
    stop = threading.Event()
    runner: StreamRunner[Any, Any, Any] = StreamRunner(
        consumer,
        TOPIC,
        handler,
        dlq,
        policy,
        stop=stop,
        **kwargs,
    )
    return runner, stop


def assert_commit_never_passes_unwritten(
    consumer: FakeConsumer, handler: FakeHandler, producer: FakeProducer
) -> list[str]:
    violations: list[str] = []

    def check(offsets: dict[int, int]) -> None:
        done = set(handler.written) | producer.offsets()
        for partition, upto in offsets.items():
            missing = [o for o in range(upto) if (partition, o) not in done]
            if missing:
                violations.append(f"commit {partition}@{upto} passes unwritten {missing[:5]}")

    consumer.on_commit.append(check)
    return violations


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_commit_never_passes_the_lowest_unwritten_offset(
    seed: int, producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer(mixed_logs(3, 80, seed, bad_every=17), max_records=7)
    handler = FakeHandler()
    violations = assert_commit_never_passes_unwritten(consumer, handler, producer)
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)
    runner.run()

    assert violations == []
    everything = {(p, o) for p, log in consumer.logs.items() for o in range(len(log))}
    assert set(handler.written) | producer.offsets() == everything
    assert not set(handler.written) & producer.offsets()
    assert consumer.committed_offsets == {p: len(log) for p, log in consumer.logs.items()}


def test_a_broken_model_commits_and_dead_letters_nothing(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer(mixed_logs(2, 40, seed=5))
    handler = FakeHandler()
    handler.broken = True
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)

    with pytest.raises(ComputeFault, match="fault of the code or the machine"):
        runner.run()
    assert consumer.commits == []
    assert producer.sent == []
    assert handler.written == []
    assert consumer.closed


def test_a_lone_failing_item_with_a_failing_canary_is_a_fault(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer({0: [b"only one"]})
    handler = FakeHandler()
    handler.broken = handler.canary_broken = True
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)
    with pytest.raises(ComputeFault, match="canary"):
        runner.run()
    assert consumer.commits == [] and producer.sent == []


def test_a_poison_item_alone_is_dead_lettered_and_the_rest_written(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    logs = {0: [b"fine one", b"poison", b"fine two", b"fine three"], 1: [b"poison"]}
    consumer = FakeConsumer(logs)
    handler = FakeHandler()
    handler.poison = {"poison"}
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)
    stats = runner.run()

    assert producer.offsets() == {(0, 1), (1, 0)}
    assert all(b"compute failed" in h["reason"] for _, _, h in producer.sent)
    assert sorted(handler.written) == [(0, 0), (0, 2), (0, 3)]
    assert consumer.committed_offsets == {0: 4, 1: 1}
    assert stats.dead_lettered == 2 and stats.written == 3


def test_transient_write_failures_pause_fetching_and_commit_nothing_meanwhile(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer(mixed_logs(2, 30, seed=9))
    handler = FakeHandler()
    handler.write_failures = 4
    paused_at_retry: list[set[int]] = []
    commits_at_retry: list[int] = []

    def watch(c: FakeConsumer) -> None:
        if handler.write_failures and handler.write_calls:
            paused_at_retry.append(set(c.paused_parts))
            commits_at_retry.append(len(c.commits))

    consumer.on_poll.append(watch)
    runner, stop = runner_for(
        consumer,
        handler,
        make_dlq(),
        retry=RetryPolicy(initial_backoff_s=0.001, max_backoff_s=0.002),
    )
    stop_when_drained(consumer, stop)
    stats = runner.run()

    assert paused_at_retry and all(p == {0, 1} for p in paused_at_retry)
    assert set(commits_at_retry) == {0}
    assert stats.transient_failures == 4
    assert producer.sent == []
    assert consumer.committed_offsets == {0: 30, 1: 30}
    assert consumer.paused_parts == set()


def test_revocation_is_acted_on_by_the_polling_thread_and_loses_nothing(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer(mixed_logs(2, 60, seed=11), max_records=4)
    handler = FakeHandler()
    violations = assert_commit_never_passes_unwritten(consumer, handler, producer)
    revoked_seen: list[list[int]] = []

    class Observer:
        def batch_written(self, batch: Sequence[Envelope[Any]], compute_s: float) -> None: ...
        def dead_lettered(self, reason: str) -> None: ...
        def write_retried(self, reason: str) -> None: ...
        def lag(self, partition: int, messages: int, seconds: float) -> None: ...
        def ready(self, ready: bool) -> None: ...

        def partitions_revoked(self, partitions: Sequence[int]) -> None:
            assert threading.current_thread() is threading.main_thread()
            revoked_seen.append(list(partitions))

    def rebalance(c: FakeConsumer) -> None:
        # Mid-stream, twice: both partitions revoked, then given back (eager protocol).
        if c.polls in (6, 15):
            c.revoke_on_io_thread({0, 1}, then_assign={0, 1})

    consumer.on_poll.append(rebalance)
    runner, stop = runner_for(consumer, handler, make_dlq(), observer=Observer(), lag_interval_s=0)
    stop_when_drained(consumer, stop)
    runner.run()

    assert violations == []
    assert len(revoked_seen) == 2 and all(set(r) == {0, 1} for r in revoked_seen)
    everything = {(p, o) for p, log in consumer.logs.items() for o in range(len(log))}
    assert set(handler.written) == everything  # at least once; redelivery is idempotent
    assert consumer.committed_offsets == {0: 60, 1: 60}


class _StrandedCoordinator:
    """kafka-python 3.0.12's stranded rebalance (see `finsent.kafka_io.keep_rejoining`):
    the join finished while nobody polled for it, so no assignment ever arrives unless
    the consumer asks to rejoin; then the next poll completes a fresh join."""

    def __init__(self) -> None:
        self.rejoin_requests = 0

    def request_rejoin(self) -> None:
        self.rejoin_requests += 1


def test_a_stranded_rebalance_is_rejoined_not_polled_forever(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer(mixed_logs(2, 40, seed=5), max_records=4)
    coordinator = _StrandedCoordinator()
    consumer._coordinator = coordinator  # type: ignore[attr-defined]
    consumer.config = {"group_id": "g"}  # type: ignore[attr-defined]
    handler = FakeHandler()

    def strand_then_rejoin(c: FakeConsumer) -> None:
        if c.polls == 5:  # revoked; the assignment that follows is never taken up
            asyncio.run(c.listener.on_partitions_revoked({c.tp(0), c.tp(1)}))
            c.assigned = set()
        elif c.polls > 5 and not c.assigned and coordinator.rejoin_requests:
            c.assigned = {0, 1}
            for p in c.assigned:
                c.positions[p] = c.committed_offsets.get(p, 0)
            asyncio.run(c.listener.on_partitions_assigned({c.tp(0), c.tp(1)}))
        if c.polls > 400:  # stranded for good: end the run so the asserts can say so
            stop.set()

    consumer.on_poll.append(strand_then_rejoin)
    runner, stop = runner_for(consumer, handler, make_dlq(), lag_interval_s=3600)
    stop_when_drained(consumer, stop)
    runner.run()

    assert coordinator.rejoin_requests >= 1
    assert consumer.committed_offsets == {0: 40, 1: 40}
    # Asked only while the rebalance was under way, not on every poll of the stream.
    assert coordinator.rejoin_requests < consumer.polls / 4


def test_too_many_dead_letters_in_a_row_commit_past_them_then_stop(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    logs = {0: [b"good one", b"good two"] + [b"bad"] * 30 + [b"good three"]}
    consumer = FakeConsumer(logs, max_records=50)
    handler = FakeHandler()
    runner, stop = runner_for(consumer, handler, make_dlq(max_consecutive=10))
    stop_when_drained(consumer, stop)

    with pytest.raises(DlqLimitExceeded):
        runner.run()
    # Everything read was written or dead-lettered, and the commit is past all of it, so
    # a restart reads on instead of dead-lettering the same records and stopping again.
    assert sorted(handler.written) == [(0, 0), (0, 1), (0, 32)]
    assert len(producer.sent) == 30
    assert consumer.committed_offsets == {0: 33}


def test_no_partition_while_the_topic_has_lag_fails_with_the_cause(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer({0: [b"waiting"] * 3, 1: []})
    consumer.assigned = set()
    now = [0.0]

    def tick(c: FakeConsumer) -> None:
        now[0] += 10.0

    consumer.on_poll.append(tick)
    runner, _ = runner_for(
        consumer,
        FakeHandler(),
        make_dlq(),
        lag_interval_s=0,
        unassigned_timeout_s=60,
        clock=lambda: now[0],
    )
    with pytest.raises(NotInGroup, match=r"partitions \[0\] have unconsumed records"):
        runner.run()


def test_no_partition_and_no_lag_is_fine(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    """More consumers than partitions: an idle member with nothing to read is not a fault."""
    consumer = FakeConsumer({0: []})
    consumer.assigned = set()
    now = [0.0]

    def tick(c: FakeConsumer) -> None:
        now[0] += 10.0
        if now[0] > 1000:
            stop.set()

    consumer.on_poll.append(tick)
    runner, stop = runner_for(
        consumer,
        FakeHandler(),
        make_dlq(),
        lag_interval_s=0,
        unassigned_timeout_s=60,
        clock=lambda: now[0],
    )
    runner.run()


def test_a_store_refusal_is_dead_lettered_and_committed(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer({0: [b"fine", b"too late", b"also fine"]})
    handler = FakeHandler()
    handler.refuse = {"too late"}
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)
    runner.run()
    assert producer.offsets() == {(0, 1)}
    assert sorted(handler.written) == [(0, 0), (0, 2)]
    assert consumer.committed_offsets == {0: 3}


def test_a_rewind_the_coordinator_cannot_answer_is_retried_before_reading_on(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    """A rebalance during a broker restart: committed offsets are unreachable for a while;
    no record is accepted until the rewind succeeds, and nothing is lost."""
    from kafka.errors import KafkaTimeoutError

    consumer = FakeConsumer(mixed_logs(2, 40, seed=21), max_records=4)
    handler = FakeHandler()
    violations = assert_commit_never_passes_unwritten(consumer, handler, producer)
    failures = [3]
    real_committed = consumer.committed

    def flaky_committed(tp: Any, timeout_ms: int | None = None) -> int | None:
        if failures[0]:
            failures[0] -= 1
            raise KafkaTimeoutError("coordinator not available")
        return real_committed(tp)

    consumer.committed = flaky_committed  # type: ignore[method-assign]

    def rebalance(c: FakeConsumer) -> None:
        if c.polls == 5:
            c.revoke_on_io_thread({0, 1}, then_assign={0, 1})

    consumer.on_poll.append(rebalance)
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)
    runner.run()
    assert failures == [0]
    assert violations == []
    everything = {(p, o) for p, log in consumer.logs.items() for o in range(len(log))}
    assert set(handler.written) == everything
    assert consumer.committed_offsets == {0: 40, 1: 40}


def test_a_dead_letter_the_broker_does_not_take_stops_before_any_commit_past_it(
    make_dlq: Callable[..., DeadLetterProducer],
) -> None:
    from kafka.errors import KafkaTimeoutError

    from finsent.errors import TransientError
    from tests.unit.finsent.conftest import _Future

    class Refusing(FakeProducer):
        def send(self, topic: str, value: bytes, key: bytes | None, headers: Any) -> _Future:
            super().send(topic, value, key, headers)
            return _Future(KafkaTimeoutError("no ack"))

    consumer = FakeConsumer({0: [b"fine", b"bad one", b"also fine"]})
    runner, stop = runner_for(consumer, FakeHandler(), DeadLetterProducer(Refusing()))
    stop_when_drained(consumer, stop)
    with pytest.raises(TransientError):
        runner.run()
    assert all(offsets.get(0, 0) <= 1 for offsets in consumer.commits)


def test_a_commit_while_the_broker_is_down_is_deferred_not_fatal(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    """A broker restart can land on a commit: kafka-python raises KafkaConnectionError
    (ECONNREFUSED) from commit(). That is our machine's fault, not the records': the
    runner keeps the offsets and commits them once the broker is back, never dies.
    (It killed `finsent infer` in test_broker_restart_mid_stream under load.)"""
    consumer = FakeConsumer(mixed_logs(2, 40, seed=3), max_records=5)
    refused: list[dict[int, int]] = []

    def broker_down(offsets: dict[int, int]) -> None:
        if len(refused) < 3:
            refused.append(offsets)
            raise KafkaConnectionError("111 ECONNREFUSED")

    consumer.on_commit.append(broker_down)
    handler = FakeHandler()
    runner, stop = runner_for(consumer, handler, make_dlq())
    stop_when_drained(consumer, stop)
    stats = runner.run()

    assert len(refused) == 3
    assert consumer.committed_offsets == {p: len(log) for p, log in consumer.logs.items()}
    assert stats.commits == len(consumer.commits) and stats.commits_deferred == 3
    everything = {(p, o) for p, log in consumer.logs.items() for o in range(len(log))}
    assert set(handler.written) == everything


def test_a_commit_error_that_is_not_retriable_still_stops_the_runner(
    producer: FakeProducer, make_dlq: Callable[..., DeadLetterProducer]
) -> None:
    consumer = FakeConsumer(mixed_logs(1, 10, seed=4), max_records=5)

    def unauthorised(offsets: dict[int, int]) -> None:
        raise GroupAuthorizationFailedError("not allowed")

    consumer.on_commit.append(unauthorised)
    runner, stop = runner_for(consumer, FakeHandler(), make_dlq())
    stop_when_drained(consumer, stop)
    with pytest.raises(GroupAuthorizationFailedError):
        runner.run()


class HeldHandler(FakeHandler):
    """Holds its first batch's compute until `release`; `in_flight` from launch to write."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.in_flight = False

    def prepare(self, items: Sequence[str]) -> list[str]:
        self.in_flight = True
        return super().prepare(items)

    def compute(self, prepared: list[str]) -> list[int]:
        if prepared != ["canary"]:
            assert self.release.wait(10)
        return super().compute(prepared)

    def write(self, batch: Sequence[Envelope[str]], results: Sequence[int]) -> list[Any]:
        self.in_flight = False
        return super().write(batch, results)


def test_while_a_batch_computes_the_consumer_waits_on_it_not_on_the_broker(
    make_dlq: Callable[..., DeadLetterProducer],
) -> None:
    consumer = FakeConsumer({0: [b"one", b"two", b"three"]}, max_records=3)
    handler = HeldHandler()
    runner, stop = runner_for(consumer, handler, make_dlq())
    polls_in_flight: list[int] = []

    def hook(c: FakeConsumer) -> None:
        if handler.in_flight:
            polls_in_flight.append(c.timeouts[-1])
        elif handler.written:
            stop.set()

    consumer.on_poll.append(hook)
    threading.Timer(0.3, handler.release.set).start()
    runner.run()

    assert handler.written == [(0, 0), (0, 1), (0, 2)]
    # Polling the broker every 5 ms to notice the end made about 60 polls in 0.3 s; waiting
    # on the compute in 50 ms steps makes at most 7.
    assert 1 <= len(polls_in_flight) <= 12, polls_in_flight
    # And none of them blocks: once the compute ends, its batch is written at once, not
    # after a poll's timeout.
    assert set(polls_in_flight) == {0}
