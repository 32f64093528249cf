"""`finsent stack`: idempotent start, status, and Redis authentication on a real server."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from cli.main import app
from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings, RedisSettings, StackSettings
from finsent.stack import Stack, format_kafka_storage, new_cluster_id


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


def test_storage_format_takes_a_cluster_id_that_starts_with_a_dash(
    settings: FinsentSettings, tmp_path: Path
) -> None:
    # One random id in 64 starts with "-"; `-t <id>` made the storage tool read it as an
    # option, so `stack up` failed on a fresh machine about once in 64.
    java = shutil.which("java")
    assert java is not None
    libs = settings.stack.kafka_libs or settings.stack.home / "kafka" / "libs"
    config = tmp_path / "server.properties"
    config.write_text(
        "process.roles=broker,controller\nnode.id=1\n"
        "controller.quorum.voters=1@localhost:1\ncontroller.listener.names=CONTROLLER\n"
        "listeners=PLAINTEXT://localhost:2,CONTROLLER://localhost:1\n"
        f"log.dirs={tmp_path / 'data'}\n"
    )
    cluster_id = "-" + new_cluster_id()[1:]
    format_kafka_storage(java, libs, config, cluster_id)
    meta = (tmp_path / "data" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}\n" in meta
