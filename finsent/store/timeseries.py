"""RedisTimeSeries backend (Redis 8, Redis Stack, or the module `make setup` fetches).

One TS key per (namespace, series, field, resolution, model version), labelled so that
`TS.MRANGE - + FILTER app=finsent namespace=live ticker=AAPL field=count resolution=1m`
works in Grafana. The batch script (`lua/timeseries.lua`) adds a batch's sum to each
bucket with `TS.ADD ... ON_DUPLICATE SUM`: exact because the fence admits each batch once.

Hourly series are written by the same script rather than by `TS.CREATERULE` compaction:
a compaction rule only sees samples newer than the series' last bucket, so an event that
arrives out of order would be missing from (or, when recomputed, race with) the hourly
series; writing both is exact and keeps the two retentions independent. RedisTimeSeries'
own `RETENTION` is relative to the newest sample of each series, i.e. event time, which is
what we want (a replay of 2015 is not expired on arrival); namespaces that keep their
history (`StoreOptions.keep_replays`) create their keys without retention.

Label values: RedisTimeSeries refuses `,` `(` `)` and the empty string in a label value
(`ERR TSDB: Couldn't parse LABELS`), which would stop the script half-way through a batch.
`label_value` percent-encodes those (and `%`), so any source or ticker is safe; the key
name keeps the raw value.
"""

from __future__ import annotations

from typing import Final

import redis

from finsent import redis_keys
from finsent.labels import SENTIMENT_LABELS
from finsent.redis_keys import RESOLUTION_MS, SERIES_FIELDS, Resolution
from finsent.schemas import SeriesRef
from finsent.store.base import SeriesStore
from finsent.store.models import SeriesTotals, floor_ms, to_ms
from finsent.store.replies import as_str

_UNSAFE_IN_LABELS: Final = frozenset(",()%")


def label_value(value: str) -> str:
    """A RedisTimeSeries label value for any text: `,` `(` `)` `%` and control characters
    percent-encoded (UTF-8), the empty string as `%00`. Reversible, and the identity on
    every ordinary ticker, topic slug, source and model version."""
    if not value:
        return "%00"
    if not any(c in _UNSAFE_IN_LABELS or c < " " or c == "\x7f" for c in value):
        return value
    return "".join(
        "".join(f"%{b:02X}" for b in c.encode())
        if c in _UNSAFE_IN_LABELS or c < " " or c == "\x7f"
        else c
        for c in value
    )


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
    _lua = "timeseries.lua"

    def _bucket_keys(
        self, namespace: str, res: Resolution, kind: str, value: str, start_ms: int, model: str
    ) -> list[str]:
        # The order of `FIELDS` in lua/timeseries.lua.
        return [
            redis_keys.ts_series(namespace, res, kind, value, field, model)
            for field in SERIES_FIELDS
        ]

    def _series_labels(self, namespace: str, kind: str, value: str, model: str) -> list[str]:
        labels = ["app", "finsent", "namespace", namespace, "kind", kind, "value", value]
        labels += ["model", model]
        if kind != "all":
            labels += [kind, value]
        return [labels[i] if i % 2 == 0 else label_value(labels[i]) for i in range(len(labels))]

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
        if self.options.trims(namespace):
            retention = {
                "1m": self.options.minute_retention_ms,
                "1h": self.options.hour_retention_ms,
            }
            start_ms = max(
                start_ms, floor_ms(wm - retention[resolution], RESOLUTION_MS[resolution])
            )
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
