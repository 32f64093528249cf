"""Core Redis backend (any Redis 7+, no modules).

Each series bucket is a hash (`count`, `negative`, `neutral`, `positive`, `score_sum`,
and `m:<model version>` counts) with a sorted-set index of bucket starts per series and
resolution. Minute and hour buckets are both written by the batch script (`lua/core.lua`),
so the hourly series needs no compaction job and is exact for out-of-order events.
"""

from __future__ import annotations

from finsent import redis_keys
from finsent.redis_keys import RESOLUTIONS, Resolution
from finsent.schemas import SeriesRef
from finsent.store.base import SeriesStore
from finsent.store.models import SeriesTotals
from finsent.store.replies import as_int, transient_errors


def _totals(raw: dict[bytes, bytes]) -> SeriesTotals:
    return SeriesTotals(
        count=int(raw.get(b"count", 0)),
        negative=int(raw.get(b"negative", 0)),
        neutral=int(raw.get(b"neutral", 0)),
        positive=int(raw.get(b"positive", 0)),
        score_sum=float(raw.get(b"score_sum", 0.0)),
    )


class CoreStore(SeriesStore):
    """Series as hashes per bucket; see the module docstring."""

    backend = "core"
    _lua = "core.lua"

    def _bucket_keys(
        self, namespace: str, res: Resolution, kind: str, value: str, start_ms: int, model: str
    ) -> list[str]:
        return [
            redis_keys.bucket(namespace, res, kind, value, start_ms),
            redis_keys.bucket_index(namespace, res, kind, value),
        ]

    def _fetch(
        self,
        namespace: str,
        resolution: Resolution,
        ref: SeriesRef,
        start_ms: int,
        end_ms: int,
    ) -> dict[int, SeriesTotals]:
        index = redis_keys.bucket_index(namespace, resolution, ref.kind, ref.value)
        starts = [as_int(s) for s in self._r.zrangebyscore(index, start_ms, f"({end_ms}")]
        if not starts:
            return {}
        pipe = self._r.pipeline(transaction=False)
        for start in starts:
            pipe.hgetall(redis_keys.bucket(namespace, resolution, ref.kind, ref.value, start))
        out = {}
        for start, raw in zip(starts, pipe.execute(), strict=True):
            if raw:  # a bucket trimmed between the two reads is simply absent
                out[start] = _totals(raw)
        return out

    def _trim_series(self, namespace: str, watermark_ms: int) -> int:
        horizons: dict[Resolution, int] = {
            "1m": watermark_ms - self.options.minute_retention_ms,
            "1h": watermark_ms - self.options.hour_retention_ms,
        }
        removed = 0
        for ref in self.list_series(namespace):
            for res in RESOLUTIONS:
                index = redis_keys.bucket_index(namespace, res, ref.kind, ref.value)
                with transient_errors():
                    old = [
                        as_int(s) for s in self._r.zrangebyscore(index, "-inf", f"({horizons[res]}")
                    ]
                    if not old:
                        continue
                    keys = [redis_keys.bucket(namespace, res, ref.kind, ref.value, s) for s in old]
                    for i in range(0, len(keys), 500):
                        removed += int(self._r.unlink(*keys[i : i + 500]))
                    self._r.zrem(index, *old)
        return removed
