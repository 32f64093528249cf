"""A small Kafka consumer runner: decode -> batch -> prepare -> compute -> write -> commit.

Modelled on getsentry/arroyo's strategy chain, collapsed into one loop because every
finsent consumer has the same shape. The parts live in their own modules:

* `decode` turns raw bytes into a typed item; `InvalidMessage` sends the raw bytes to
  `<topic>.dlq` with the reason.
* Items are batched by count, token budget and maximum wait (`batching.BatchPolicy`); a
  batch also closes as soon as the model is idle, so light traffic is not held back.
* `prepare` (e.g. tokenisation) runs on the main thread while `compute` (the model) of the
  previous batch runs on one worker thread (`compute.Computer`): a bounded prefetch of
  exactly one batch, with poison isolation. A fault of the code or the machine raises
  `ComputeFault` and stops the consumer; it never dead-letters good input.
* `write` runs on the main thread (`writer.RetryingWriter`). `TransientError` pauses
  fetching and retries with bounded backoff; nothing is committed meanwhile.
* Offsets are committed last, from `offsets.OffsetTracker`: never past the lowest offset
  not yet written or dead-lettered (dead letters acknowledged first). Delivery is
  at-least-once; writes must be idempotent.
* Rebalance callbacks only set a flag (`rebalance.RebalanceListener`: kafka-python runs
  them on its I/O thread); the polling thread drops uncommitted work and rewinds before
  it accepts another record.
* Lag is reported per partition (`lag.LagMonitor`), which also stops a consumer left
  out of its group (`NotInGroup`). A consumer far behind batches for throughput rather
  than latency until it catches up (`backlog.Backlog`, `BatchPolicy.backlog_at`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from finsent.errors import DlqLimitExceeded, InvalidMessage, reason_class
from finsent.kafka_io import await_partitions, commit_offsets, keep_rejoining
from finsent.stream.backlog import Backlog
from finsent.stream.base import (
    BatchHandler,
    Envelope,
    NullObserver,
    Rejected,
    RetryPolicy,
    RunnerObserver,
    RunStats,
)
from finsent.stream.batching import BatchBuilder, BatchPolicy
from finsent.stream.compute import Computed, Computer
from finsent.stream.dlq import DeadLetter, DeadLetterProducer
from finsent.stream.lag import LagMonitor
from finsent.stream.offsets import OffsetTracker
from finsent.stream.rebalance import RebalanceListener, Revocations
from finsent.stream.writer import RetryingWriter

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


@dataclass
class _Batch(Generic[T, R]):
    envelopes: list[Envelope[T]]
    future: Future[Computed[R]]
    launched_at: float = field(default_factory=time.monotonic)


class StreamRunner(Generic[T, P, R]):
    """Runs one handler over one topic until `stop` is set.

    Raises (from `run`):
        ComputeFault: the model fails on everything; nothing of the batch is committed.
        DlqLimitExceeded: too many dead letters in a row; committed past them first.
        NotInGroup: no partition for `unassigned_timeout_s` while the topic has lag.
    """

    def __init__(
        self,
        consumer: KafkaConsumer,
        topic: str,
        handler: BatchHandler[T, P, R],
        dlq: DeadLetterProducer,
        policy: BatchPolicy,
        *,
        retry: RetryPolicy | None = None,
        observer: RunnerObserver | None = None,
        stop: threading.Event | None = None,
        lag_interval_s: float = 5.0,
        shutdown_grace_s: float = 30.0,
        unassigned_timeout_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._handler = handler
        self._dlq = dlq
        self._observer: RunnerObserver = observer or NullObserver()
        self.stop = stop or threading.Event()
        self._clock = clock
        self._builder: BatchBuilder[Envelope[T]] = BatchBuilder(
            policy, lambda env: handler.cost(env.value)
        )
        self._computer: Computer[T, P, R] = Computer(handler)
        self._writer: RetryingWriter[T, R] = RetryingWriter(
            handler, retry or RetryPolicy(), self._observer, self
        )
        self._offsets = OffsetTracker()
        self._backlog = Backlog(consumer, policy.backlog_at)
        self._revocations = Revocations()
        self._inflight: _Batch[T, R] | None = None
        self._epoch = 0  # bumped whenever uncommitted work is dropped and partitions rewound
        self._rewind_pending = False  # records may not be accepted until this is False
        self._dlq_limit: DlqLimitExceeded | None = None
        self._shutdown_deadline = float("inf")
        self._shutdown_grace_s = shutdown_grace_s
        self._lag = LagMonitor(
            consumer,
            topic,
            self._observer,
            interval_s=lag_interval_s,
            unassigned_timeout_s=unassigned_timeout_s,
            clock=clock,
        )
        self.stats = RunStats()

    # -- main loop --------------------------------------------------------------------

    def run(self) -> RunStats:
        """Consume until `stop` is set, then finish the in-flight batch and leave the group."""
        await_partitions(self._consumer, self._topic, self.stop, self._clock)
        self._consumer.subscribe([self._topic], listener=RebalanceListener(self._revocations))
        self._observer.ready(True)
        try:
            while not self.stop.is_set():
                self._step()
            self._shutdown()
        finally:
            self._computer.close()
            self._consumer.close(autocommit=False)
            self._observer.ready(False)
        return self.stats

    def _step(self) -> None:
        self._handle_revocation()
        if self._rewind_pending and not self._rewind():
            time.sleep(0.2)  # the coordinator is away (broker restarting): try again
            return
        timeout_s = self._builder.time_left_s() if len(self._builder) else 0.1
        if self._inflight is not None:
            # Wait on the compute, not on the broker: polling every few ms to notice its end
            # took CPU from the model on small machines. When it ends, take what was fetched
            # and launch at once, so at moderate load batches stay small and latency low
            # (docs/benchmarks.md, "Waiting on the compute"). 50 ms bounds how late
            # revocations, commits and an expiring batch are seen meanwhile.
            if not self._inflight.future.done():
                wait([self._inflight.future], timeout=min(timeout_s, 0.05))
            timeout_s = 0.0
        if self._revocations.awaiting_assignment:
            keep_rejoining(self._consumer)  # see there: a rebalance may strand otherwise
        records = self._consumer.poll(timeout_ms=int(timeout_s * 1000), update_offsets=True)
        if self._handle_revocation() or self._rewind_pending:
            return  # what this poll returned may predate the rebalance: read again
        self._builder.backlogged = self._backlog.update(
            {tp.partition: (rs[0].offset, rs[-1].offset) for tp, rs in records.items() if rs}
        )
        epoch = self._epoch
        for record in itertools.chain.from_iterable(records.values()):
            if self._epoch != epoch:
                break  # dropped and rewound meanwhile: the rest is read again
            self._accept(record)
        if len(self._builder) and (
            self._builder.expired() or self._builder.full() or self._idle_launch()
        ):
            self._launch()  # also writes the batch that just finished, if any
        else:
            self._complete_inflight(block=False)
        if self._dlq_limit is not None:
            self._stop_on_dlq_limit(self._dlq_limit)
        self._commit()
        self._lag.report()

    def _idle_launch(self) -> bool:
        """Whether the policy launches now because the model has nothing to compute."""
        if not self._builder.policy.launch_when_idle:
            return False
        return self._inflight is None or self._inflight.future.done()

    def _accept(self, record: Any) -> None:
        self.stats.consumed += 1
        # Tracked before anything else happens to it: until it is written or dead-lettered,
        # no commit of this partition may pass it (whatever batch launches meanwhile).
        self._offsets.consumed(record.partition, record.offset)
        try:
            value = self._handler.decode(record.value)
        except InvalidMessage as exc:
            self._dead_letter(record.value, record.key, record.partition, record.offset, exc.reason)
            return
        env = Envelope(
            record.partition, record.offset, record.timestamp, value, record.value, record.key
        )
        cost = self._handler.cost(value)
        if not self._builder.fits(cost):
            epoch = self._epoch
            self._launch()
            if self._epoch != epoch:
                return  # dropped and rewound while writing: this record is read again
        self._builder.add(env, cost)
        if self._builder.full():
            self._launch()

    # -- batches ----------------------------------------------------------------------

    def _launch(self) -> None:
        """Close the open batch: prepare it here, compute it on the worker.

        Order matters for overlap: the new batch is prepared while the previous one
        computes (the prefetch), and the previous one is written and committed while
        the new one computes. At most two batches are held: one computing, one writing.
        """
        if not len(self._builder):
            return
        envelopes = self._builder.take()
        items = [e.value for e in envelopes]
        prepared = self._handler.prepare(items)
        finished = self._collect(block=True)
        self._inflight = _Batch(envelopes, self._computer.submit(items, prepared))
        if finished is not None:
            self._finish(*finished)

    def _complete_inflight(self, *, block: bool) -> None:
        finished = self._collect(block=block)
        if finished is not None:
            self._finish(*finished)

    def _collect(self, *, block: bool) -> tuple[_Batch[T, R], list[R | Rejected], float] | None:
        """Take the in-flight batch's results once its compute is done.

        Raises:
            ComputeFault: the batch failed as a whole and item by item (our fault).
        """
        batch = self._inflight
        if batch is None or (not block and not batch.future.done()):
            return None
        self._inflight = None
        results, compute_s = batch.future.result()
        return batch, results, compute_s

    def _finish(self, batch: _Batch[T, R], results: list[R | Rejected], compute_s: float) -> None:
        """Dead-letter the rejects, write the rest, then commit what is done."""
        if not any(isinstance(r, Rejected) for r in results):
            # A clean compute teaches the batch policy how long batches take here
            # (`BatchPolicy.target_batch_s`); a retried one would skew it.
            self._builder.record([self._handler.cost(e.value) for e in batch.envelopes], compute_s)
        good_envs: list[Envelope[T]] = []
        good: list[R] = []
        for env, result in zip(batch.envelopes, results, strict=True):
            if isinstance(result, Rejected):
                self._dead_letter(env.raw, env.key, env.partition, env.offset, result.reason)
            else:
                good_envs.append(env)
                good.append(result)
        refused: list[Rejected] = []
        if good:
            written = self._writer.write(good_envs, good)
            self.stats.transient_failures = self._writer.failures
            if written is None:
                # Given up (revoked, or out of shutdown grace): nothing after it may be
                # committed either; whoever owns the partitions next reads all of it again.
                self._drop_uncommitted()
                return
            refused = list(written)
        refused_at = {item.index for item in refused}
        for item in refused:
            env = good_envs[item.index]
            self._dead_letter(env.raw, env.key, env.partition, env.offset, item.reason)
        for i, env in enumerate(good_envs):
            if i not in refused_at:
                self._offsets.done(env.partition, env.offset)
        if len(good) > len(refused):
            self._dlq.saw_valid()  # the count of dead letters in a row restarts here
        self.stats.batches += 1
        self.stats.written += len(good) - len(refused)
        for env in batch.envelopes:
            self._lag.processed(env.partition, env.timestamp_ms)
        self._commit()
        self._observer.batch_written(batch.envelopes, compute_s)

    # -- dead letters and commits -----------------------------------------------------

    def _dead_letter(
        self, raw: bytes | None, key: bytes | None, partition: int, offset: int, reason: str
    ) -> None:
        self.stats.dead_lettered += 1
        self._observer.dead_lettered(reason_class(reason))
        try:
            self._dlq.send(DeadLetter(raw, reason, self._topic, partition, offset, key))
        except DlqLimitExceeded as exc:
            # The letter is sent; stop once what is in hand is written and committed.
            self._dlq_limit = self._dlq_limit or exc
        # Done once acknowledged: every commit flushes the dead letters first.
        self._offsets.done(partition, offset)

    def _commit(self) -> None:
        """Commit every partition up to its lowest offset not yet done."""
        offsets = self._offsets.committable()
        if not offsets or self._revocations.pending:
            return  # a revocation drops all of it next: the new owner commits
        self._dlq.flush()  # never commit past a dead letter the broker has not taken
        outcome = commit_offsets(self._consumer, self._topic, offsets)
        if outcome == "deferred":
            self.stats.commits_deferred += 1
        elif outcome == "committed":
            self._offsets.committed(offsets)
            self.stats.commits += 1

    def _stop_on_dlq_limit(self, exc: DlqLimitExceeded) -> None:
        """Write what is in hand, commit past the dead letters, then stop.

        Committing first means a restart reads on from there rather than dead-lettering
        the same records and stopping again.
        """
        self._launch()
        self._complete_inflight(block=True)
        self._commit()
        log.error("stopping: too many dead letters in a row", extra={"error": str(exc)})
        raise exc

    # -- rebalance, pause and shutdown (called on the polling thread) -----------------

    def _handle_revocation(self) -> bool:
        """Act on a rebalance the listener flagged: drop uncommitted work, rewind."""
        revoked = self._revocations.take()
        if revoked is None:
            return False
        if revoked:
            log.info("partitions revoked", extra={"partitions": sorted(revoked)})
        self._drop_uncommitted()
        self._observer.partitions_revoked(sorted(revoked | self._lag.take_reported()))
        return True

    def _drop_uncommitted(self) -> None:
        """Forget everything not committed, and read it again from the committed offsets.

        Records fetched around a rebalance may belong to either generation; rewinding
        every partition still assigned to its committed offset re-reads whatever was
        dropped, so no record is skipped (writes are idempotent).
        """
        self._epoch += 1
        self._builder.take()
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.future.cancel()
            if not inflight.future.cancelled():
                try:
                    inflight.future.result()  # the worker must be free for the next batch
                except Exception:
                    log.debug("dropped batch failed to compute", exc_info=True)
        self._offsets.clear()
        self._lag.forget_processed()
        self._rewind_pending = True
        self._rewind()

    def _rewind(self) -> bool:
        """Seek every assigned partition to its committed offset; False if not reachable."""
        try:
            for tp in self._consumer.assignment():
                committed = self._consumer.committed(tp)
                if committed is None:
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, committed)
        except KafkaError as exc:
            log.warning("rewind to committed offsets failed; retrying", extra={"error": str(exc)})
            return False
        self._rewind_pending = False
        return True

    # `Hold` for the writer: pause fetching and keep the group membership meanwhile.

    def pause(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def hold(self, seconds: float) -> bool:
        # Polling while paused keeps the membership and fetches nothing from the paused
        # partitions; a rebalance shows as a flagged revocation, handled by the caller.
        self._consumer.poll(timeout_ms=int(seconds * 1000))
        return self._revocations.pending or self._shutdown_deadline < self._clock()

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())

    def _shutdown(self) -> None:
        self._shutdown_deadline = self._clock() + self._shutdown_grace_s
        self._builder.take()  # not computed: left uncommitted for the next consumer
        self._complete_inflight(block=True)
        self._commit()
