"""What readers ask of the store: watermarks, totals, dense ranges, evidence, movers."""

from __future__ import annotations

import abc
from datetime import datetime, timedelta

import redis

from finsent import redis_keys
from finsent.redis_keys import RESOLUTION_MS, Resolution
from finsent.schemas import Evidence, SeriesKind, SeriesRef
from finsent.store.models import (
    HOUR_MS,
    Mover,
    SeriesPoint,
    SeriesTotals,
    floor_ms,
    from_ms,
    to_ms,
)
from finsent.store.replies import as_str, parse_registry_member, transient_errors


class SeriesReads(abc.ABC):
    """The read side of `SeriesStore`, over the backend's `_fetch`."""

    _r: redis.Redis

    @abc.abstractmethod
    def _fetch(
        self,
        namespace: str,
        resolution: Resolution,
        ref: SeriesRef,
        start_ms: int,
        end_ms: int,
    ) -> dict[int, SeriesTotals]:
        """Non-empty buckets whose start lies in `[start_ms, end_ms)`, by start (backend)."""

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
