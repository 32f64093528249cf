"""`finsent stack`: idempotent start, status, and Redis authentication on a real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from cli.main import app
from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings, RedisSettings, StackSettings
from finsent.stack import Stack


def test_up_is_idempotent_and_status_reports_both(settings: FinsentSettings) -> None:
    runner = CliRunner()
    before = {s.name: s.pid for s in Stack(settings).status()}
    result = runner.invoke(app, ["stack", "up"])
    assert result.exit_code == 0, result.output
    assert "stack healthy" in result.output
    after = {s.name: s.pid for s in Stack(settings).status()}
    assert before == after, "a second `up` must not start new servers"
    status = runner.invoke(app, ["stack", "status"])
    assert "kafka  running" in status.output and "redis  running" in status.output
    assert f"127.0.0.1:{settings.stack.kafka_port}" in status.output


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSettings]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    secured = RedisSettings(port=port, password=SecretStr("s3cret-for-tests"))
    stack = Stack(
        FinsentSettings(
            redis=secured,
            stack=StackSettings(home=tmp_path_factory.mktemp("auth"), redis_port=port),
        )
    )
    stack.up(("redis",))
    yield secured
    stack.down(("redis",))


def test_redis_password_works(redis_with_password: RedisSettings) -> None:
    client = redis_with_password.connect()
    assert client.set("finsent:auth-check", b"1")
    assert client.get("finsent:auth-check") == b"1"


def test_wrong_redis_password_gives_a_clear_error(redis_with_password: RedisSettings) -> None:
    wrong = redis_with_password.model_copy(update={"password": SecretStr("wrong")})
    with pytest.raises(
        ConfigurationError, match=r"rejected our credentials.*FINSENT_REDIS__PASSWORD"
    ):
        wrong.connect()
    missing = redis_with_password.model_copy(update={"password": None})
    with pytest.raises(ConfigurationError, match="requires a password"):
        missing.connect()
