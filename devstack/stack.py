"""The local stack: a real single-node Kafka broker (KRaft) and a real Redis server.

Kafka is assembled from the official `org.apache.kafka` jars on Maven Central by
`mvn dependency:copy-dependencies` (see `stack/pom.xml`) and run with the machine's Java.
Redis is Debian's `redis-server`. Both run as detached processes whose pids are kept in
pid files under the stack home, so `down` stops exactly what `up` started.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis

from devstack.kraft import format_kafka_storage, new_cluster_id
from devstack.pidfile import live_pid, spawn, stop_pid_file
from finsent.errors import ConfigurationError
from finsent.settings import REPO_ROOT, FinsentSettings

log = logging.getLogger(__name__)

POM = REPO_ROOT / "stack" / "pom.xml"
KAFKA_MAIN = "kafka.Kafka"
KAFKA_HEAP = "-Xmx768m"

ServiceName = Literal["kafka", "redis"]


@dataclass(frozen=True)
class ServiceStatus:
    """What `finsent stack status` prints for one server."""

    name: str
    running: bool
    pid: int | None
    address: str
    log_file: Path
    detail: str = ""
    """Redis: which modules it runs (`timeseries 11202`), or that it runs core Redis only."""


class Stack:
    """Starts, health-checks and stops the local Kafka broker and Redis server."""

    def __init__(self, settings: FinsentSettings) -> None:
        self._settings = settings
        self._home = settings.stack.home
        self._kafka_home = self._home / "kafka"
        self._redis_home = self._home / "redis"
        # Processes this instance started: `poll()` tells a dead one from a live one
        # without racing the java launcher's re-exec, as reading /proc/<pid>/cmdline can.
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- public API -------------------------------------------------------------------

    def up(self, services: tuple[ServiceName, ...] = ("redis", "kafka")) -> list[ServiceStatus]:
        """Start whatever is not running (idempotent), then wait until all are healthy."""
        if "redis" in services:
            self._start_redis()
        if "kafka" in services:
            self._start_kafka()
        deadline = time.monotonic() + self._settings.stack.start_timeout_s
        if "redis" in services:
            self._wait_redis(deadline)
        if "kafka" in services:
            self._wait_kafka(deadline)
        return self.status()

    def down(self, services: tuple[ServiceName, ...] = ("kafka", "redis")) -> list[str]:
        """Stop the processes `up` started, by pid file; returns the names stopped."""
        stopped: list[str] = []
        for name, home, marker in self._services():
            if name in services and stop_pid_file(home / f"{name}.pid", marker):
                stopped.append(name)
        return stopped

    def status(self) -> list[ServiceStatus]:
        stack = self._settings.stack
        out = []
        for name, home, marker in self._services():
            pid = live_pid(home / f"{name}.pid", marker)
            port = stack.kafka_port if name == "kafka" else stack.redis_port
            detail = self._redis_detail() if name == "redis" and pid is not None else ""
            out.append(
                ServiceStatus(
                    name, pid is not None, pid, f"127.0.0.1:{port}", home / f"{name}.log", detail
                )
            )
        return out

    def _redis_detail(self) -> str:
        try:
            modules = self.redis_modules()
        except redis.RedisError as exc:
            return f"not answering ({type(exc).__name__})"
        if any(m.startswith("timeseries ") for m in modules):
            return "with RedisTimeSeries (" + ", ".join(modules) + ")"
        return "core Redis, no RedisTimeSeries (run `make setup`, then restart the stack)"

    # -- Redis ------------------------------------------------------------------------

    def _start_redis(self) -> None:
        pid_file = self._redis_home / "redis.pid"
        if live_pid(pid_file, "redis-server") is not None:
            return
        binary = shutil.which("redis-server") or _first_existing("/usr/bin/redis-server")
        if binary is None:
            raise ConfigurationError(
                "redis-server not found: run `make setup` (apt-get install redis-server)"
            )
        self._redis_home.mkdir(parents=True, exist_ok=True)
        module = timeseries_module(self._settings.stack.redis_modules)
        config = self._write_redis_config(module)
        env = None
        if module is not None:
            # The module links OpenSSL 1.1 (not in Debian 12): ours, for this process only.
            env = {**os.environ, "LD_LIBRARY_PATH": str(module.parent / "lib")}
        args = [binary, str(config)]
        self._procs["redis"] = spawn(args, self._redis_home / "redis.log", pid_file, env)

    def _write_redis_config(self, module: Path | None) -> Path:
        """`redis.conf` in the stack home, mode 0600: the password never reaches a command
        line (where `ps` shows it to every user of the machine)."""
        lines = [
            "bind 127.0.0.1",
            f"port {self._settings.stack.redis_port}",
            f"dir {_redis_quote(str(self._redis_home))}",
            "appendonly yes",
            'save ""',
            "daemonize no",
            "protected-mode yes",
        ]
        if module is not None:
            lines.append(f"loadmodule {_redis_quote(str(module))}")
        password = self._settings.redis.password
        if password is not None:
            lines.append(f"requirepass {_redis_quote(password.get_secret_value())}")
        config = self._redis_home / "redis.conf"
        config.unlink(missing_ok=True)
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
        return config

    def redis_modules(self) -> list[str]:
        """`name version` of each module the running Redis has loaded ([] when none).

        Raises:
            redis.RedisError: Redis does not answer.
        """
        client = self._settings.redis.client(
            port=self._settings.stack.redis_port, socket_timeout=2.0
        )
        try:
            return [f"{as_text(m[b'name'])} {as_text(m[b'ver'])}" for m in client.module_list()]
        finally:
            client.close()

    def _wait_redis(self, deadline: float) -> None:
        client = self._settings.redis.client(port=self._settings.stack.redis_port)
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    self._check_redis_is_ours(client)
                    return
            except redis.AuthenticationError as exc:
                raise ConfigurationError(f"Redis rejected our credentials: {exc}") from None
            except redis.RedisError as exc:
                last = exc
            time.sleep(0.2)
        raise ConfigurationError(
            f"Redis did not answer PING within the timeout ({last}); "
            f"see {self._redis_home / 'redis.log'}"
        )

    def _check_redis_is_ours(self, client: redis.Redis) -> None:
        """Another Redis on our port would answer PING for us: refuse to use it silently."""
        ours = live_pid(self._redis_home / "redis.pid", "redis-server")
        theirs = int(client.info("server")["process_id"])
        if ours is None:
            raise ConfigurationError(
                f"redis-server exited during start; see {self._redis_home / 'redis.log'}"
            )
        if theirs != ours:
            raise ConfigurationError(
                f"another Redis (pid {theirs}) already listens on port "
                f"{self._settings.stack.redis_port}; stop it or set FINSENT_STACK__REDIS_PORT"
            )

    # -- Kafka ------------------------------------------------------------------------

    def _start_kafka(self) -> None:
        pid_file = self._kafka_home / "kafka.pid"
        if live_pid(pid_file, KAFKA_MAIN) is not None:
            return
        java = shutil.which("java")
        if java is None:
            raise ConfigurationError(
                "java not found: install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
            )
        libs = self._ensure_kafka_libs()
        config = self._write_kafka_config()
        self._format_storage_once(java, libs, config)
        args = [
            java,
            KAFKA_HEAP,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._kafka_home / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            KAFKA_MAIN,
            str(config),
        ]
        self._procs["kafka"] = spawn(args, self._kafka_home / "kafka.log", pid_file)

    def _ensure_kafka_libs(self) -> Path:
        """Copy the broker's jars from Maven Central once per change of `stack/pom.xml`."""
        libs = self._settings.stack.kafka_libs or self._kafka_home / "libs"
        stamp = libs.parent / f"{libs.name}.sha256"
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()
        if libs.is_dir() and stamp.exists() and stamp.read_text() == digest:
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigurationError(
                "mvn not found: install Maven (apt-get install maven) to assemble the Kafka broker"
            )
        if libs.exists():
            shutil.rmtree(libs)
        libs.parent.mkdir(parents=True, exist_ok=True)
        log.info("assembling Kafka from Maven Central into %s", libs)
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConfigurationError(
                f"mvn could not fetch the Kafka jars:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        stamp.write_text(digest)
        return libs

    def _write_kafka_config(self) -> Path:
        stack = self._settings.stack
        data = self._kafka_home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self._kafka_home / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{stack.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{stack.kafka_port},CONTROLLER://127.0.0.1:{stack.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{stack.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={data}",
                    f"num.partitions={self._settings.kafka.documents_partitions}",
                    "auto.create.topics.enable=true",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=168",
                    "log.segment.bytes=67108864",
                    "delete.topic.enable=true",
                    "",
                ]
            )
        )
        (self._kafka_home / "log4j2.properties").write_text(
            "\n".join(
                [
                    "status = warn",
                    "appender.console.type = Console",
                    "appender.console.name = STDOUT",
                    "appender.console.layout.type = PatternLayout",
                    "appender.console.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = info",
                    "rootLogger.appenderRef.stdout.ref = STDOUT",
                    "logger.kafka.name = kafka",
                    "logger.kafka.level = warn",
                    "logger.apache.name = org.apache.kafka",
                    "logger.apache.level = warn",
                    "logger.started.name = kafka.server.KafkaRaftServer",
                    "logger.started.level = info",
                    "",
                ]
            )
        )
        return config

    def _format_storage_once(self, java: str, libs: Path, config: Path) -> None:
        if (self._kafka_home / "data" / "meta.properties").exists():
            return
        format_kafka_storage(java, libs, config, new_cluster_id())

    def _wait_kafka(self, deadline: float) -> None:
        """Healthy means a probe message goes through produce and consume."""
        # Imported here: kafka-python is only needed once the broker is up.
        from finsent.kafka_io import probe_round_trip

        last: Exception | None = None
        while time.monotonic() < deadline:
            proc = self._procs.get("kafka")
            exited = (
                proc.poll() is not None
                if proc is not None
                else live_pid(self._kafka_home / "kafka.pid", KAFKA_MAIN) is None
            )
            if exited:
                raise ConfigurationError(
                    f"the Kafka broker exited during start; see {self._kafka_home / 'kafka.log'}"
                )
            try:
                probe_round_trip(
                    self._settings.kafka, timeout_s=max(1.0, deadline - time.monotonic())
                )
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last = exc
                time.sleep(0.5)
        raise ConfigurationError(
            f"Kafka failed its produce/consume health check before the timeout ({last}); "
            f"see {self._kafka_home / 'kafka.log'}"
        )

    def _services(self) -> list[tuple[str, Path, str]]:
        return [
            ("kafka", self._kafka_home, KAFKA_MAIN),
            ("redis", self._redis_home, "redis-server"),
        ]


def timeseries_module(folder: Path) -> Path | None:
    """`redistimeseries.so` in `folder` (put there by `make setup`), or None."""
    module = folder / "redistimeseries.so"
    return module if module.is_file() else None


def _redis_quote(value: str) -> str:
    """A redis.conf argument, double-quoted with the escapes redis.conf understands."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def as_text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _first_existing(*paths: str) -> str | None:
    return next((p for p in paths if Path(p).exists()), None)
