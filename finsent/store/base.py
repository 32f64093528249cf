"""The `SeriesStore` interface and everything its two backends share.

A scored document adds to the series of each of its tickers, its topic, its source and
`all`, in its namespace, at 1-minute and 1-hour resolution, in the bucket of its event time
(`published_at`). One Lua script per document, pipelined per batch, does, atomically:

1. reject it if its minute is older than the namespace watermark minus minute retention
   (its dedupe record may already be trimmed, so counting it could count it twice);
2. `SADD` its id to the dedupe set of its event-time hour; already there -> duplicate, stop;
3. advance the namespace watermark (max event time) and the document count;
4. add to every series (backend-specific), register the series, keep it as evidence.

Because step 2 runs in the same script as step 4, a redelivered or replayed document
changes nothing, whatever order documents arrive in and however many writers race.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import redis
from redis.commands.core import Script

from finsent import redis_keys
from finsent.errors import TransientError
from finsent.labels import topic_slug
from finsent.redis_keys import RESOLUTION_MS, Resolution
from finsent.schemas import Evidence, ScoredDocument, SeriesKind, SeriesRef
from finsent.store.models import (
    HOUR_MS,
    MINUTE_MS,
    Mover,
    SeriesPoint,
    SeriesTotals,
    StoreOptions,
    WriteResult,
    floor_ms,
    from_ms,
    to_ms,
)

log = logging.getLogger(__name__)

SERIES_KINDS: Final[tuple[SeriesKind, ...]] = ("ticker", "topic", "source", "all")
ALL_SERIES: Final = SeriesRef(kind="all", value="all")
EVIDENCE_SNIPPET_CHARS: Final = 300

# Shared part of the write script. KEYS: 1 meta, 2 seen set, 3 seen index, 4 series registry,
# 5 evidence index, then STRIDE keys per series, the first being its evidence key.
# ARGV: 1 doc id, 2 event ms, 3 minute ms, 4 hour ms, 5 label, 6 score, 7 model,
# 8 minute retention ms, 9 evidence JSON, 10 evidence cap, 11 series count,
# 12 hour retention ms, 13 namespace, 14 max lateness ms, 15 evidence retention ms,
# then 3 per series: registry member, kind, value.
# `write_series(k, a, minutes)` adds to the hour buckets, and to the minute buckets when
# `minutes` (the minute is still kept): a late document never recreates trimmed minutes.
_WRITE_PREAMBLE = """
local raw = redis.call('HGET', KEYS[1], 'watermark_ms')
local wm = nil
if raw then wm = tonumber(raw) end
local minute = tonumber(ARGV[3])
if wm and minute < wm - tonumber(ARGV[14]) then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], ARGV[4], KEYS[2])
if (not wm) or tonumber(ARGV[2]) > wm then
  redis.call('HSET', KEYS[1], 'watermark_ms', ARGV[2])
end
local first = redis.call('HGET', KEYS[1], 'first_ms')
if (not first) or tonumber(ARGV[2]) < tonumber(first) then
  redis.call('HSET', KEYS[1], 'first_ms', ARGV[2])
end
redis.call('HINCRBY', KEYS[1], 'docs', 1)
local minutes = (not wm) or minute >= wm - tonumber(ARGV[8])
local evidence = (not wm) or minute >= wm - tonumber(ARGV[15])
local n = tonumber(ARGV[11])
for i = 0, n - 1 do
  local k = 6 + STRIDE * i
  local a = 15 + 3 * i
  redis.call('SADD', KEYS[4], ARGV[a + 1])
  if evidence then
    redis.call('ZADD', KEYS[k], ARGV[6], ARGV[9])
    local kept = redis.call('ZCARD', KEYS[k])
    if kept == 1 then
      redis.call('ZADD', KEYS[5], ARGV[4], KEYS[k])
    elseif kept > tonumber(ARGV[10]) then
      redis.call('ZREMRANGEBYRANK', KEYS[k], tonumber(ARGV[10]), -1)
    end
  end
  write_series(k, a, minutes)
end
return 1
"""


def build_write_script(stride: int, write_series_lua: str) -> str:
    """The full write script: a backend's `write_series(k, a, minutes)`, then the preamble."""
    return write_series_lua + _WRITE_PREAMBLE.replace("STRIDE", str(stride))


def series_of(doc: ScoredDocument) -> list[SeriesRef]:
    """Every series a document counts in: each ticker, its topic, its source, and `all`."""
    refs = [SeriesRef(kind="ticker", value=t) for t in dict.fromkeys(doc.tickers)]
    refs.append(SeriesRef(kind="topic", value=topic_slug(doc.topic)))
    refs.append(SeriesRef(kind="source", value=doc.source))
    refs.append(ALL_SERIES)
    return refs


def as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_int(value: Any) -> int:
    """An integer from a Redis reply (bytes, str, int or float)."""
    return int(float(value)) if isinstance(value, float) else int(value)


def registry_member(ref: SeriesRef) -> str:
    return f"{ref.kind}:{ref.value}"


def parse_registry_member(member: bytes | str) -> SeriesRef:
    text = member.decode() if isinstance(member, bytes) else member
    kind, _, value = text.partition(":")
    return SeriesRef.model_validate({"kind": kind, "value": value})


