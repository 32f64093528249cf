"""Builders for tests and benchmarks that need scored documents without the model."""

from __future__ import annotations

from datetime import UTC, datetime

from finsent.labels import TOPIC_LABELS, SentimentLabel
from finsent.schemas import ScoredDocument

_PROBS: dict[SentimentLabel, tuple[float, float, float]] = {
    "negative": (0.8, 0.1, 0.1),
    "neutral": (0.1, 0.8, 0.1),
    "positive": (0.1, 0.1, 0.8),
}
_SCORES: dict[SentimentLabel, float] = {"negative": -0.7, "neutral": 0.0, "positive": 0.7}
INGESTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def scored_doc(
    doc_id: str,
    published_at: datetime,
    namespace: str,
    sentiment: SentimentLabel = "neutral",
    *,
    tickers: tuple[str, ...] = ("WMT",),
    source: str = "stocknet",
    topic: str = "Stock Movement",
    model_version: str = "test-model",
    score: float | None = None,
    ingested_at: datetime | None = None,
) -> ScoredDocument:
    """A valid `ScoredDocument` with plausible probabilities for its label."""
    ingested = ingested_at or max(INGESTED_AT, published_at)
    return ScoredDocument(
        document_id=doc_id,
        source=source,
        namespace=namespace,
        tickers=tickers,
        published_at=published_at,
        ingested_at=ingested,
        scored_at=ingested,
        title=f"title {doc_id}",
        snippet="snippet",
        url=f"https://example.test/{doc_id}",
        sentiment=sentiment,
        sentiment_probs=_PROBS[sentiment],
        score=_SCORES[sentiment] if score is None else score,
        topic=topic,
        topic_probs=tuple(1.0 / len(TOPIC_LABELS) for _ in TOPIC_LABELS),
        model_version=model_version,
    )
