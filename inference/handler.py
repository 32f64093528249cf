"""The scoring handler the stream runner drives: decode -> tokenise -> model -> write.

Writes go to the time-series store first, then to the scored topic; the runner commits
offsets only after both are acknowledged. Both writes are safe to repeat: the store is
idempotent per document, and the scored topic is at-least-once by contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from finsent.errors import Reason, TransientError, reason_text
from finsent.schemas import LIVE_NAMESPACE, Document, ScoredDocument
from finsent.store.models import SourceOffset, WriteResult
from finsent.stream.base import Envelope, Rejected
from finsent.topics import DOCUMENTS, SCORED
from inference.metrics import InferenceMetrics
from inference.model.classifier import EncodedBatch
from inference.model.scores import TextScore
from inference.store_errors import write_isolating

SNIPPET_CHARS = 280
CANARY = Document(
    id="finsent-canary",
    source="finsent",
    text="Shares of the company were little changed after the quarterly report.",
    published_at=datetime(2020, 1, 2, tzinfo=UTC),
    ingested_at=datetime(2020, 1, 2, tzinfo=UTC),
)
"""A known-good document: computed (never written) to tell a poison document from a
broken model when a lone document fails."""


class Scorer(Protocol):
    """What the handler needs of the model (implemented by `Classifier`)."""

    @property
    def model_version(self) -> str: ...

    @property
    def max_length(self) -> int:
        """Truncation length in tokens: no text costs the model more than this."""
        ...

    def tokenize(self, texts: Sequence[str]) -> EncodedBatch: ...

    def score_encoded(self, encoded: EncodedBatch) -> list[TextScore]: ...


class SeriesWriter(Protocol):
    """What the handler needs of the time-series store."""

    def write_batch_detailed(
        self, docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset] | None = None
    ) -> WriteResult: ...


def model_text(doc: Document) -> str:
    """The text the model reads: the headline, then the body when it adds something."""
    if doc.title and doc.title not in doc.text:
        return f"{doc.title}. {doc.text}"
    return doc.text


def estimate_tokens(text: str, max_length: int) -> int:
    """A cheap upper-ish estimate of WordPiece tokens, for batch budgeting only.

    Tokenising every message once just to size batches would double the tokenizer's
    work; ~3 characters per token (plus [CLS]/[SEP]) over-estimates English slightly,
    which keeps batches within budget.
    """
    return min(max_length, len(text) // 3 + 2)


def to_scored(
    doc: Document, score: TextScore, model_version: str, scored_at: datetime
) -> ScoredDocument:
    """Join a document and its scores; built without re-validation (both sides are typed)."""
    return ScoredDocument.model_construct(
        schema_version=1,
        document_id=doc.id,
        source=doc.source,
        namespace=doc.namespace,
        tickers=doc.tickers,
        published_at=doc.published_at,
        ingested_at=doc.ingested_at,
        scored_at=scored_at,
        title=doc.title,
        snippet=doc.text[:SNIPPET_CHARS],
        url=doc.url,
        sentiment=score.sentiment,
        sentiment_probs=score.sentiment_probs,
        score=max(-1.0, min(1.0, score.score)),
        topic=score.topic,
        topic_probs=score.topic_probs,
        model_version=model_version,
    )


class ScoringHandler:
    """Plugs the classifier, the store and the scored topic into `StreamRunner`."""

    def __init__(
        self,
        scorer: Scorer,
        store: SeriesWriter,
        producer: KafkaProducer,
        metrics: InferenceMetrics,
        *,
        scored_topic: str = SCORED.name,
        source_topic: str = DOCUMENTS.name,
        produce_timeout_s: float = 30.0,
        latency_namespaces: frozenset[str] = frozenset({LIVE_NAMESPACE}),
    ) -> None:
        self._scorer = scorer
        self._store = store
        self._producer = producer
        self._metrics = metrics
        self._scored_topic = scored_topic
        self._source_topic = source_topic
        self._produce_timeout_s = produce_timeout_s
        self._latency_namespaces = latency_namespaces

    def decode(self, raw: bytes | None) -> Document:
        return DOCUMENTS.decode(raw)

    def cost(self, item: Document) -> int:
        # Capped at the model's own truncation: a long article costs what a full-length
        # text costs, so the token budget never shrinks batches below what it pays for.
        return estimate_tokens(model_text(item), self._scorer.max_length)

    def canary(self) -> Document:
        return CANARY

    def prepare(self, items: Sequence[Document]) -> EncodedBatch:
        return self._scorer.tokenize([model_text(d) for d in items])

    def compute(self, prepared: EncodedBatch) -> Sequence[TextScore]:
        return self._scorer.score_encoded(prepared)

    def write(
        self, batch: Sequence[Envelope[Document]], results: Sequence[TextScore]
    ) -> list[Rejected]:
        now = datetime.now(UTC)  # scored_at is metadata; series use published_at
        version = self._scorer.model_version
        scored = [to_scored(e.value, r, version, now) for e, r in zip(batch, results, strict=True)]
        # The offsets fence the store's write: a redelivered batch is counted once.
        offsets = [SourceOffset(self._source_topic, e.partition, e.offset) for e in batch]
        outcome = write_isolating(self._store, scored, offsets)
        # The store refuses documents outside its retention window (too late, or dated
        # in the future), and Redis may refuse one document's script: they go to the
        # dead-letter topic, not silently uncounted.
        reasons = dict(outcome.rejected)
        refused = [
            Rejected(i, reason_text(Reason.STORE_REFUSED, reasons[d.document_id]))
            for i, d in enumerate(scored)
            if d.document_id in reasons
        ]
        kept = [d for d in scored if d.document_id not in reasons]
        self._publish(kept)
        # End-to-end latency only means something for live data: replays carry their
        # historical ingest time so that two replays are byte-identical.
        self._metrics.written(
            len(kept),
            [
                e.value.ingested_at.timestamp()
                for e in batch
                if e.value.id not in reasons and e.value.namespace in self._latency_namespaces
            ],
        )
        return refused

    def _publish(self, scored: Sequence[ScoredDocument]) -> None:
        try:
            futures = [
                self._producer.send(
                    self._scored_topic,
                    value=doc.model_dump_json().encode(),
                    key=doc.tickers[0].encode() if doc.tickers else None,
                )
                for doc in scored
            ]
            self._producer.flush(timeout=self._produce_timeout_s)
            for future in futures:
                future.get(timeout=self._produce_timeout_s)
        except KafkaError as exc:
            raise TransientError(f"publishing scored documents failed: {exc}") from exc
