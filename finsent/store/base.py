"""The `SeriesStore` interface and everything its two backends share.

A scored document adds to the series of each of its tickers, its topic, its source and
`all`, in its namespace, at 1-minute and 1-hour resolution, in the bucket of its event time
(`published_at`). A batch is summed per series, resolution, bucket and model first
(`finsent/store/write.py`), then written by one Lua script call per namespace
(`lua/write_batch.lua`), which, atomically:

1. checks the fence of every `(stream, partition)` the batch came from: the writer read
   the last offset written and left out the documents at or below it; if another writer
   moved the fence since, nothing is written and the writer re-reads and retries;
2. advances the namespace watermark (newest event time) and the document count;
3. adds to every series (backend-specific), registers them, keeps the most negative
   documents of each series and hour as evidence, and moves the fences.

Because the fence moves in the same script as the counts, a redelivered batch (any
boundaries, any number of writers) changes nothing. Redis work grows with series ×
buckets per batch, not with documents.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Final

import redis
from redis.commands.core import Script

from finsent import redis_keys
from finsent.errors import TransientError
from finsent.redis_keys import Resolution
from finsent.schemas import ScoredDocument, SeriesKind, SeriesRef
from finsent.store.admin import NamespaceAdmin
from finsent.store.models import (
    SourceOffset,
    StoreOptions,
    WriteResult,
)
from finsent.store.replies import transient_errors
from finsent.store.write import FUTURE_REASON, RETENTION_REASON, build_calls, empty_call

log = logging.getLogger(__name__)

SERIES_KINDS: Final[tuple[SeriesKind, ...]] = ("ticker", "topic", "source", "all")
ALL_SERIES: Final = SeriesRef(kind="all", value="all")
FENCE_ATTEMPTS: Final = 8
"""Rounds of read-fence-then-write before a batch gives up as transient (only writers
racing on the same partition, e.g. around a rebalance, move a fence under another)."""


@cache
def lua_source(name: str) -> str:
    """A script shipped in `finsent/store/lua/`."""
    return resources.files("finsent.store").joinpath("lua", name).read_text()


class SeriesStore(NamespaceAdmin):
    """Sentiment time series per namespace, written by inference, read by everyone else.

    Args:
        client: a Redis client with `decode_responses` off.
        options: retention and evidence sizing.
    """

    backend: str = "abstract"
    _lua: str = ""
    """The backend's `write_bucket` (a file under `lua/`), prepended to the shared script."""

    def __init__(self, client: redis.Redis, options: StoreOptions) -> None:
        self._r = client
        self.options = options
        self._write: Script = client.register_script(
            lua_source(self._lua) + lua_source("write_batch.lua")
        )
        self._trimmed_at: dict[str, tuple[int, float]] = {}

    @property
    def client(self) -> redis.Redis:
        """The client, for services that keep their own state next to the series."""
        return self._r

    # -- backend hooks -------------------------------------------------------------------

    @abc.abstractmethod
    def _bucket_keys(
        self, namespace: str, res: Resolution, kind: str, value: str, start_ms: int, model: str
    ) -> list[str]:
        """The keys `write_bucket` of this backend's Lua takes for one bucket."""

    def _series_labels(self, namespace: str, kind: str, value: str, model: str) -> list[str]:
        """Label name/value pairs for keys the backend creates (RedisTimeSeries)."""
        return []

    # -- writes ----------------------------------------------------------------------------

    def write_batch(
        self, docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset] | None = None
    ) -> int:
        """Count a batch of documents; returns how many were new. See `write_batch_detailed`."""
        return self.write_batch_detailed(docs, offsets).new

    def write_batch_detailed(
        self, docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset] | None = None
    ) -> WriteResult:
        """Count a batch of documents, summed per series and bucket; say what happened to each.

        Args:
            docs: scored documents, any namespaces, any event times.
            offsets: where each document was read from (`offsets[i]` for `docs[i]`). With
                them the write is idempotent per batch: documents at or below the stored
                fence of their `(stream, partition)` in their namespace are skipped
                (`duplicate`), the rest are counted and the fence moves up, atomically. A
                partition's batches must be written in offset order, as a consumer does.
                Without offsets the documents are counted as given (tools and tests that
                write once).

        Returns:
            `new`, `duplicate`, and `rejected` (document id, reason) for the caller to
            dead-letter: published more than `max_future_s` after ingestion, or, in a
            namespace with retention (`live`), in an hour older than hour retention behind
            the watermark. Refusals are also tallied per namespace (`refusals`).

        Raises:
            TransientError: Redis is unreachable, or other writers kept moving the fence;
                retry the whole batch (what was written is skipped by the fence).
        """
        if offsets is not None and len(offsets) != len(docs):
            raise ValueError(f"{len(offsets)} offsets for {len(docs)} documents")
        future = timedelta(seconds=self.options.max_future_s)
        is_future = [d.published_at - d.ingested_at > future for d in docs]
        rejected = [
            (d.document_id, FUTURE_REASON) for d, f in zip(docs, is_future, strict=True) if f
        ]
        pending = list(dict.fromkeys(d.namespace for d in docs))
        new = duplicate = 0
        with transient_errors():
            for _ in range(FENCE_ATTEMPTS):
                if not pending:
                    break
                fences = self._read_fences(pending, docs, offsets)
                done, result = self._write_namespaces(pending, docs, offsets, is_future, fences)
                new += result.new
                duplicate += result.duplicate
                rejected += result.rejected
                pending = [ns for ns in pending if ns not in done]
        if pending:
            raise TransientError(f"fence moved under every attempt in {', '.join(pending)}")
        for ns in dict.fromkeys(d.namespace for d in docs):
            self._maybe_trim(ns)
        return WriteResult(new=new, duplicate=duplicate, rejected=tuple(rejected))

    def _read_fences(
        self,
        namespaces: list[str],
        docs: Sequence[ScoredDocument],
        offsets: Sequence[SourceOffset] | None,
    ) -> dict[tuple[str, str], int]:
        """The stored fence of every `(namespace, fence field)` the batch touches (-1: none)."""
        if offsets is None:
            return {}
        wanted = list(
            dict.fromkeys(
                (d.namespace, o.fence_field)
                for d, o in zip(docs, offsets, strict=True)
                if d.namespace in namespaces
            )
        )
        pipe = self._r.pipeline(transaction=False)
        for ns, fence in wanted:
            pipe.hget(redis_keys.fences(ns), fence)
        return {
            where: -1 if raw is None else int(raw)
            for where, raw in zip(wanted, pipe.execute(), strict=True)
        }

    def _write_namespaces(
        self,
        namespaces: list[str],
        docs: Sequence[ScoredDocument],
        offsets: Sequence[SourceOffset] | None,
        is_future: list[bool],
        fences: dict[tuple[str, str], int],
    ) -> tuple[set[str], WriteResult]:
        """One script call per namespace in one round trip; returns the namespaces done."""
        wanted = set(namespaces)

        def fenced(i: int) -> bool:
            return (
                offsets is not None
                and offsets[i].offset <= fences[(docs[i].namespace, offsets[i].fence_field)]
            )

        calls = build_calls(
            docs,
            self.options,
            lambda i: docs[i].namespace not in wanted or fenced(i) or is_future[i],
        )
        duplicate: dict[str, int] = {}
        for i, doc in enumerate(docs):
            if doc.namespace not in wanted:
                continue
            if fenced(i):
                duplicate[doc.namespace] = duplicate.get(doc.namespace, 0) + 1
                continue
            call = calls.get(doc.namespace)
            if call is None:
                call = calls[doc.namespace] = empty_call(doc.namespace, self.options)
            if is_future[i]:
                call.refused_before[FUTURE_REASON] = call.refused_before.get(FUTURE_REASON, 0) + 1
        if offsets is not None:
            for ns, call in calls.items():
                call.fences = self._fence_moves(ns, docs, offsets, fenced, fences)
        calls = {ns: c for ns, c in calls.items() if c.hours or c.refused_before}
        pipe = self._r.pipeline(transaction=False)
        for ns in calls:
            pipe.sadd(redis_keys.NAMESPACES, ns)
        for call in calls.values():
            keys, args = call.script_args(self._bucket_keys, self._series_labels)
            self._write(keys=keys, args=args, client=pipe)
        replies = pipe.execute()[len(calls) :]
        done = wanted - set(calls)
        new = dup = 0
        refused: list[tuple[str, str]] = []
        for (ns, call), reply in zip(calls.items(), replies, strict=True):
            if int(reply[0]) == 0:
                log.info("fence moved by another writer; retrying", extra={"namespace": ns})
                continue
            done.add(ns)
            refused_hours = {int(h) for h in reply[1:]}
            gone = [d for d, h in zip(call.docs, call.doc_hours, strict=True) if h in refused_hours]
            refused += [(d.document_id, RETENTION_REASON) for d in gone]
            new += len(call.docs) - len(gone)
        for ns in done:
            dup += duplicate.get(ns, 0)
        return done, WriteResult(new=new, duplicate=dup, rejected=tuple(refused))

    @staticmethod
    def _fence_moves(
        namespace: str,
        docs: Sequence[ScoredDocument],
        offsets: Sequence[SourceOffset],
        fenced: Callable[[int], bool],
        fences: dict[tuple[str, str], int],
    ) -> list[dict[str, str]]:
        """Per fence field: the value read (the script checks it is unchanged) and the
        batch's last offset (the script stores it)."""
        last: dict[str, int] = {}
        for i, (doc, where) in enumerate(zip(docs, offsets, strict=True)):
            if doc.namespace == namespace and not fenced(i):
                last[where.fence_field] = max(last.get(where.fence_field, -1), where.offset)
        out = []
        for fence, offset in last.items():
            read = fences[(namespace, fence)]
            out.append(
                {"field": fence, "expected": "" if read < 0 else str(read), "offset": str(offset)}
            )
        return out

    def write_per_document(
        self, docs: Sequence[ScoredDocument], offsets: Sequence[SourceOffset]
    ) -> int:
        """The per-document path: the same script once per document, pipelined per batch.

        Kept as the baseline `python -m finsent.store.bench` measures the batch path
        against; nothing else calls it. Returns the documents written.
        """
        fences = self._read_fences(list({d.namespace for d in docs}), docs, offsets)
        pipe = self._r.pipeline(transaction=False)
        sent = 0
        with transient_errors():
            for doc, where in zip(docs, offsets, strict=True):
                read = fences.get((doc.namespace, where.fence_field), -1)
                if where.offset <= read:
                    continue
                call = empty_call(doc.namespace, self.options)
                call.add(doc)
                call.fences = [
                    {
                        "field": where.fence_field,
                        "expected": "" if read < 0 else str(read),
                        "offset": str(where.offset),
                    }
                ]
                fences[(doc.namespace, where.fence_field)] = where.offset
                keys, args = call.script_args(self._bucket_keys, self._series_labels)
                self._write(keys=keys, args=args, client=pipe)
                sent += 1
            replies = pipe.execute()
        return sum(int(r[0]) for r in replies)

    def close(self) -> None:
        self._r.close()
