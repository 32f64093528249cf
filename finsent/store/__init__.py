"""Sentiment time series in Redis: one interface, two backends, chosen at start.

    from finsent.store import SourceOffset, open_store
    store = open_store(settings)                  # settings.store.backend: "auto" by default
    store.write_batch_detailed(scored_docs, [SourceOffset(topic, partition, offset), ...])
    store.total(SeriesRef(kind="ticker", value="AAPL"), "live", start, end)

See docs/store.md for the key layout, retention and Cluster notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import redis

from finsent.errors import ConfigurationError
from finsent.store.base import ALL_SERIES, SeriesStore
from finsent.store.core import CoreStore
from finsent.store.models import (
    Mover,
    SeriesPoint,
    SeriesTotals,
    SourceOffset,
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
    "SourceOffset",
    "StoreOptions",
    "TimeSeriesStore",
    "WriteResult",
    "open_store",
    "open_store_on",
]

if TYPE_CHECKING:  # settings import the store's options; only the annotation needs this
    from finsent.settings import FinsentSettings


def open_store_on(
    client: redis.Redis, options: StoreOptions, backend: Backend | None = None
) -> SeriesStore:
    """A store on an existing client.

    `backend` (default `options.backend`): `auto` picks RedisTimeSeries when the server has
    it; `timeseries` on a server without it is a `ConfigurationError`, never a silent
    fallback to core. `options` has no default, for the reason `open_store` takes the
    settings whole.
    """
    chosen = backend or options.backend
    if chosen == "auto":
        chosen = "timeseries" if has_timeseries(client) else "core"
    elif chosen == "timeseries" and not has_timeseries(client):
        raise ConfigurationError(
            "the store backend is `timeseries` but this Redis has no RedisTimeSeries: use "
            "Redis 8 (or Redis Stack), load the module (`make setup` fetches it for the local "
            "stack), or set FINSENT_STORE__BACKEND=core"
        )
    if chosen == "timeseries":
        return TimeSeriesStore(client, options)
    return CoreStore(client, options)


def open_store(settings: FinsentSettings, backend: Backend | None = None) -> SeriesStore:
    """Connect to Redis and return the store for its capabilities.

    Takes the shared settings whole so that retention (`settings.store`) always comes with
    the connection: the scorer trims by it and every reader must agree with it.

    Args:
        settings: where Redis is (`settings.redis`), the retention and the backend
            (`settings.store`, `FINSENT_STORE__BACKEND`).
        backend: overrides `settings.store.backend`.

    Raises:
        ConfigurationError: `timeseries` was asked for and the server lacks it.
    """
    return open_store_on(settings.redis.client(), settings.store, backend)