def evidence_of(doc: ScoredDocument) -> Evidence:
    """What an alert cites about a document: no full text, only title/snippet."""
    parts = [p for p in (doc.title, doc.snippet) if p]
    snippet = " — ".join(parts)[:EVIDENCE_SNIPPET_CHARS]
    return Evidence(
        document_id=doc.document_id,
        published_at=doc.published_at,
        snippet=snippet,
        url=doc.url,
        score=doc.score,
    )


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
    _stride: int = 1
    _write_series_lua: str = ""

    def __init__(self, client: redis.Redis, options: StoreOptions) -> None:
        self._r = client
        self.options = options
        self._write: Script = client.register_script(
            build_write_script(self._stride, self._write_series_lua)
        )
        self._trimmed_at: dict[str, tuple[int, float]] = {}

    @property
    def client(self) -> redis.Redis:
        """The client, for services that keep their own state next to the series."""
        return self._r

    # -- backend hooks -------------------------------------------------------------------

    @abc.abstractmethod
    def _series_keys(self, namespace: str, ref: SeriesRef, doc: ScoredDocument) -> list[str]:
        """The `_stride - 1` backend keys of one series for this document."""

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

    def _before_writes(self, pipe: redis.client.Pipeline, docs: Sequence[ScoredDocument]) -> None:
        """Queue idempotent bookkeeping before the batch's scripts (same round trip)."""
        return None

    def _trim_series(self, namespace: str, watermark_ms: int) -> int:
        """Backend-specific retention; returns keys removed."""
        return 0

    # -- writes ----------------------------------------------------------------------------

    def write_batch(self, docs: Sequence[ScoredDocument]) -> int:
        """Count a batch of documents; returns how many were new.

        Idempotent per (namespace, document id); atomic per document; one round trip per
        batch. Documents the store refuses (see `write_batch_detailed`) are not counted.

        Raises:
            TransientError: Redis is unreachable; nothing is known to be written, retry the
                whole batch (already counted documents are skipped on retry).
        """
        return self.write_batch_detailed(docs).new

    def write_batch_detailed(self, docs: Sequence[ScoredDocument]) -> WriteResult:
        """Like `write_batch`, but says what happened to each document.

        `rejected` lists documents that must be dead-lettered by the caller: published more
        than `max_future_s` after ingestion, or older than minute retention behind the
        namespace watermark on arrival.
        """
        opts = self.options
        rejected: list[tuple[str, str]] = []
        calls: list[ScoredDocument] = []
        for doc in docs:
            if doc.published_at - doc.ingested_at > timedelta(seconds=opts.max_future_s):
                rejected.append((doc.document_id, "published_at is in the future"))
            else:
                calls.append(doc)
        if not calls:
            return WriteResult(rejected=tuple(rejected))
        with transient_errors():
            pipe = self._r.pipeline(transaction=False)
            for ns in dict.fromkeys(d.namespace for d in calls):
                pipe.sadd(redis_keys.NAMESPACES, ns)
            self._before_writes(pipe, calls)
            for doc in calls:
                keys, args = self._script_call(doc)
                self._write(keys=keys, args=args, client=pipe)
            results = pipe.execute()[-len(calls) :]
        new = dup = 0
        for doc, res in zip(calls, results, strict=True):
            if res == 1:
                new += 1
            elif res == 0:
                dup += 1
            else:
                rejected.append((doc.document_id, "older than max_lateness behind the watermark"))
        for ns in dict.fromkeys(d.namespace for d in calls):
            self._maybe_trim(ns)
        return WriteResult(new=new, duplicate=dup, rejected=tuple(rejected))

    def _script_call(self, doc: ScoredDocument) -> tuple[list[str], list[Any]]:
        ns = doc.namespace
        event_ms = to_ms(doc.published_at)
        hour_ms = floor_ms(event_ms, HOUR_MS)
        refs = series_of(doc)
        keys = [
            redis_keys.meta(ns),
            redis_keys.seen(ns, hour_ms),
            redis_keys.seen_index(ns),
            redis_keys.series_registry(ns),
            redis_keys.evidence_index(ns),
        ]
        args: list[Any] = [
            doc.document_id,
            event_ms,
            floor_ms(event_ms, MINUTE_MS),
            hour_ms,
            doc.sentiment,
            repr(doc.score),
            doc.model_version,
            self.options.minute_retention_ms,
            evidence_of(doc).model_dump_json(),
            self.options.evidence_per_hour,
            len(refs),
            self.options.hour_retention_ms,
            ns,
            self.options.max_lateness_ms,
            self.options.evidence_retention_ms,
        ]
        for ref in refs:
            keys.append(redis_keys.evidence(ns, ref.kind, ref.value, hour_ms))
            keys.extend(self._series_keys(ns, ref, doc))
            args.extend([registry_member(ref), ref.kind, ref.value])
        return keys, args

    # -- retention -------------------------------------------------------------------------

    def _maybe_trim(self, namespace: str) -> None:
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

        Safe while writers run: writers reject anything older than the watermark minus
        minute retention, and the watermark never moves back, so nothing can be written
        to what this removes.
        """
        with transient_errors():
            wm = self.watermark_ms(namespace)
            if wm is None:
                return 0
            horizon = wm - self.options.max_lateness_ms
            removed = 0
            # An hour's dedupe set goes once no minute of that hour is acceptable any more.
            horizons = {
                redis_keys.seen_index(namespace): horizon,
                redis_keys.evidence_index(namespace): wm - self.options.evidence_retention_ms,
            }
            for index, until in horizons.items():
                old = self._r.zrangebyscore(index, "-inf", until - HOUR_MS)
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
