"""The chain every source feeds: normalise -> dedupe -> produce, with dead letters and counts.

Sources only read; this module decides. A failing input is dead-lettered with its raw
bytes and reason and counted, never raised; a failing dependency (Redis, the broker)
raises `TransientError` after releasing what it claimed, so a retry is not a duplicate.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from finsent.errors import InvalidMessage, TransientError
from finsent.schemas import LIVE_NAMESPACE, Document
from finsent.stream.dlq import DeadLetter, DeadLetterProducer
from finsent.topics import DOCUMENTS
from ingest.dedupe import Claim, Deduplicator, Verdict
from ingest.metrics import IngestMetrics
from ingest.models import Candidate, IngestReport, RawItem, Rejected
from ingest.normalize import Normalizer, reason_class

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]
Outcome = Literal["produced", "duplicate", "dead_lettered"]


def utc_now() -> datetime:
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
    settled: bool = False


class IngestPipeline:
    """Normalises, deduplicates and produces documents; accounts for every input.

    Args:
        normalizer: the shared pure step.
        dedupe: None disables deduplication (e.g. `finsent replay kafka` of deduped data).
        producer: a Kafka producer (thread-safe; shared by sources).
        dlq: where rejected inputs go, as `<topic>.dlq`.
        topic: documents topic; tests pass a uuid topic.
        namespace: `live` or a replay namespace, stamped on every document.
        clock: injected wall clock (validity bounds, `ingested_at`).
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
        self._metrics = metrics
        self._flush_every = flush_every
        self._lock = threading.RLock()
        # DeadLetterProducer is not thread-safe; feeds and push requests share this pipeline.
        self._dlq_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._counts: Counter[str] = Counter()
        self._dup_kinds: Counter[str] = Counter()
        self._dlq_reasons: Counter[str] = Counter()
        self._tickers: Counter[str] = Counter()

    def handle(self, candidate: Candidate) -> Handled:
        """Process one input. Never raises for bad input; raises `TransientError`."""
        return self._handle_many([candidate])[0][0]

    def handle_many(self, candidates: Sequence[Candidate | Document]) -> list[Handled]:
        """Process inputs in order, with one Redis round trip for all their dedupe checks.

        Items may be `RawItem`/`Rejected` (normalised here) or already valid `Document`s
        (replays of Kafka data). Decisions equal those of handling them one by one.
        """
        return [handled for handled, _ in self._handle_many(candidates)]

    def handle_and_wait(
        self, candidates: Sequence[Candidate], timeout_s: float = 30.0
    ) -> list[Handled]:
        """Process inputs and wait until this call's documents are acknowledged (push API).

        Raises:
            TransientError: the broker did not acknowledge; claims are released.
        """
        handled = self._handle_many(candidates)
        mine = [pending for _, pending in handled if pending is not None]
        with self._lock:
            ids = {id(p) for p in mine}
            self._pending = [p for p in self._pending if id(p) not in ids]
        self._settle(mine, timeout_s, flush=False)
        return [h for h, _ in handled]

    def publish(self, doc: Document) -> Handled:
        """Dedupe and produce an already valid document (replays of Kafka data use this)."""
        return self._handle_many([doc])[0][0]

    def normalize(self, item: RawItem) -> Document:
        now = self._clock()
        doc = self._normalize(item, now=now, namespace=self.namespace)
        if self._event_time:
            doc = doc.model_copy(update={"ingested_at": doc.published_at})
        return doc

    def _handle_many(
        self, candidates: Sequence[Candidate | Document]
    ) -> list[tuple[Handled, _Pending | None]]:
        with self._lock:
            self._counts["in"] += len(candidates)
        out: list[tuple[Handled, _Pending | None] | None] = []
        docs: list[tuple[int, Document]] = []
        for candidate in candidates:
            if isinstance(candidate, Document):
                docs.append((len(out), candidate))
                out.append(None)
            elif isinstance(candidate, Rejected):
                self._dead_letter(candidate.raw, candidate.reason, candidate.source)
                out.append((Handled("dead_lettered", reason=candidate.reason), None))
            else:
                try:
                    docs.append((len(out), self.normalize(candidate)))
                    out.append(None)
                except InvalidMessage as exc:
                    raw = candidate.raw or _describe(candidate)
                    self._dead_letter(raw, exc.reason, candidate.source)
                    out.append((Handled("dead_lettered", reason=exc.reason), None))
        verdicts: list[tuple[Verdict, Claim | None]] = (
            self._dedupe.check_many([d for _, d in docs])
            if self._dedupe is not None and docs
            else [("new", None)] * len(docs)
        )
        for (index, doc), (verdict, claim) in zip(docs, verdicts, strict=True):
            out[index] = self._publish(doc, verdict, claim)
        return [item for item in out if item is not None]

    def _publish(
        self, doc: Document, verdict: Verdict, claim: Claim | None
    ) -> tuple[Handled, _Pending | None]:
        if verdict != "new":
            with self._lock:
                self._counts["duplicates"] += 1
                self._dup_kinds[verdict] += 1
            if self._metrics:
                self._metrics.duplicates.labels(verdict).inc()
                self._metrics.documents.labels(_kind(doc.source), "duplicate").inc()
            return Handled("duplicate", doc.id, verdict), None
        key = doc.primary_ticker.encode() if doc.primary_ticker else None
        try:
            future = self._producer.send(self.topic, key=key, value=DOCUMENTS.encode(doc))
        except KafkaError as exc:
            if claim is not None and self._dedupe is not None:
                self._dedupe.release(claim)
            raise TransientError(f"produce failed: {type(exc).__name__}") from exc
        with self._dlq_lock:
            self._dlq.saw_valid()
        pending = _Pending(future, claim, doc)
        with self._lock:
            self._pending.append(pending)
            full = len(self._pending) >= self._flush_every
        if full:
            self.flush()
        return Handled("produced", doc.id), pending

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait until every produced document and dead letter is acknowledged.

        Raises:
            TransientError: the broker refused a document; its dedupe claim is released.
        """
        with self._lock:
            pending, self._pending = self._pending, []
        self._settle(pending, timeout_s, flush=True)

    def _settle(self, pending: list[_Pending], timeout_s: float, *, flush: bool) -> None:
        with self._lock:  # a batch's own wait and a periodic flush may race for one item
            pending = [p for p in pending if not p.settled]
            for p in pending:
                p.settled = True
        if pending and flush:
            self._producer.flush(timeout=timeout_s)
        failed: Exception | None = None
        for item in pending:
            try:
                item.future.get(timeout=timeout_s)
            except KafkaError as exc:
                failed = exc
                if item.claim is not None and self._dedupe is not None:
                    self._dedupe.release(item.claim)
                continue
            self._count_produced(item.doc)
        with self._dlq_lock:
            self._dlq.flush(timeout_s)
        if failed is not None:
            raise TransientError(f"produce failed: {type(failed).__name__}") from failed

    def run(self, candidates: Iterable[Candidate], batch_size: int = 500) -> IngestReport:
        """Handle every candidate in batches, flush, and return the report so far."""
        for batch in batched(candidates, batch_size):
            self.handle_many(batch)
        self.flush()
        return self.report()

    def report(self) -> IngestReport:
        with self._lock:
            tickers = dict(self._tickers)
            untagged = tickers.pop("", 0)
            return IngestReport(
                namespace=self.namespace,
                documents_in=self._counts["in"],
                duplicates=self._counts["duplicates"],
                dead_lettered=self._counts["dead_lettered"],
                produced=self._counts["produced"],
                duplicates_by_kind=dict(self._dup_kinds),
                dead_letter_reasons=dict(self._dlq_reasons),
                per_ticker=dict(sorted(tickers.items())),
                untagged=untagged,
            )

    def _count_produced(self, doc: Document) -> None:
        with self._lock:
            self._counts["produced"] += 1
            for ticker in doc.tickers or ("",):
                self._tickers[ticker] += 1
        if self._metrics:
            self._metrics.documents.labels(_kind(doc.source), "produced").inc()

    def _dead_letter(self, raw: bytes, reason: str, source: str) -> None:
        cls = reason_class(reason)
        # DlqLimitExceeded propagates: a stream that is all garbage is a bad deploy.
        with self._dlq_lock:
            self._dlq.send(DeadLetter(value=raw, reason=reason, original_topic=self.topic))
        with self._lock:
            self._counts["dead_lettered"] += 1
            self._dlq_reasons[cls] += 1
        if self._metrics:
            self._metrics.dead_letters.labels(cls).inc()
            self._metrics.documents.labels(_kind(source), "dead_lettered").inc()
        log.info("rejected input", extra={"source": source, "reason": cls})


def _kind(source: str) -> str:
    """The metric label for a source: `rss`, `push`, `file`, `stocknet`, ...

    Not the full source: push clients choose theirs, and labels must stay a bounded set.
    """
    return source.split(":", 1)[0][:20]


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of up to `size` items (itertools.batched arrived in 3.12)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _describe(item: RawItem) -> bytes:
    """Raw bytes for an item a source built without keeping its input (RSS entries)."""
    return json.dumps(item.model_dump(mode="json"), ensure_ascii=False).encode("utf-8", "replace")
