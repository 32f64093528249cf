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
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, Final

import redis
from redis.commands.core import Script

from finsent import redis_keys
from finsent.errors import TransientError
from finsent.redis_keys import RESOLUTION_MS, Resolution
from finsent.schemas import Evidence, ScoredDocument, SeriesKind, SeriesRef
from finsent.store.models import (
    HOUR_MS,
    Mover,
    SeriesPoint,
    SeriesTotals,
    SourceOffset,
    StoreOptions,
    WriteResult,
    floor_ms,
    from_ms,
    to_ms,
)
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


def as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_int(value: Any) -> int:
    """An integer from a Redis reply (bytes, str, int or float)."""
    return int(float(value)) if isinstance(value, float) else int(value)


def registry_member(ref: SeriesRef) -> str:
    """How the series registry (and alert state) names a series: `<kind>:<value>`."""
    return f"{ref.kind}:{ref.value}"


def parse_registry_member(member: bytes | str) -> SeriesRef:
    text = member.decode() if isinstance(member, bytes) else member
    kind, _, value = text.partition(":")
    return SeriesRef.model_validate({"kind": kind, "value": value})


@contextlib.contextmanager
def transient_errors() -> Iterator[None]:
    """Turn Redis being unreachable or loading into `TransientError` (retry, don't commit)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise TransientError(f"redis unavailable: {type(exc).__name__}") from exc


class SeriesStore(abc.ABC):
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

    @abc.abstractmethod
    def _fetch(
        self,
        namespace: str,
        resolution: Resolution,
        ref: SeriesRef,
        start_ms: int,
        end_ms: int,
    ) -> dict[int, SeriesTotals]:
        """Non-empty buckets whose start lies in `[start_ms, end_ms)`, by start."""

    def _trim_series(self, namespace: str, watermark_ms: int) -> int:
        """Backend-specific retention; returns keys removed."""
        return 0

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

    # -- retention -------------------------------------------------------------------------

    def _maybe_trim(self, namespace: str) -> None:
        if not self.options.trims(namespace):
            return
        wm = self.watermark_ms(namespace)
        if wm is None:
            return
        last = self._trimmed_at.get(namespace)
        if last is None:
            self.trim(namespace)
            return
        last_wm, last_at = last
        moved = wm - last_wm >= self.options.trim_every_s * 1000
        if moved and time.monotonic() - last_at >= self.options.trim_min_interval_s:
            self.trim(namespace)

    def trim(self, namespace: str) -> int:
        """Drop data older than retention behind the namespace watermark; returns keys removed.

        A no-op for namespaces that keep their history (`StoreOptions.keep_replays`). Safe
        while writers run: the write script never writes below the horizons this removes,
        and the watermark never moves back.
        """
        if not self.options.trims(namespace):
            return 0
        with transient_errors():
            wm = self.watermark_ms(namespace)
            if wm is None:
                return 0
            removed = 0
            index = redis_keys.evidence_index(namespace)
            old = self._r.zrangebyscore(
                index, "-inf", wm - self.options.evidence_retention_ms - HOUR_MS
            )
            if old:
                removed += int(self._r.unlink(*old))
                self._r.zrem(index, *old)
            removed += self._trim_series(namespace, wm)
            self._trimmed_at[namespace] = (wm, time.monotonic())
            return removed

    # -- reads -----------------------------------------------------------------------------

    def watermark_ms(self, namespace: str) -> int | None:
        with transient_errors():
            raw = self._r.hget(redis_keys.meta(namespace), "watermark_ms")
        return int(raw) if raw is not None else None

    def watermark(self, namespace: str) -> datetime | None:
        """The newest event time written to the namespace, or None if it is empty."""
        wm = self.watermark_ms(namespace)
        return from_ms(wm) if wm is not None else None

    def first_event(self, namespace: str) -> datetime | None:
        """The oldest event time ever written to the namespace, or None if it is empty."""
        with transient_errors():
            raw = self._r.hget(redis_keys.meta(namespace), "first_ms")
        return from_ms(int(raw)) if raw is not None else None

    def refusals(self, namespace: str) -> dict[str, int]:
        """Documents of the namespace the store refused, by reason (each counted once)."""
        with transient_errors():
            raw = self._r.hgetall(redis_keys.meta(namespace))
        out = {}
        for name, value in raw.items():
            text = as_str(name)
            if text.startswith("refused:"):
                out[text.removeprefix("refused:")] = int(value)
        return dict(sorted(out.items()))

    def document_count(self, namespace: str) -> int:
        """Documents counted in the namespace (each once)."""
        with transient_errors():
            raw = self._r.hget(redis_keys.meta(namespace), "docs")
        return int(raw) if raw is not None else 0

    def total(
        self,
        series: SeriesRef,
        namespace: str,
        start: datetime,
        end: datetime,
        resolution: Resolution = "1m",
    ) -> SeriesTotals:
        """Sums over the buckets that start in `[start, end)`."""
        buckets = self._fetch_checked(namespace, resolution, series, to_ms(start), to_ms(end))
        out = SeriesTotals()
        for totals in buckets.values():
            out = out + totals
        return out

    def range(
        self,
        series: SeriesRef,
        namespace: str,
        start: datetime,
        end: datetime,
        step: timedelta,
        resolution: Resolution = "1m",
    ) -> list[SeriesPoint]:
        """Dense points of width `step` (a multiple of the resolution, aligned to the epoch)
        covering `[start, end)`; empty buckets are zero."""
        step_ms = step // timedelta(milliseconds=1)
        if step_ms <= 0 or step_ms % RESOLUTION_MS[resolution]:
            raise ValueError(f"step must be a positive multiple of {resolution}")
        first = floor_ms(to_ms(start), step_ms)
        end_ms = to_ms(end)
        buckets = self._fetch_checked(namespace, resolution, series, first, end_ms)
        sums: dict[int, SeriesTotals] = {}
        for bucket_ms, totals in buckets.items():
            key = floor_ms(bucket_ms, step_ms)
            sums[key] = sums.get(key, SeriesTotals()) + totals
        return [
            SeriesPoint(start=from_ms(at), totals=sums.get(at, SeriesTotals()))
            for at in range(first, end_ms, step_ms)
        ]

    def buckets(
        self,
        series: SeriesRef,
        namespace: str,
        start: datetime,
        end: datetime,
        resolution: Resolution = "1m",
    ) -> dict[int, SeriesTotals]:
        """The non-empty buckets starting in `[start, end)`, by start (epoch ms): a sparse
        `range` for readers that aggregate many steps themselves (the alert engine)."""
        return self._fetch_checked(namespace, resolution, series, to_ms(start), to_ms(end))

    def _fetch_checked(
        self, namespace: str, resolution: Resolution, ref: SeriesRef, start_ms: int, end_ms: int
    ) -> dict[int, SeriesTotals]:
        if end_ms <= start_ms:
            return {}
        with transient_errors():
            return self._fetch(namespace, resolution, ref, start_ms, end_ms)

    def evidence(
        self, series: SeriesRef, namespace: str, start: datetime, end: datetime, limit: int = 5
    ) -> list[Evidence]:
        """The most negative documents of a series published in `[start, end)`.

        Kept `evidence_retention_s` behind the watermark.
        """
        start_ms, end_ms = to_ms(start), to_ms(end)
        hours = range(floor_ms(start_ms, HOUR_MS), end_ms, HOUR_MS)
        with transient_errors():
            pipe = self._r.pipeline(transaction=False)
            for hour in hours:
                # Whole hour (capped at write time): the window may cut the hour.
                pipe.zrange(redis_keys.evidence(namespace, series.kind, series.value, hour), 0, -1)
            found = [Evidence.model_validate_json(m) for ms in pipe.execute() for m in ms]
        inside = [e for e in found if start <= e.published_at < end]
        inside.sort(key=lambda e: (e.score, e.published_at, e.document_id))
        return inside[:limit]

    def list_series(self, namespace: str, kind: SeriesKind | None = None) -> list[SeriesRef]:
        """Series with data in the namespace, optionally of one kind, sorted."""
        with transient_errors():
            members = self._r.smembers(redis_keys.series_registry(namespace))
        refs = [parse_registry_member(m) for m in members]
        return sorted(
            (r for r in refs if kind is None or r.kind == kind), key=lambda r: (r.kind, r.value)
        )

    def top_movers(
        self,
        namespace: str,
        kind: SeriesKind,
        end: datetime,
        window: timedelta,
        limit: int = 10,
        min_count: int = 1,
    ) -> list[Mover]:
        """Series whose negative share rose most from `[end-2w, end-w)` to `[end-w, end)`.

        Series with fewer than `min_count` documents in the recent window are skipped.
        """
        resolution: Resolution = "1h" if window >= timedelta(hours=1) else "1m"
        movers = []
        for ref in self.list_series(namespace, kind):
            before = self.total(ref, namespace, end - 2 * window, end - window, resolution)
            after = self.total(ref, namespace, end - window, end, resolution)
            if after.count >= min_count:
                movers.append(Mover(series=ref, before=before, after=after))
        movers.sort(key=lambda m: (-m.change, m.series.kind, m.series.value))
        return movers[:limit]

    def list_namespaces(self) -> list[str]:
        """Namespaces that hold data, sorted."""
        with transient_errors():
            return sorted(as_str(m) for m in self._r.smembers(redis_keys.NAMESPACES))

    def drop_namespace(self, namespace: str) -> int:
        """Delete every key of a namespace (a replay); returns how many were removed."""
        removed = 0
        with transient_errors():
            self._r.srem(redis_keys.NAMESPACES, namespace)
            batch: list[bytes] = []
            for key in self._r.scan_iter(match=redis_keys.namespace_pattern(namespace), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    removed += int(self._r.unlink(*batch))
                    batch.clear()
            if batch:
                removed += int(self._r.unlink(*batch))
        self._trimmed_at.pop(namespace, None)
        log.info("namespace dropped", extra={"namespace": namespace, "keys": removed})
        return removed

    def close(self) -> None:
        self._r.close()
