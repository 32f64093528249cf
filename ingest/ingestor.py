"""The chain every source feeds: normalise -> dedupe -> produce, with dead letters and counts.

Sources only read; this module decides. A failing input is dead-lettered with its raw
bytes and reason and counted, never raised; a failing dependency (Redis, the broker)
raises `TransientError` after releasing what it claimed, so a retry is not a duplicate.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from finsent.errors import InvalidMessage, TransientError, reason_class
from finsent.schemas import LIVE_NAMESPACE, Document
from finsent.stream.dlq import DeadLetter, DeadLetterProducer
from finsent.topics import DOCUMENTS
from ingest.accounting import Accounting
from ingest.dedupe import Claim, Deduplicator, Verdict
from ingest.metrics import IngestMetrics
from ingest.models import Candidate, IngestReport, RawItem, Unreadable
from ingest.normalize import Normalizer

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]
Outcome = Literal["produced", "duplicate", "dead_lettered"]


def utc_now() -> datetime:
    """The wall clock: ingest reads time only through this (injected as `clock`)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Handled:
    """What became of one input."""

    outcome: Outcome
    doc_id: str | None = None
    reason: str | None = None
    """Dead-letter reason, or the duplicate kind (`id`, `content`, `near`)."""


@dataclass(eq=False)
class _Pending:
    future: FutureRecordMetadata
    claim: Claim | None
    doc: Document
    done: bool = False
    """Its claim was confirmed or released and it was counted (exactly once)."""


class _Busy(TransientError):
    """An id of the call is still being published: by another caller, or by an earlier
    group of the same call (see `_handle_groups`)."""

    def __init__(self, message: str, doc_id: str) -> None:
        super().__init__(message)
        self.doc_id = doc_id


@dataclass
class _Call:
    """One group of a `_handle_groups` call: its answers and what it is waiting on."""

    handled: list[Handled]
    produced: list[_Pending]
    dead_letters: list[FutureRecordMetadata]


