"""Redis keys of ingest's dedupe state.

They share `finsent:{<namespace>}:` with every other per-namespace key (see
finsent/redis_keys.py), so one Lua script may touch them atomically in Redis Cluster, and
dropping a namespace by its key pattern removes them with the series.
TODO(lead): move these builders into finsent/redis_keys.py.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "finsent"

REPLAYS: Final = f"{PREFIX}:ingest:replays"
"""Hash: replay namespace -> JSON `ReplayInfo` (cross-slot; never touched by a script)."""


def _ns(namespace: str) -> str:
    return f"{PREFIX}:{{{namespace}}}:ingest"


def seen_id(namespace: str, doc_id: str) -> str:
    """String `<token>:<verdict>`: the dedupe call that first saw this id, and its verdict."""
    return f"{_ns(namespace)}:id:{doc_id}"


def seen_content(namespace: str, key: str) -> str:
    """String: event time (ms) of the last counted document with this normalised content."""
    return f"{_ns(namespace)}:content:{key}"


def simhash_band(namespace: str, band: int, value: int) -> str:
    """Sorted set of `<hi>:<lo>:<id>` SimHashes sharing 16 bits `value` at `band` (score = ms)."""
    return f"{_ns(namespace)}:sh:{band}:{value:04x}"


def pattern(namespace: str) -> str:
    """SCAN pattern matching every ingest key of one namespace (glob-escaped)."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in _ns(namespace))
    return escaped + ":*"
