"""The deduplicator's Redis errors: what the client's retries leave, and refusals, are transient."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
import redis

from finsent.errors import TransientError
from ingest.dedupe import DedupeConfig, Deduplicator


class FlakyRedis:
    """A fake Redis whose first `failures` SET commands raise `error`."""

    def __init__(self, failures: int, error: Exception) -> None:
        self._real = fakeredis.FakeRedis()
        self._failures = failures
        self._error = error
        self.sets = 0

    def set(self, *args: Any, **kwargs: Any) -> Any:
        self.sets += 1
        if self.sets <= self._failures:
            raise self._error
        return self._real.set(*args, **kwargs)

    def get(self, *args: Any) -> Any:
        return self._real.get(*args)


def dedupe(client: FlakyRedis) -> Deduplicator:
    # No hash key configured: the first check fetches the shared one.
    return Deduplicator(client, DedupeConfig())  # type: ignore[arg-type]


def test_what_the_clients_retries_left_is_unavailable_at_once() -> None:
    client = FlakyRedis(1, redis.TimeoutError("slow"))
    with pytest.raises(TransientError, match="redis unavailable: TimeoutError"):
        dedupe(client).check_many([])
    assert client.sets == 1  # reconnecting is the client's `Retry`, not a loop here


def test_redis_refusing_is_transient_at_once() -> None:
    error = redis.exceptions.ReadOnlyError(
        "replica", status_code="READONLY"
    )  # as redis-py parses it
    client = FlakyRedis(1, error)
    with pytest.raises(TransientError, match="redis refused: READONLY"):
        dedupe(client).check_many([])
    assert client.sets == 1


def test_an_error_about_the_command_is_not_transient() -> None:
    client = FlakyRedis(1, redis.ResponseError("WRONGTYPE Operation against a key"))
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        dedupe(client).check_many([])
