"""The deduplicator's retries: connection errors are retried with backoff, then transient."""

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


def dedupe(client: FlakyRedis, sleeps: list[float]) -> Deduplicator:
    # No hash key configured: the first check fetches the shared one, through the retries.
    return Deduplicator(client, DedupeConfig(), sleep=sleeps.append)  # type: ignore[arg-type]


def test_connection_errors_are_retried_with_backoff() -> None:
    client, sleeps = FlakyRedis(2, redis.ConnectionError("down")), list[float]()
    assert dedupe(client, sleeps).check_many([]) == []
    assert client.sets == 3
    assert sleeps == pytest.approx([0.2, 0.4])


def test_after_the_last_attempt_redis_is_unavailable() -> None:
    client, sleeps = FlakyRedis(3, redis.TimeoutError("slow")), list[float]()
    with pytest.raises(TransientError, match="redis unavailable: TimeoutError"):
        dedupe(client, sleeps).check_many([])
    assert client.sets == 3
    assert sleeps == pytest.approx([0.2, 0.4])


def test_an_error_reply_is_transient_at_once() -> None:
    client, sleeps = FlakyRedis(1, redis.ResponseError("READONLY replica")), list[float]()
    with pytest.raises(TransientError, match="redis refused: READONLY replica"):
        dedupe(client, sleeps).check_many([])
    assert (client.sets, sleeps) == (1, [])
