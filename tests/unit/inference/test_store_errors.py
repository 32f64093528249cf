"""Redis error replies on the write path: Redis's state is transient, one document's is refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import redis

from finsent.errors import TransientError
from finsent.labels import TOPIC_LABELS
from finsent.schemas import ScoredDocument
from finsent.store.models import SourceOffset, WriteResult
from finsent.store.replies import is_transient
from inference.store_errors import write_isolating

NOW = datetime(2026, 1, 5, 14, tzinfo=UTC)


def _doc(doc_id: str) -> ScoredDocument:
    return ScoredDocument(
        document_id=doc_id,
        source="wire",
        published_at=NOW,
        ingested_at=NOW,
        scored_at=NOW,
        sentiment="neutral",
        sentiment_probs=(0.2, 0.6, 0.2),
        score=0.0,
        topic=TOPIC_LABELS[0],
        topic_probs=tuple(1.0 if i == 0 else 0.0 for i in range(len(TOPIC_LABELS))),
        model_version="test",
    )


class Store:
    """Raises `error` for batches containing any of `failing`, else writes."""

    def __init__(self, error: redis.RedisError, failing: set[str]) -> None:
        self.error = error
        self.failing = failing
        self.written: list[str] = []

    def write_batch_detailed(
        self, docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset] | None = None
    ) -> WriteResult:
        if any(d.document_id in self.failing for d in docs):
            raise self.error
        self.written += [d.document_id for d in docs]
        return WriteResult(new=len(docs))


STATE_REPLIES = [
    redis.exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'."),
    redis.exceptions.ReadOnlyError("READONLY You can't write against a read only replica."),
    redis.ResponseError(
        "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk."
    ),
    redis.ResponseError(
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    ),
    redis.ResponseError(
        "Error running script (call to f_1): @user_script:12: -OOM command not allowed"
    ),
    redis.ConnectionError("Connection refused"),
]


@pytest.mark.parametrize("error", STATE_REPLIES, ids=lambda e: str(e)[:12])
def test_redis_state_errors_are_transient_and_refuse_nothing(error: redis.RedisError) -> None:
    assert is_transient(error)
    store = Store(error, failing={"a"})
    with pytest.raises(TransientError, match="redis refused the write"):
        write_isolating(store, [_doc("a"), _doc("b")])
    assert store.written == []  # not even the good one: the whole batch is retried


def test_an_error_reply_about_one_document_refuses_only_that_document() -> None:
    store = Store(redis.ResponseError("ERR Error running script: invalid label"), failing={"b"})
    result = write_isolating(store, [_doc("a"), _doc("b"), _doc("c")])
    assert store.written == ["a", "c"]
    assert result.new == 2
    assert [doc_id for doc_id, _ in result.rejected] == ["b"]
    assert "invalid label" in result.rejected[0][1]


def test_an_error_reply_for_every_document_is_not_their_fault() -> None:
    store = Store(redis.ResponseError("ERR unknown command 'TS.ADD'"), failing={"a", "b"})
    with pytest.raises(TransientError, match="every document"):
        write_isolating(store, [_doc("a"), _doc("b")])
    with pytest.raises(TransientError):
        write_isolating(store, [_doc("a")])
