"""RedisTimeSeries backend (Redis 8, or Redis Stack).

One TS key per (namespace, series, field, resolution, model version), labelled so that
`TS.MRANGE - + FILTER app=finsent namespace=live ticker=AAPL field=count resolution=1m`
works in Grafana. The per-document script adds to a bucket by reading it and writing the
sum back with `ON_DUPLICATE LAST`: the dedupe check in the same script makes this exact,
whereas `ON_DUPLICATE SUM` alone would double-count every redelivery.

Hourly series are written by the same script rather than by `TS.CREATERULE` compaction:
a compaction rule only sees samples newer than the series' last bucket, so an event that
arrives out of order would be missing from (or, when recomputed, race with) the hourly
series; writing both is exact and keeps the two retentions independent. RedisTimeSeries'
own `RETENTION` is relative to the newest sample of each series, i.e. event time, which is
what we want (a replay of 2015 is not expired on arrival).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import redis

from finsent import redis_keys
from finsent.labels import SENTIMENT_LABELS
from finsent.redis_keys import RESOLUTION_MS, RESOLUTIONS, SERIES_FIELDS, Resolution
from finsent.schemas import ScoredDocument, SeriesRef
from finsent.store.base import SeriesStore, as_str
from finsent.store.models import SeriesTotals, floor_ms, to_ms

# Per series keys after its evidence key: minute count, label, score_sum; hour the same.
_WRITE_SERIES: Final = """
local function bump(key, ts, delta, field, res, retention, kind, value)
  if redis.call('EXISTS', key) == 0 then
    local labels = {'app', 'finsent', 'namespace', ARGV[13], 'kind', kind, 'value', value,
      'field', field, 'resolution', res, 'model', ARGV[7]}
    if kind ~= 'all' then
      table.insert(labels, kind)
      table.insert(labels, value)
    end
    redis.call('TS.CREATE', key, 'RETENTION', retention, 'DUPLICATE_POLICY', 'LAST',
      'LABELS', unpack(labels))
  end
  local cur = redis.call('TS.RANGE', key, ts, ts)
  local v = tonumber(delta)
  if #cur > 0 then v = v + tonumber(cur[1][2]) end
  redis.call('TS.ADD', key, ts, string.format('%.17g', v), 'ON_DUPLICATE', 'LAST')
end
local function write_series(k, a, minutes)
  local kind, value = ARGV[a + 2], ARGV[a + 3]
  local res = {{'1h', ARGV[4], ARGV[12], 4}}
  if minutes then table.insert(res, {'1m', ARGV[3], ARGV[8], 1}) end
  for _, r in ipairs(res) do
    bump(KEYS[k + r[4]], r[2], 1, 'count', r[1], r[3], kind, value)
    bump(KEYS[k + r[4] + 1], r[2], 1, ARGV[5], r[1], r[3], kind, value)
    bump(KEYS[k + r[4] + 2], r[2], ARGV[6], 'score_sum', r[1], r[3], kind, value)
  end
end
"""


def has_timeseries(client: redis.Redis) -> bool:
    """True when the server runs RedisTimeSeries.

    `MODULE LIST` first; ACLs may forbid it and Redis 8 has TS built in, so then probe
    `TS.INFO` on a key that does not exist: "unknown command" means no TS, the module's
    own "key does not exist" error means TS is there. (redis-py cannot parse a nil
    `COMMAND INFO TS.ADD` reply, so that probe is not used.)
    """
    try:
        modules = client.module_list()
        if any(b"timeseries" in repr(m).lower().encode() for m in modules):
            return True
    except (redis.ResponseError, TypeError, KeyError):
        pass
    try:
        client.execute_command("TS.INFO", f"{redis_keys.PREFIX}:probe:{{ts}}")  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:
        return "unknown command" not in str(exc).lower()
    return True


class TimeSeriesStore(SeriesStore):
    """Series as RedisTimeSeries keys with labels; see the module docstring."""

    backend = "timeseries"
    _stride = 7
    _write_series_lua = _WRITE_SERIES

    def _series_keys(self, namespace: str, ref: SeriesRef, doc: ScoredDocument) -> list[str]:
        return [
            redis_keys.ts_series(namespace, res, ref.kind, ref.value, field, doc.model_version)
            for res in RESOLUTIONS
            for field in ("count", doc.sentiment, "score_sum")
        ]

    def _before_writes(self, pipe: redis.client.Pipeline, docs: Sequence[ScoredDocument]) -> None:
        for ns, model in dict.fromkeys((d.namespace, d.model_version) for d in docs):
            pipe.sadd(redis_keys.models(ns), model)

    def _fetch(
        self,
        namespace: str,
        resolution: Resolution,
        ref: SeriesRef,
        start_ms: int,
        end_ms: int,
    ) -> dict[int, SeriesTotals]:
        # RedisTimeSeries drops old samples lazily (per chunk); clamp to the same horizon the
        # core backend trims to, so both backends answer alike.
        wm = self.watermark_ms(namespace)
        if wm is None:
            return {}
        retention = {"1m": self.options.minute_retention_ms, "1h": self.options.hour_retention_ms}
        start_ms = max(start_ms, floor_ms(wm - retention[resolution], RESOLUTION_MS[resolution]))
        models = sorted(as_str(m) for m in self._r.smembers(redis_keys.models(namespace)))
        wanted = [(model, field) for model in models for field in SERIES_FIELDS]
        if not wanted:
            return {}
        pipe = self._r.pipeline(transaction=False)
        for model, field in wanted:
            key = redis_keys.ts_series(namespace, resolution, ref.kind, ref.value, field, model)
            pipe.execute_command("TS.RANGE", key, start_ms, end_ms - 1)  # type: ignore[no-untyped-call]
        sums: dict[int, dict[str, float]] = {}
        for (_, field), samples in zip(wanted, pipe.execute(raise_on_error=False), strict=True):
            if isinstance(samples, redis.ResponseError):
                continue  # this (model, field) never had a sample: the key does not exist
            for ts, value in samples:
                bucket = sums.setdefault(int(ts), {})
                bucket[field] = bucket.get(field, 0.0) + float(value)
        step = RESOLUTION_MS[resolution]
        return {
            floor_ms(ts, step): SeriesTotals(
                count=round(f.get("count", 0.0)),
                score_sum=f.get("score_sum", 0.0),
                **{label: round(f.get(label, 0.0)) for label in SENTIMENT_LABELS},
            )
            for ts, f in sums.items()
            if f.get("count", 0.0) > 0
        }


__all__ = ["TimeSeriesStore", "has_timeseries", "to_ms"]
