"""`finsent stack`: idempotent start, status, and Redis authentication on a real server."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import ANY

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from cli.main import app
from devstack.kraft import format_kafka_storage, new_cluster_id
from devstack.stack import Stack
from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings, RedisSettings, StackSettings


def test_up_is_idempotent_and_status_reports_both(settings: FinsentSettings) -> None:
    runner = CliRunner()
    before = {s.name: s.pid for s in Stack(settings).status()}
    result = runner.invoke(app, ["stack", "up"])
    assert result.exit_code == 0, result.output
    assert "stack healthy" in result.output
    after = {s.name: s.pid for s in Stack(settings).status()}
    assert before == after, "a second `up` must not start new servers"
    status = runner.invoke(app, ["stack", "status"])
    assert status.exit_code == 0
    assert "kafka  running" in status.output and "redis  running" in status.output
    assert f"127.0.0.1:{settings.stack.kafka_port}" in status.output
    assert "with RedisTimeSeries (timeseries " in status.output
    as_json = json.loads(runner.invoke(app, ["stack", "status", "--json"]).output)
    assert as_json["redis"]["running"] and as_json["redis"]["timeseries"] is True
    assert as_json["kafka"]["pid"] == after["kafka"]


def test_status_exits_non_zero_when_the_stack_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINSENT_STACK__HOME", str(tmp_path))  # nothing was started there
    result = CliRunner().invoke(app, ["stack", "status", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["redis"] == {
        "running": False, "pid": None, "address": ANY, "log_file": ANY, "detail": "",
        "timeseries": False,
    }  # fmt: skip


def test_the_password_is_in_a_private_config_file_not_on_the_command_line(
    redis_with_password: RedisSettings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert redis_with_password.password is not None
    secret = redis_with_password.password.get_secret_value().encode()
    pid = int(redis_with_password.client().info("server")["process_id"])
    assert secret not in Path(f"/proc/{pid}/cmdline").read_bytes()
    config = Path(str(redis_with_password.client().config_get("dir")["dir"])) / "redis.conf"
    assert config.stat().st_mode & 0o777 == 0o600
    assert secret in config.read_bytes()


def test_without_the_module_redis_runs_core_only_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    stack = Stack(
        FinsentSettings(
            redis=RedisSettings(port=port),
            stack=StackSettings(home=tmp_path, redis_port=port, redis_modules=tmp_path / "none"),
        )
    )
    try:
        stack.up(("redis",))
        redis_status = next(s for s in stack.status() if s.name == "redis")
        assert redis_status.running and "no RedisTimeSeries" in redis_status.detail
        assert stack.redis_modules() == []
    finally:
        stack.down(("redis",))


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
