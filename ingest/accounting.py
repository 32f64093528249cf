"""Every input accounted for: the counts behind `IngestReport` and the ingest metrics.

Invariant: `in == duplicates + dead_lettered + produced` once everything has settled.
Thread-safe: the push API's request threads and the producer's callbacks share one.
"""

from __future__ import annotations

import threading
from collections import Counter

from finsent.schemas import Document
from ingest.metrics import IngestMetrics
from ingest.models import IngestReport


class Accounting:
    """Counts what became of each input, and mirrors it into the metrics when given."""

    def __init__(self, metrics: IngestMetrics | None = None) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._dup_kinds: Counter[str] = Counter()
        self._dlq_reasons: Counter[str] = Counter()
        self._tickers: Counter[str] = Counter()

    def received(self, count: int) -> None:
        with self._lock:
            self._counts["in"] += count

    def duplicate(self, doc: Document, kind: str) -> None:
        with self._lock:
            self._counts["duplicates"] += 1
            self._dup_kinds[kind] += 1
        if self._metrics:
            self._metrics.duplicates.labels(kind).inc()
            self._metrics.documents.labels(source_kind(doc.source), "duplicate").inc()

    def produced(self, doc: Document) -> None:
        with self._lock:
            self._counts["produced"] += 1
            for ticker in doc.tickers or ("",):
                self._tickers[ticker] += 1
        if self._metrics:
            self._metrics.documents.labels(source_kind(doc.source), "produced").inc()

    def dead_lettered(self, reason_class: str, source: str) -> None:
        with self._lock:
            self._counts["dead_lettered"] += 1
            self._dlq_reasons[reason_class] += 1
        if self._metrics:
            self._metrics.dead_letters.labels(reason_class).inc()
            self._metrics.documents.labels(source_kind(source), "dead_lettered").inc()

    def report(self, namespace: str) -> IngestReport:
        with self._lock:
            tickers = dict(self._tickers)
            untagged = tickers.pop("", 0)
            return IngestReport(
                namespace=namespace,
                documents_in=self._counts["in"],
                duplicates=self._counts["duplicates"],
                dead_lettered=self._counts["dead_lettered"],
                produced=self._counts["produced"],
                duplicates_by_kind=dict(self._dup_kinds),
                dead_letter_reasons=dict(self._dlq_reasons),
                per_ticker=dict(sorted(tickers.items())),
                untagged=untagged,
            )


def source_kind(source: str) -> str:
    """The metric label for a source: `rss`, `push`, `file`, `stocknet`, ...

    Not the full source: push clients choose theirs, and labels must stay a bounded set.
    """
    return source.split(":", 1)[0][:20]
