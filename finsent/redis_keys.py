"""Every Redis key finsent uses, built only here (STYLE.md section 3).

All keys of one namespace share the hash tag `{<namespace>}`, so in Redis Cluster a
namespace lives in one slot: the batch write script may touch all its series
atomically, and `drop_namespace` scans one node. The trade-off: one namespace cannot be
spread over several shards; `live` is bounded by one shard's memory and CPU (ample for
minute-resolution series; see docs/store.md). Keys that span namespaces (the namespace
registry) carry no namespace tag and are never touched by a script.

Grafana and the query API filter on labels (`ticker`, `model`, ...), never on key strings.
"""

from __future__ import annotations

from typing import Final, Literal

PREFIX: Final = "finsent"

Resolution = Literal["1m", "1h"]
RESOLUTIONS: Final[tuple[Resolution, ...]] = ("1m", "1h")
RESOLUTION_MS: Final[dict[Resolution, int]] = {"1m": 60_000, "1h": 3_600_000}

SeriesField = Literal["count", "negative", "neutral", "positive", "score_sum"]
SERIES_FIELDS: Final[tuple[SeriesField, ...]] = (
    "count",
    "negative",
    "neutral",
    "positive",
    "score_sum",
)

# Label names on every RedisTimeSeries key; dashboards may filter on exactly these.
TS_LABELS: Final[tuple[str, ...]] = (
    "app",
    "namespace",
    "kind",
    "ticker",
    "topic",
    "source",
    "value",
    "field",
    "resolution",
    "model",
)

NAMESPACES: Final = f"{PREFIX}:namespaces"
"""Set of namespace names that hold data (cross-slot; never touched by a script)."""


def _ns(namespace: str) -> str:
    return f"{PREFIX}:{{{namespace}}}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def namespace_pattern(namespace: str) -> str:
    """SCAN pattern matching every key of one namespace (glob-escaped)."""
    return _glob_escape(_ns(namespace)) + ":*"


def meta(namespace: str) -> str:
    """Hash: `watermark_ms` (max event time written), `first_ms`, `docs` (documents counted),
    `refused:<reason>` (documents refused, by reason)."""
    return f"{_ns(namespace)}:meta"


def series_registry(namespace: str) -> str:
    """Set of `<kind>:<value>` series that have data in the namespace."""
    return f"{_ns(namespace)}:series"


def models(namespace: str) -> str:
    """Set of model versions that wrote to the namespace (RedisTimeSeries backend)."""
    return f"{_ns(namespace)}:models"


def fences(namespace: str) -> str:
    """Hash: `<stream>:<partition>` -> the last source offset written into the namespace."""
    return f"{_ns(namespace)}:fence"


def write_reply(namespace: str, token: str) -> str:
    """String (2 minutes): the reply of one batch write call, so a call the client resends
    after a timeout (redis-py retries) gets its first reply instead of a fence conflict."""
    return f"{_ns(namespace)}:write:{token}"


def bucket(namespace: str, resolution: Resolution, kind: str, value: str, start_ms: int) -> str:
    """Core backend hash of one series bucket: fields `count`, ..., `score_sum`, `m:<model>`."""
    return f"{_ns(namespace)}:b:{resolution}:{kind}:{value}:{start_ms}"


def bucket_index(namespace: str, resolution: Resolution, kind: str, value: str) -> str:
    """Core backend sorted set of one series' bucket starts (score = member = start ms)."""
    return f"{_ns(namespace)}:bi:{resolution}:{kind}:{value}"


def ts_series(
    namespace: str, resolution: Resolution, kind: str, value: str, field: str, model: str
) -> str:
    """RedisTimeSeries key of one (series, field, resolution, model version)."""
    return f"{_ns(namespace)}:ts:{resolution}:{kind}:{value}:{field}:{model}"


def evidence(namespace: str, kind: str, value: str, hour_ms: int) -> str:
    """Sorted set of the most negative documents of one series in one hour (score = score)."""
    return f"{_ns(namespace)}:ev:{kind}:{value}:{hour_ms}"


def evidence_index(namespace: str) -> str:
    """Sorted set of evidence keys (score = hour start ms), for trimming."""
    return f"{_ns(namespace)}:ev_idx"


def open_incidents(namespace: str) -> str:
    """Hash: incident id -> the firing `Alert` JSON, while the incident is open."""
    return f"{_ns(namespace)}:alerts:open"


def alert_cursor(namespace: str) -> str:
    """Hash: rule name -> end (ms) of the last window evaluated."""
    return f"{_ns(namespace)}:alerts:cursor"


def alert_detectors(namespace: str, rule: str) -> str:
    """Hash: `<kind>:<value>` -> detector state JSON, for one rule."""
    return f"{_ns(namespace)}:alerts:detector:{rule}"


def alert_log(namespace: str) -> str:
    """Stream of every alert state change of the namespace (field `alert`: JSON)."""
    return f"{_ns(namespace)}:alerts:log"


def alert_outbox(namespace: str) -> str:
    """Hash: `<incident id>|<state>` -> notification still to deliver (JSON)."""
    return f"{_ns(namespace)}:alerts:outbox"


def alert_delivery_lock(namespace: str) -> str:
    """String lease held by the one process delivering the namespace's outbox."""
    return f"{_ns(namespace)}:alerts:delivery_lock"


def alert_delivered(namespace: str, entry: str) -> str:
    """Hash: channel -> wall-clock ms it acknowledged outbox entry `entry` (expires)."""
    return f"{_ns(namespace)}:alerts:delivered:{entry}"


def alert_resent(namespace: str) -> str:
    """Hash: `<incident id>|<channel>` -> wall-clock ms an open incident was last sent."""
    return f"{_ns(namespace)}:alerts:resent"


# -- ingest: dedupe state and the replay registry ---------------------------------------

INGEST_REPLAYS: Final = f"{PREFIX}:ingest:replays"
"""Hash: replay namespace -> JSON `ReplayInfo` (cross-slot; never touched by a script)."""


def _ingest(namespace: str) -> str:
    return f"{_ns(namespace)}:ingest"


def ingest_seen_id(namespace: str, doc_id: str) -> str:
    """String `<token>:<verdict>`: the dedupe call that first saw this id, and its verdict."""
    return f"{_ingest(namespace)}:id:{doc_id}"


def ingest_seen_content(namespace: str, key: str) -> str:
    """String: event time (ms) of the last counted document with this normalised content."""
    return f"{_ingest(namespace)}:content:{key}"


def ingest_simhash_band(namespace: str, band: int, value: int) -> str:
    """Sorted set of `<hi>:<lo>:<id>` SimHashes sharing 16 bits `value` at `band` (score = ms)."""
    return f"{_ingest(namespace)}:sh:{band}:{value:04x}"


def ingest_pattern(namespace: str) -> str:
    """SCAN pattern matching every ingest key of one namespace (glob-escaped)."""
    return _glob_escape(_ingest(namespace)) + ":*"
