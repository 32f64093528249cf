"""Topic decoding: every way a message can be bad becomes an InvalidMessage with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from finsent.errors import InvalidMessage
from finsent.schemas import MAX_TEXT_CHARS, Document
from finsent.topics import DOCUMENTS, SCORED, dlq_of

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def doc(**update: object) -> dict[str, object]:
    base = Document(
        id="d1",
        source="test",
        text="AAPL beats",
        tickers=("AAPL",),
        published_at=NOW,
        ingested_at=NOW,
    ).model_dump(mode="json")
    return base | update


def test_round_trip() -> None:
    original = Document.model_validate(doc())
    assert DOCUMENTS.decode(DOCUMENTS.encode(original)) == original
    assert DOCUMENTS.key(original) == "AAPL"
    assert DOCUMENTS.dlq == "news.documents.v1.dlq"


def test_dead_letter_topic_is_one_name() -> None:
    assert dlq_of("replay.r1.documents.v1") == "replay.r1.documents.v1.dlq"
    assert SCORED.dlq == dlq_of(SCORED.name)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (None, "empty message"),
        (b"{not json", "json"),
        (json.dumps(doc(published_at="2026-05-01T12:00:00")).encode(), "timezone"),
        (json.dumps(doc(text="   ")).encode(), "blank"),
        (json.dumps(doc(text="x" * (MAX_TEXT_CHARS + 1))).encode(), "at most"),
        (json.dumps(doc(tickers=["not a ticker"])).encode(), "tickers"),
        (json.dumps(doc(schema_version=2)).encode(), "schema_version"),
    ],
)
def test_bad_messages_raise_with_a_reason(raw: bytes | None, fragment: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        DOCUMENTS.decode(raw)
    assert fragment in caught.value.reason.lower()


def test_newer_producers_extra_fields_are_ignored() -> None:
    parsed = DOCUMENTS.decode(json.dumps(doc(added_in_v1_1="x")).encode())
    assert parsed.id == "d1"


def test_scored_document_rejects_unknown_topic_label() -> None:
    payload = {
        "document_id": "d1",
        "source": "s",
        "published_at": NOW.isoformat(),
        "ingested_at": NOW.isoformat(),
        "scored_at": NOW.isoformat(),
        "sentiment": "negative",
        "sentiment_probs": [0.8, 0.1, 0.1],
        "score": -0.7,
        "topic": "Astrology",
        "topic_probs": [0.05] * 20,
        "model_version": "v",
    }
    with pytest.raises(InvalidMessage, match="unknown topic"):
        SCORED.decode(json.dumps(payload).encode())