class Ingestor:
    """Normalises, deduplicates and produces documents; accounts for every input.

    A document's dedupe claim stays provisional until Kafka settles its record: the
    acknowledgement confirms it, a failure (at any time, even after the caller stopped
    waiting) releases it, and a claim for a record never sent is released at once. So a
    retry after any failure is never answered "duplicate" for a document that is not on
    the topic.

    Args:
        normalizer: the shared pure step.
        dedupe: None disables deduplication (e.g. `finsent replay kafka` of deduped data).
        producer: a Kafka producer (thread-safe; shared by sources).
        dlq: where rejected inputs go, as `<topic>.dlq`.
        topic: documents topic; tests pass a uuid topic.
        namespace: `live` or a replay namespace, stamped on every document.
        clock: injected wall clock (validity bounds, `ingested_at`); the only time read.
        ingested_at_event_time: replays stamp `ingested_at = published_at` so that two
            replays of one input yield identical documents.
        metrics: optional Prometheus metrics.
        flush_every: produce asynchronously and wait for acknowledgements every N documents.
    """

    def __init__(
        self,
        normalizer: Normalizer,
        dedupe: Deduplicator | None,
        producer: KafkaProducer,
        dlq: DeadLetterProducer,
        *,
        topic: str | None = None,
        namespace: str = LIVE_NAMESPACE,
        clock: Clock = utc_now,
        ingested_at_event_time: bool = False,
        metrics: IngestMetrics | None = None,
        flush_every: int = 1000,
    ) -> None:
        self._normalize = normalizer
        self._dedupe = dedupe
        self._producer = producer
        self._dlq = dlq
        self.topic = topic or DOCUMENTS.name
        self.namespace = namespace
        self._clock = clock
        self._event_time = ingested_at_event_time
        self._accounting = Accounting(metrics)
        self._flush_every = flush_every
        self._lock = threading.RLock()
        self._pending: list[_Pending] = []
        # Filled by the producer's I/O thread as records settle; drained by callers.
        self._settled: list[tuple[_Pending, bool]] = []
        # Ids this process has sent and Kafka has not settled yet, for callers to wait on.
        self._publishing: dict[str, FutureRecordMetadata] = {}
        self._last_delivery_ok = True

    def handle(self, candidate: Candidate) -> Handled:
        """Process one input. Never raises for bad input; raises `TransientError`."""
        return self._handle_many([candidate]).handled[0]

    def handle_many(self, candidates: Sequence[Candidate | Document]) -> list[Handled]:
        """Process inputs in order, with one Redis round trip for all their dedupe checks.

        Items may be `RawItem`/`Unreadable` (normalised here) or already valid `Document`s
        (replays of Kafka data). Decisions equal those of handling them one by one.
        """
        return self._handle_many(candidates).handled

    def handle_and_wait(
        self, candidates: Sequence[Candidate], timeout_s: float = 30.0, *, flush: bool = False
    ) -> list[Handled]:
        """Process inputs and wait until this call's records are acknowledged (push API).

        Concurrent calls share the producer, so their records travel to the broker in
        common batches (`linger_ms`) and each call waits only for its own: one request's
        wait is one broker round trip, not one per request in a queue. `flush=True`
        forces a flush per call (the old behaviour; `bench-push` measures it as baseline).

        Raises:
            TransientError: the broker did not acknowledge in time, Redis is down, or an
                id is still being published by an earlier call; claims are released.
        """
        [result] = self.handle_groups_and_wait([candidates], timeout_s, flush=flush)
        if isinstance(result, TransientError):
            raise result
        return result

    def handle_groups_and_wait(
        self,
        groups: Sequence[Sequence[Candidate]],
        timeout_s: float = 30.0,
        *,
        flush: bool = False,
    ) -> list[list[Handled] | TransientError]:
        """`handle_and_wait` for several callers at once (the push API's concurrent requests).

        One dedupe round trip, one wait and one confirmation serve every group, and each
        group still succeeds or fails on its own records: a group's result is its answers,
        or the `TransientError` that `handle_and_wait` would have raised for it. Decisions
        equal those of handling the groups one after another: when a group repeats an id
        that another caller (or an earlier group) is still publishing, every claim of this
        call is given back and the groups are handled one by one instead (rare: a retry
        racing its own first attempt).
        """
        if len(groups) == 1:
            return [self._handle_one_and_wait(groups[0], timeout_s, flush)]
        results = self._handle_groups(groups, pending_is_busy=True, track=False)
        if any(isinstance(r, _Busy) for r in results):
            return [self._handle_one_and_wait(g, timeout_s, flush) for g in groups]
        return self._wait_for(results, timeout_s, flush)

    def _handle_one_and_wait(
        self, candidates: Sequence[Candidate], timeout_s: float, flush: bool
    ) -> list[Handled] | TransientError:
        """One caller's inputs. An id that this process is publishing for another caller
        is waited for, then decided (`duplicate` once acknowledged): two pushes of one
        story at once get one answer each, not a 503. An id another process is publishing
        is still a `TransientError` (retry)."""
        deadline = time.monotonic() + timeout_s
        while True:
            [result] = self._handle_groups([candidates], pending_is_busy=True, track=False)
            if not isinstance(result, _Busy):
                return self._wait_for([result], max(0.0, deadline - time.monotonic()), flush)[0]
            with self._lock:
                future = self._publishing.get(result.doc_id)
                settling = any(p.doc.id == result.doc_id for p, _ in self._settled)
            if (future is None and not settling) or time.monotonic() >= deadline:
                return result
            if future is not None:
                # Refused: its claim is released below. Late: checked again, until ours ends.
                with contextlib.suppress(KafkaError):
                    future.get(timeout=max(0.0, deadline - time.monotonic()))
                time.sleep(0.001)  # its callback records the outcome just after `get` returns
            self._drain_settled()  # confirm or release it, then decide again

    def _wait_for(
        self, results: list[_Call | TransientError], timeout_s: float, flush: bool
    ) -> list[list[Handled] | TransientError]:
        """Wait for the records of each handled group; settle their claims."""
        if flush:
            try:
                self._flush_producer(timeout_s)
            except TransientError as exc:
                results = [exc if isinstance(r, _Call) else r for r in results]
        deadline = time.monotonic() + timeout_s
        outcomes: list[tuple[_Pending, bool]] = []
        failures: dict[int, BaseException] = {}
        for n, call in enumerate(results):
            if not isinstance(call, _Call):
                continue
            for item in call.produced:
                try:
                    item.future.get(timeout=max(0.0, deadline - time.monotonic()))
                    outcomes.append((item, True))
                except KafkaError as exc:
                    failures[n] = exc
                    if item.future.is_done:  # refused: release now; a timeout settles later
                        outcomes.append((item, False))
        try:
            self._settle(outcomes)
            self._drain_settled()
        except TransientError as exc:  # Redis is down: nobody's claims are confirmed yet
            return [exc if isinstance(r, _Call) else r for r in results]
        out: list[list[Handled] | TransientError] = []
        for n, call in enumerate(results):
            if not isinstance(call, _Call):
                out.append(call)
            elif n in failures:
                failed = failures[n]
                error = TransientError(f"produce not acknowledged: {type(failed).__name__}")
                error.__cause__ = failed
                out.append(error)
            else:
                try:
                    self._dlq.wait(call.dead_letters, max(0.0, deadline - time.monotonic()))
                    out.append(call.handled)
                except TransientError as exc:
                    out.append(exc)
        return out

    def normalize(self, item: RawItem) -> Document:
        now = self._clock()
        doc = self._normalize(item, now=now, namespace=self.namespace)
        if self._event_time:
            doc = doc.model_copy(update={"ingested_at": doc.published_at})
        return doc

    def _handle_many(self, candidates: Sequence[Candidate | Document]) -> _Call:
        """Batch sources: another caller's pending claim is an `id` duplicate, and what is
        produced is waited for by `flush`."""
        [call] = self._handle_groups([candidates], pending_is_busy=False, track=True)
        if isinstance(call, _Call):
            return call
        raise call

    def _handle_groups(
        self,
        groups: Sequence[Sequence[Candidate | Document]],
        *,
        pending_is_busy: bool,
        track: bool,
    ) -> list[_Call | TransientError]:
        """Normalise, check (one Redis round trip for all groups) and produce.

        A group fails alone (`TransientError` in its place) when it is busy, or when the
        producer refuses a record of it or of an earlier group; the claims of a failed
        group are given back before this returns. When an id is busy, every group is
        `_Busy`: every claim is given back, and nothing is produced.
        """
        self._drain_settled()
        prepared = [self._prepare(group) for group in groups]
        docs = [(g, doc) for g, (_, _, group_docs) in enumerate(prepared) for _, doc in group_docs]
        verdicts: list[tuple[Verdict, Claim | None]] = (
            self._dedupe.check_many([d for _, d in docs])
            if self._dedupe is not None and docs
            else [("new", None)] * len(docs)
        )
        claims = [c for _, c in verdicts if c is not None]
        if pending_is_busy:
            busy = _busy_id(docs, verdicts)
            if busy is not None:
                self._release(claims)
                message = f"document {busy[:80]!r} is still being published by an earlier request"
                # The caller waits for this process's own record, or handles the groups
                # one by one (`_handle_one_and_wait`).
                return [_Busy(message, busy)] * len(groups)
        # Counted and dead-lettered only now: a busy call is retried, and counts then.
        self._accounting.received(sum(map(len, groups)))
        try:
            dead_letters = [
                [self._dead_letter(u.raw, u.reason, u.source) for u in dead]
                for _, dead, _ in prepared
            ]
        except BaseException:  # the DLQ refused or over its limit: nothing is produced
            self._release(claims)
            raise
        results: list[_Call | TransientError] = []
        produced_all: list[_Pending] = []
        start = 0
        failed: TransientError | None = None
        for (out, _, group_docs), dead in zip(prepared, dead_letters, strict=True):
            group_verdicts = verdicts[start : start + len(group_docs)]
            start += len(group_docs)
            if failed is not None:
                self._release([c for _, c in group_verdicts if c is not None])
                results.append(failed)
                continue
            produced: list[_Pending] = []
            for n, ((index, doc), (verdict, claim)) in enumerate(
                zip(group_docs, group_verdicts, strict=True)
            ):
                try:
                    out[index], pending = self._publish(doc, verdict, claim)
                except TransientError as exc:
                    # Nothing from here on was sent: give every remaining claim back now.
                    self._release([c for _, c in group_verdicts[n:] if c is not None])
                    failed = exc
                    break
                if pending is not None:
                    produced.append(pending)
            if failed is not None:
                results.append(failed)
                continue
            produced_all += produced
            results.append(_Call([h for h in out if h is not None], produced, dead))
        if failed is not None:  # settle what was sent and answered, so a retry sees it final
            self._drain_settled()
        if track and produced_all:
            with self._lock:
                self._pending += produced_all
                full = len(self._pending) >= self._flush_every
            if full:
                self.flush()
        return results

    def _prepare(
        self, candidates: Sequence[Candidate | Document]
    ) -> tuple[list[Handled | None], list[Unreadable], list[tuple[int, Document]]]:
        """Answers so far (the unreadable ones), what to dead-letter, and what to check."""
        out: list[Handled | None] = []
        dead: list[Unreadable] = []
        docs: list[tuple[int, Document]] = []
        for candidate in candidates:
            if isinstance(candidate, Document):
                docs.append((len(out), candidate))
                out.append(None)
                continue
            if isinstance(candidate, Unreadable):
                dead.append(candidate)
            else:
                try:
                    docs.append((len(out), self.normalize(candidate)))
                    out.append(None)
                    continue
                except InvalidMessage as exc:
                    raw = candidate.raw or _describe(candidate)
                    dead.append(Unreadable(source=candidate.source, raw=raw, reason=exc.reason))
            out.append(Handled("dead_lettered", reason=dead[-1].reason))
        return out, dead, docs

    def _publish(
        self, doc: Document, verdict: Verdict, claim: Claim | None
    ) -> tuple[Handled, _Pending | None]:
        if verdict != "new":
            kind = "id" if verdict == "pending" else verdict  # a batch source's repeat
            self._accounting.duplicate(doc, kind)
            return Handled("duplicate", doc.id, kind), None
        key = doc.primary_ticker.encode() if doc.primary_ticker else None
        try:
            future = self._producer.send(self.topic, key=key, value=DOCUMENTS.encode(doc))
        except KafkaError as exc:
            raise TransientError(f"produce failed: {type(exc).__name__}") from exc
        self._dlq.saw_valid()
        pending = _Pending(future, claim, doc)
        with self._lock:
            self._publishing[doc.id] = future
        future.add_callback(self._on_settled, pending, True)
        future.add_errback(self._on_settled, pending, False)
        return Handled("produced", doc.id), pending

    def _on_settled(self, pending: _Pending, ok: bool, _result: object) -> None:
        # Runs on the producer's I/O thread: only note it; callers do the Redis work.
        with self._lock:
            self._settled.append((pending, ok))
            self._last_delivery_ok = ok
            if self._publishing.get(pending.doc.id) is pending.future:
                del self._publishing[pending.doc.id]

    def _drain_settled(self) -> None:
        """Confirm the claims of acknowledged records, release those of failed ones."""
        with self._lock:
            settled, self._settled = self._settled, []
        self._settle(settled)

    def _settle(self, outcomes: list[tuple[_Pending, bool]]) -> None:
        with self._lock:
            todo = [(p, ok) for p, ok in outcomes if not p.done]
            for p, _ in todo:
                p.done = True
        if not todo:
            return
        acked = [p for p, ok in todo if ok]
        failed = [p for p, ok in todo if not ok]
        try:
            if self._dedupe is not None:
                self._dedupe.confirm([p.claim for p in acked if p.claim is not None])
            self._release([p.claim for p in failed if p.claim is not None])
        except TransientError:
            with self._lock:  # Redis is down: try again on the next call
                for p, _ in todo:
                    p.done = False
                self._settled = todo + self._settled
            raise
        for item in acked:
            self._accounting.produced(item.doc)
        if failed:
            log.warning("documents not acknowledged; claims released", extra={"count": len(failed)})

    def _release(self, claims: list[Claim]) -> None:
        if claims and self._dedupe is not None:
            self._dedupe.release(claims)

    def _flush_producer(self, timeout_s: float) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise TransientError(f"produce not acknowledged: {type(exc).__name__}") from exc

    def readiness(self) -> dict[str, bool]:
        """Whether Kafka and Redis are usable now (for `/readyz`).

        Kafka: the topic's metadata is known (fetched here, within `max_block_ms`, if not)
        and the last record to settle was acknowledged.
        """
        try:
            known = bool(self._producer.partitions_for(self.topic))
        except KafkaError:
            known = False
        with self._lock:
            delivering = self._last_delivery_ok
        checks = {"kafka": known and delivering}
        if self._dedupe is not None:
            checks["redis"] = self._dedupe.ping()
        return checks

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every produced document and dead letter is acknowledged.

        Raises:
            TransientError: the broker refused a document (its dedupe claim is released)
                or did not answer in time (the claim is settled when the record is).
        """
        with self._lock:
            pending, self._pending = self._pending, []
        failed: BaseException | None = None
        if pending:
            try:
                self._flush_producer(timeout_s)
            except TransientError as exc:
                failed = exc
        for item in pending:
            if failed is not None:
                break
            try:
                item.future.get(timeout=timeout_s)
            except KafkaError as exc:
                failed = exc
        self._drain_settled()
        self._dlq.flush(timeout_s)
        if failed is not None:
            raise TransientError(f"produce failed: {failed}") from failed

    def run(self, candidates: Iterable[Candidate], batch_size: int = 500) -> IngestReport:
        """Handle every candidate in batches, flush, and return the report so far."""
        for batch in batched(candidates, batch_size):
            self.handle_many(batch)
        self.flush()
        return self.report()

    def report(self) -> IngestReport:
        report = self._accounting.report(self.namespace)
        if self._dedupe is None:
            return report
        return report.model_copy(update={"dedupe_key_id": self._dedupe.key_id})

    def _dead_letter(self, raw: bytes, reason: str, source: str) -> FutureRecordMetadata:
        cls = reason_class(reason)
        # DlqLimitExceeded and TransientError propagate: a stream that is all garbage is
        # a bad deploy, and a broker that refuses dead letters is down.
        future = self._dlq.send(DeadLetter(value=raw, reason=reason, original_topic=self.topic))
        self._accounting.dead_lettered(cls, source)
        log.info("rejected input", extra={"source": source, "reason": cls})
        return future


def _busy_id(
    docs: Sequence[tuple[int, Document]], verdicts: Sequence[tuple[Verdict, Claim | None]]
) -> str | None:
    """The first id still being published elsewhere: by another caller (`pending`), or by
    an earlier group of this call (within one group a repeat is an `id` duplicate)."""
    first: dict[tuple[str, str], int] = {}
    for (group, doc), (verdict, _) in zip(docs, verdicts, strict=True):
        if verdict == "pending" or first.setdefault((doc.namespace, doc.id), group) != group:
            return doc.id
    return None


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of up to `size` items (itertools.batched arrived in 3.12)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _describe(item: RawItem) -> bytes:
    """Raw bytes for an item a source built without keeping its input (RSS entries)."""
    return json.dumps(item.model_dump(mode="json"), ensure_ascii=False).encode("utf-8", "replace")
