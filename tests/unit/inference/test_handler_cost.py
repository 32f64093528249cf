"""The scoring handler's batch cost: bounded by what the model actually reads."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from finsent.schemas import Document
from inference.handler import ScoringHandler, estimate_tokens
from inference.metrics import InferenceMetrics
from inference.model.classifier import Classifier


def _doc(text: str) -> Document:
    now = datetime(2026, 1, 5, 14, tzinfo=UTC)
    return Document(
        id="d1", source="wire", text=text, tickers=("AAPL",), published_at=now, ingested_at=now
    )


def test_cost_is_capped_at_the_models_truncation_length() -> None:
    """A long article costs a full-length text, not more: otherwise one long item in a
    batch would shrink the token budget's batch below what the model pays for."""
    clf = Classifier.random_tiny()
    handler = ScoringHandler(
        clf,
        store=None,  # type: ignore[arg-type]  # cost() touches neither sink
        producer=None,
        metrics=InferenceMetrics(CollectorRegistry()),
    )
    assert handler.cost(_doc("word " * 2000)) == clf.max_length
    short = "Fed holds rates"
    assert handler.cost(_doc(short)) == estimate_tokens(short, clf.max_length) < clf.max_length
