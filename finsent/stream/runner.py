"""A small Kafka consumer runner: decode -> batch -> prepare -> compute -> write -> commit.

Modelled on getsentry/arroyo's strategy chain, collapsed into one loop because every
finsent consumer has the same shape:

* `decode` turns raw bytes into a typed item; `InvalidMessage` sends the raw bytes to
  `<topic>.dlq` with the reason.
* Items are batched by count, token budget and maximum wait (`BatchPolicy`); a batch
  also closes as soon as the model is idle, so light traffic is not held back.
* `prepare` (e.g. tokenisation) runs on the main thread while `compute` (the model) of the
  previous batch runs on one worker thread: a bounded prefetch of exactly one batch.
* A batch whose compute fails is retried once, then computed item by item so only the
  poison item is dead-lettered.
* `write` runs on the main thread. `TransientError` pauses fetching, retries with bounded
  backoff and resumes when the dependency is back; nothing is committed meanwhile.
* Offsets are committed last, after the write and the dead letters are acknowledged.
  Delivery is at-least-once; writes must be idempotent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata
from pydantic import BaseModel, ConfigDict, Field

from finsent.errors import InvalidMessage, TransientError
from finsent.stream.batching import BatchBuilder, BatchPolicy
from finsent.stream.dlq import DeadLetter, DeadLetterProducer

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Envelope(Generic[T]):
    """A decoded message with where it came from (kept for commits and dead letters)."""

    partition: int
    offset: int
    timestamp_ms: int
    value: T
    raw: bytes | None
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """An item of a written batch that the sink will never accept: `batch[index]`."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item that failed on its own: it goes to the dead-letter topic with `reason`."""

    reason: str


class Pipeline(Protocol[T, P, R]):
    """What a consumer plugs into the runner. Only `compute` runs off the main thread."""

    def decode(self, raw: bytes | None) -> T:
        """Parse one message value; raise `InvalidMessage` for input that can never succeed."""
        ...

    def cost(self, item: T) -> int:
        """The item's size in tokens, for the batch token budget."""
        ...

    def prepare(self, items: Sequence[T]) -> P:
        """Main-thread work done while the previous batch computes (e.g. tokenisation)."""
        ...

    def compute(self, prepared: P) -> Sequence[R]:
        """The expensive step (the model): one result per item, in order."""
        ...

    def write(self, batch: Sequence[Envelope[T]], results: Sequence[R]) -> Sequence[Refused]:
        """Persist results idempotently; raise `TransientError` when a dependency is down.

        Returns the items the sink refused for good (e.g. too late for retention): they
        are dead-lettered with the reason, and the batch is committed.
        """
        ...


class RunnerObserver(Protocol):
    """Hooks for metrics and readiness; every method must be cheap."""

    def batch_written(self, batch: Sequence[Envelope[Any]], compute_s: float) -> None: ...

    def dead_lettered(self, reason: str) -> None: ...

    def lag(self, partition: int, messages: int, seconds: float) -> None: ...

    def ready(self, ready: bool) -> None: ...


class NullObserver:
    """The default observer: records nothing."""

    def batch_written(self, batch: Sequence[Envelope[Any]], compute_s: float) -> None:
        pass

    def dead_lettered(self, reason: str) -> None:
        pass

    def lag(self, partition: int, messages: int, seconds: float) -> None:
        pass

    def ready(self, ready: bool) -> None:
        pass


class RetryPolicy(BaseModel):
    """Bounded exponential backoff for transient write failures."""

    model_config = ConfigDict(frozen=True)

    initial_backoff_s: float = Field(default=0.2, gt=0)
    max_backoff_s: float = Field(default=5.0, gt=0)


class RunStats(BaseModel):
    """Counters a run returns; tests and `finsent run` reports read them."""

    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    transient_failures: int = 0


@dataclass
class _Batch(Generic[T, R]):
    envelopes: list[Envelope[T]]
    commit_to: dict[int, int]
    future: Future[tuple[list[R | Rejected], float]] | None = None
    prepared_at: float = field(default_factory=time.monotonic)


