"""Sentiment time series in Redis: one interface, two backends, chosen at start.

    from finsent.store import open_store
    store = open_store(settings)                  # "auto": RedisTimeSeries if loaded
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
    from finsent.settings import FinsentSettings


def open_store_on(
    client: redis.Redis, options: StoreOptions, backend: Backend = "auto"
) -> SeriesStore:
    """A store on an existing client; `auto` picks RedisTimeSeries when the server has it.

    `options` has no default, for the reason `open_store` takes the settings whole.
    """
    if backend == "auto":
        backend = "timeseries" if has_timeseries(client) else "core"
    if backend == "timeseries":
        return TimeSeriesStore(client, options)
    return CoreStore(client, options)


def open_store(settings: FinsentSettings, backend: Backend = "auto") -> SeriesStore:
    """Connect to Redis and return the store for its capabilities.

    Takes the shared settings whole so that retention (`settings.store`) always comes with
    the connection: the scorer trims by it and every reader must agree with it.

    Args:
        settings: where Redis is (`settings.redis`) and the retention (`settings.store`).
        backend: `auto` (probe `MODULE LIST` / `COMMAND INFO TS.ADD`), or force one.
    """
    return open_store_on(settings.redis.client(), settings.store, backend)
