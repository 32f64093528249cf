"""One judgement of Redis errors for every caller, and the client's own reconnect `Retry`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis._parsers.base import BaseParser

from finsent.errors import TransientError
from finsent.settings import RedisSettings
from finsent.store.replies import is_transient, reply_code, transient_errors


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("READONLY You can't write against a read only replica.", "READONLY"),
        ("OOM command not allowed when used memory > 'maxmemory'.", "OOM"),
        ("LOADING Redis is loading the dataset in memory", "LOADING"),
        ("MISCONF Redis is configured to save RDB snapshots", "MISCONF"),
        ("BUSY Redis is busy running a script.", "BUSY"),
        ("MASTERDOWN Link with MASTER is down", "MASTERDOWN"),
    ],
)
def test_redis_state_replies_as_redis_py_parses_them_are_transient(reply: str, code: str) -> None:
    error = _parsed(reply)
    assert reply_code(error) == code
    assert is_transient(error)
    # LOADING is a ConnectionError to redis-py (its client retries it too): "unavailable".
    with pytest.raises(TransientError, match=r"redis (refused|unavailable)"), transient_errors():
        raise error


def test_unreachable_is_transient_and_a_bad_command_is_not() -> None:
    unavailable = pytest.raises(TransientError, match="redis unavailable: ConnectionError")
    with unavailable, transient_errors():
        raise redis.ConnectionError("refused")
    wrongtype = _parsed("WRONGTYPE Operation against a key")
    assert not is_transient(wrongtype)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"), transient_errors():
        raise wrongtype


def _parsed(reply: str) -> redis.RedisError:
    """The exception redis-py makes of an error reply (ReadOnlyError etc. lose the code)."""
    error: redis.RedisError = BaseParser.parse_error(reply)  # type: ignore[no-untyped-call]
    return error


def _failing(times: int, error: Exception) -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "ok"

    return call, calls


def test_clients_retry_connection_errors_and_timeouts_with_backoff() -> None:
    retry = RedisSettings(retries=2).client().get_retry()
    assert retry is not None and retry.get_retries() == 2
    for error in (redis.ConnectionError("reset"), redis.TimeoutError("slow")):
        call, calls = _failing(2, error)
        assert retry.call_with_retry(call, lambda _: None) == "ok"
        assert len(calls) == 3
    call, calls = _failing(3, redis.ConnectionError("down"))
    with pytest.raises(redis.ConnectionError):
        retry.call_with_retry(call, lambda _: None)
    assert len(calls) == 3


def test_clients_do_not_retry_replies() -> None:
    retry = RedisSettings().client().get_retry()
    assert retry is not None
    call, calls = _failing(1, redis.ResponseError("WRONGTYPE"))
    with pytest.raises(redis.ResponseError):
        retry.call_with_retry(call, lambda _: None)
    assert len(calls) == 1