class StreamRunner(Generic[T, P, R]):
    """Runs one pipeline over one topic until `stop` is set."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        topic: str,
        pipeline: Pipeline[T, P, R],
        dlq: DeadLetterProducer,
        policy: BatchPolicy,
        *,
        retry: RetryPolicy | None = None,
        observer: RunnerObserver | None = None,
        stop: threading.Event | None = None,
        lag_interval_s: float = 5.0,
        shutdown_grace_s: float = 30.0,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._pipeline = pipeline
        self._dlq = dlq
        self._retry = retry or RetryPolicy()
        self._observer: RunnerObserver = observer or NullObserver()
        self.stop = stop or threading.Event()
        self._builder: BatchBuilder[Envelope[T]] = BatchBuilder(
            policy, lambda env: pipeline.cost(env.value)
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compute")
        self._inflight: _Batch[T, R] | None = None
        self._loose: dict[int, int] = {}  # partition -> next offset consumed, not yet batched
        self._abandon = False
        self._writing = False
        self._shutdown_deadline = float("inf")
        self._lag_interval_s = lag_interval_s
        self._shutdown_grace_s = shutdown_grace_s
        self._last_lag_check = 0.0
        self._last_processed_ts: dict[int, int] = {}
        self.stats = RunStats()

    # -- main loop --------------------------------------------------------------------

    def run(self) -> RunStats:
        """Consume until `stop` is set, then finish the in-flight batch and leave the group."""
        self._consumer.subscribe([self._topic], listener=_Rebalance(self))
        self._observer.ready(True)
        try:
            while not self.stop.is_set():
                self._step()
            self._shutdown()
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._consumer.close(autocommit=False)
            self._observer.ready(False)
        return self.stats

    def _step(self) -> None:
        timeout_s = self._builder.time_left_s() if len(self._builder) else 0.1
        if self._inflight is not None and self._inflight.future is not None:
            timeout_s = min(timeout_s, 0.005)
        records = self._consumer.poll(timeout_ms=int(timeout_s * 1000), update_offsets=True)
        for batch_records in records.values():
            for record in batch_records:
                self._accept(record)
        if len(self._builder) and (
            self._builder.expired() or self._builder.full() or self._idle_launch()
        ):
            self._launch()  # also writes the batch that just finished, if any
        else:
            self._complete_inflight(block=False)
        if self._inflight is None and not len(self._builder) and self._loose:
            self._commit_loose()
        self._report_lag()

    def _idle_launch(self) -> bool:
        """Whether the policy launches now because the model has nothing to compute."""
        if not self._builder.policy.launch_when_idle:
            return False
        inflight = self._inflight
        return inflight is None or inflight.future is None or inflight.future.done()

    def _accept(self, record: Any) -> None:
        self.stats.consumed += 1
        self._loose[record.partition] = record.offset + 1
        try:
            value = self._pipeline.decode(record.value)
        except InvalidMessage as exc:
            self._dead_letter(record.value, record.key, record.partition, record.offset, exc.reason)
            return
        self._dlq.saw_valid()
        env = Envelope(
            record.partition, record.offset, record.timestamp, value, record.value, record.key
        )
        cost = self._pipeline.cost(value)
        if not self._builder.fits(cost):
            self._launch()
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
        commit_to = dict(self._loose)
        self._loose.clear()
        prepared = self._pipeline.prepare([e.value for e in envelopes])
        finished = self._collect(block=True)
        batch: _Batch[T, R] = _Batch(envelopes, commit_to)
        batch.future = self._executor.submit(self._compute_guarded, envelopes, prepared)
        self._inflight = batch
        if finished is not None:
            self._finish(*finished)

    def _compute_guarded(
        self, envelopes: list[Envelope[T]], prepared: P
    ) -> tuple[list[R | Rejected], float]:
        """Compute a batch; on failure retry once, then item by item (poison isolation)."""
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                results = list(self._pipeline.compute(prepared))
                if len(results) != len(envelopes):
                    raise RuntimeError(f"compute returned {len(results)} for {len(envelopes)}")
                return list[R | Rejected](results), time.monotonic() - started
            except Exception:  # noqa: BLE001 - isolate the poison item below
                log.warning(
                    "batch compute failed", extra={"attempt": attempt, "size": len(envelopes)}
                )
                if attempt == 1:
                    prepared = self._pipeline.prepare([e.value for e in envelopes])
        out: list[R | Rejected] = []
        for env in envelopes:
            try:
                out.append(self._pipeline.compute(self._pipeline.prepare([env.value]))[0])
            except Exception as exc:  # noqa: BLE001 - this item is the poison
                out.append(Rejected(f"compute failed: {type(exc).__name__}: {exc}"[:500]))
        return out, time.monotonic() - started

    def _complete_inflight(self, *, block: bool) -> None:
        finished = self._collect(block=block)
        if finished is not None:
            self._finish(*finished)

    def _collect(self, *, block: bool) -> tuple[_Batch[T, R], list[R | Rejected], float] | None:
        """Take the in-flight batch's results once its compute is done."""
        batch = self._inflight
        if batch is None or batch.future is None:
            return None
        if not block and not batch.future.done():
            return None
        results, compute_s = batch.future.result()
        self._inflight = None
        return batch, results, compute_s

    def _finish(
        self,
        batch: _Batch[T, R],
        results: list[R | Rejected],
        compute_s: float,
    ) -> None:
        """Dead-letter the rejects, write the rest, then commit the batch's offsets."""
        good_envs: list[Envelope[T]] = []
        good: list[R] = []
        for env, result in zip(batch.envelopes, results, strict=True):
            if isinstance(result, Rejected):
                self._dead_letter(env.raw, env.key, env.partition, env.offset, result.reason)
            else:
                good_envs.append(env)
                good.append(result)
        refused = self._write_with_retry(good_envs, good) if good else []
        if refused is None:
            # Abandoned (rebalance or shutdown): nothing after it may be committed either;
            # the partitions' next owner reprocesses all of it.
            if self._inflight is not None and self._inflight.future is not None:
                self._inflight.future.result()
            self._inflight = None
            return
        for item in refused:
            env = good_envs[item.index]
            self._dead_letter(env.raw, env.key, env.partition, env.offset, item.reason)
        self._dlq.flush()
        self._commit(batch.commit_to)
        self.stats.batches += 1
        self.stats.written += len(good) - len(refused)
        for env in batch.envelopes:
            self._last_processed_ts[env.partition] = env.timestamp_ms
        self._observer.batch_written(batch.envelopes, compute_s)

    def _write_with_retry(
        self, envelopes: list[Envelope[T]], results: list[R]
    ) -> Sequence[Refused] | None:
        """Write until it succeeds; None when abandoned (rebalance or shutdown)."""
        backoff = self._retry.initial_backoff_s
        paused = False
        self._abandon = False
        self._writing = True
        try:
            while True:
                try:
                    return self._pipeline.write(envelopes, results)
                except TransientError as exc:
                    self.stats.transient_failures += 1
                    self._observer.ready(False)
                    log.warning(
                        "write failed, backing off",
                        extra={"error": str(exc)[:200], "backoff_s": backoff},
                    )
                    if not paused:
                        self._consumer.pause(*self._consumer.assignment())
                        paused = True
                    # Polling while paused keeps group membership and fetches nothing,
                    # except from partitions a rebalance just assigned: rewind those so
                    # their records are read again rather than skipped.
                    fetched = self._consumer.poll(timeout_ms=int(backoff * 1000))
                    for tp, records in fetched.items():
                        if records:
                            self._consumer.seek(tp, records[0].offset)
                    if self._abandon or self._shutdown_deadline < time.monotonic():
                        return None
                    backoff = min(backoff * 2, self._retry.max_backoff_s)
        finally:
            self._writing = False
            if paused:
                self._consumer.resume(*self._consumer.paused())
                self._observer.ready(True)

    # -- dead letters and commits -----------------------------------------------------

    def _dead_letter(
        self, raw: bytes | None, key: bytes | None, partition: int, offset: int, reason: str
    ) -> None:
        self.stats.dead_lettered += 1
        self._observer.dead_lettered(reason.split(":", 1)[0])
        self._dlq.send(DeadLetter(raw, reason, self._topic, partition, offset, key))

    def _commit(self, offsets: dict[int, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                {
                    TopicPartition(self._topic, p): OffsetAndMetadata(o, "", -1)
                    for p, o in offsets.items()
                }
            )
        except CommitFailedError:
            # The group moved on without us; the new owner redoes the batch (idempotent).
            log.warning("commit failed after a rebalance; batch will be redelivered")
            return
        self.stats.commits += 1

    def _commit_loose(self) -> None:
        """Commit past messages that were all dead-lettered (nothing else holds them)."""
        self._dlq.flush()
        self._commit(self._loose)
        self._loose.clear()

    # -- rebalance and shutdown -------------------------------------------------------

    def on_revoked(self) -> None:
        """Before partitions move: drop everything not yet committed.

        Runs on kafka-python's I/O thread, which the producer and the consumer share: a
        write from here (the store, the scored topic) can wait on that very thread, so
        nothing is written. Every batch is committed as soon as it is written, so all
        that is dropped here is uncommitted and the partitions' next owner re-reads it;
        writes are idempotent.
        """
        self._abandon = True
        if not self._writing:
            # A write in progress discards the in-flight batch itself (see `_finish`).
            self._inflight = None
        self._builder.take()
        self._loose.clear()

    def _shutdown(self) -> None:
        self._shutdown_deadline = time.monotonic() + self._shutdown_grace_s
        self._builder.take()  # not computed: left uncommitted for the next consumer
        self._loose.clear()
        self._complete_inflight(block=True)

    def _report_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < self._lag_interval_s:
            return
        self._last_lag_check = now
        assignment = self._consumer.assignment()
        if not assignment:
            return
        try:
            ends = self._consumer.end_offsets(list(assignment))
        except Exception:  # noqa: BLE001 - lag is best-effort telemetry
            return
        wall_ms = time.time() * 1000
        for tp in assignment:
            behind = max(0, ends.get(tp, 0) - self._consumer.position(tp))
            last_ts = self._last_processed_ts.get(tp.partition)
            seconds = (wall_ms - last_ts) / 1000 if behind and last_ts else 0.0
            self._observer.lag(tp.partition, behind, max(0.0, seconds))


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Drops uncommitted work before partitions move to another consumer.

    kafka-python 3 runs listeners on its I/O thread; the async variant keeps the
    heartbeat running while it is called.
    """

    def __init__(self, runner: StreamRunner[Any, Any, Any]) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._runner.on_revoked()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info(
            "partitions assigned", extra={"partitions": sorted(tp.partition for tp in assigned)}
        )
