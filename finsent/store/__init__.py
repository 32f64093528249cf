"""Sentiment time series in Redis: one interface, two backends, chosen at start.

    from finsent.store import open_store
    store = open_store(settings.redis)            # "auto": RedisTimeSeries if loaded
    store.write_batch(scored_docs)                # idempotent per (namespace, document id)
    store.total(SeriesRef(kind="ticker", value="AAPL"), "live", start, end)

See docs/store.md for the key layout, retention and Cluster notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import redis

from finsent.store.base import ALL_SERIES, SeriesStore, series_of
from finsent.store.core import CoreStore
from finsent.store.models import (
    Mover,
    SeriesPoint,
    SeriesTotals,
    StoreOptions,
    WriteResult,
)
from finsent.store.timeseries import TimeSeriesStore, has_timeseries

Backend = Literal["auto", "core", "timeseries"]

__all__ = [
    "ALL_SERIES",
    "Backend",
    "CoreStore",
    "Mover",
    "SeriesPoint",
    "SeriesStore",
    "SeriesTotals",
    "StoreOptions",
    "TimeSeriesStore",
    "WriteResult",
    "open_store",
    "open_store_on",
    "series_of",
]

if TYPE_CHECKING:  # settings import the store's options; only the annotation needs this
    from finsent.settings import RedisSettings


def open_store_on(
    client: redis.Redis, backend: Backend = "auto", options: StoreOptions | None = None
) -> SeriesStore:
    """A store on an existing client; `auto` picks RedisTimeSeries when the server has it."""
    if backend == "auto":
        backend = "timeseries" if has_timeseries(client) else "core"
    if backend == "timeseries":
        return TimeSeriesStore(client, options)
    return CoreStore(client, options)


def open_store(
    redis_settings: RedisSettings,
    backend: Backend = "auto",
    options: StoreOptions | None = None,
) -> SeriesStore:
    """Connect to Redis and return the store for its capabilities.

    Args:
        redis_settings: where Redis is.
        backend: `auto` (probe `MODULE LIST` / `COMMAND INFO TS.ADD`), or force one.
        options: retention and evidence sizing; defaults are 7 days of minutes, a year of hours.
    """
    return open_store_on(redis_settings.client(), backend, options)
