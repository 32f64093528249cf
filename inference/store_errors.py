"""Redis errors on the write path: which are Redis's state, which are one document's.

A Redis that answers but will not write (`finsent.store.replies.is_transient`, the one
judgement every Redis caller makes) is a dependency that is down, not bad input: the
write is retried with backoff and nothing is dead-lettered or committed. Any other error reply is judged
document by document: one that fails alone while the rest of the batch is written is
refused (dead-lettered with the reply); when every document fails, the fault is not the
documents', and the write is retried like an outage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import redis

from finsent.errors import TransientError
from finsent.schemas import ScoredDocument
from finsent.store.models import SourceOffset, WriteResult
from finsent.store.replies import is_transient, reply_code

log = logging.getLogger(__name__)


class BatchStore(Protocol):
    def write_batch_detailed(
        self, docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset] | None = None
    ) -> WriteResult: ...


def write_isolating(
    store: BatchStore,
    docs: Sequence[ScoredDocument],
    offsets: Sequence[SourceOffset] | None = None,
) -> WriteResult:
    """Write a batch; on an error reply, retry it as a whole later or refuse single documents.

    Raises:
        TransientError: Redis cannot write now, or every document failed (not their fault).
    """
    try:
        return store.write_batch_detailed(docs, offsets)
    except redis.RedisError as exc:
        if is_transient(exc) or len(docs) == 1:
            raise TransientError(
                f"redis refused the write: {reply_code(exc)}: {exc}"[:300]
            ) from exc
        first = exc
    # Some reply was about content: find the documents that fail alone. Each is written
    # with its own offset, so the store's fence counts it once.
    new = duplicate = 0
    rejected: list[tuple[str, str]] = []
    for i, doc in enumerate(docs):
        try:
            one = store.write_batch_detailed([doc], None if offsets is None else [offsets[i]])
        except redis.RedisError as exc:
            if is_transient(exc):
                raise TransientError(f"redis refused the write: {reply_code(exc)}") from exc
            rejected.append((doc.document_id, f"redis refused it: {str(exc)[:200]}"))
            continue
        new, duplicate = new + one.new, duplicate + one.duplicate
        rejected.extend(one.rejected)
    if len(rejected) == len(docs) and all(r.startswith("redis refused") for _, r in rejected):
        raise TransientError(
            f"redis refused every document of the batch: {str(first)[:200]}"
        ) from first
    log.warning("redis refused single documents", extra={"refused": len(rejected)})
    return WriteResult(new=new, duplicate=duplicate, rejected=tuple(rejected))
