"""Redis replies and errors as the store and its neighbours read them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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


@contextlib.contextmanager
def transient_errors() -> Iterator[None]:
    """Turn Redis being unreachable or loading into `TransientError` (retry, don't commit)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise TransientError(f"redis unavailable: {type(exc).__name__}") from exc
