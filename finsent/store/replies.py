"""Redis replies and errors as the store and its neighbours read them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

import redis

from finsent.errors import TransientError
from finsent.schemas import SeriesRef


def as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_int(value: Any) -> int:
    """An integer from a Redis reply (bytes, str, int or float)."""
    return int(float(value)) if isinstance(value, float) else int(value)


def registry_member(ref: SeriesRef) -> str:
    """How the series registry (and alert state) names a series: `<kind>:<value>`."""
    return f"{ref.kind}:{ref.value}"


def parse_registry_member(member: bytes | str) -> SeriesRef:
    text = member.decode() if isinstance(member, bytes) else member
    kind, _, value = text.partition(":")
    return SeriesRef.model_validate({"kind": kind, "value": value})


TRANSIENT_REPLIES: Final = frozenset(
    {"OOM", "READONLY", "MISCONF", "BUSY", "LOADING", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN"}
)
"""Error codes (a reply's first word) that mean Redis cannot serve now, whatever the command:
out of memory under `noeviction`, a read-only replica during a failover, a failed RDB save
with `stop-writes-on-bgsave-error`, a busy script, still loading."""


def reply_code(exc: redis.RedisError) -> str:
    """The error code of a Redis error reply, also when a Lua script relays it."""
    # redis-py strips the code it maps to a class (ReadOnlyError, OutOfMemoryError, ...)
    # from the message and keeps it here.
    status = getattr(exc, "status_code", None)
    if isinstance(status, str) and status:
        return status
    words = str(exc).replace("-", " ").replace(":", " ").split()
    for word in words:
        if word in TRANSIENT_REPLIES:
            return word
    return words[0] if words else type(exc).__name__


def is_transient(exc: redis.RedisError) -> bool:
    """Whether Redis failed because of its own state (retry), not the command's content."""
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return True
    return reply_code(exc) in TRANSIENT_REPLIES


@contextlib.contextmanager
def transient_errors() -> Iterator[None]:
    """Turn Redis being unreachable or unable to serve into `TransientError` (retry, don't
    commit); an error about the command itself propagates as it is."""
    try:
        yield
    except redis.RedisError as exc:
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            raise TransientError(f"redis unavailable: {type(exc).__name__}") from exc
        if is_transient(exc):
            raise TransientError(f"redis refused: {reply_code(exc)}: {str(exc)[:120]}") from exc
        raise
