"""The soak's own stack and the three services it runs as real processes.

The soak never touches a user's stack: it starts a second real Kafka broker and Redis
server (the same `Stack` code `make test` and `finsent stack up` use, sharing the fetched
broker jars) on free ports in a temporary folder. Inside that stack it is free to use the
`live` namespace and the default topics, exactly as production does, and to restart the
broker and Redis on schedule without disturbing anything else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import httpx

from finsent.settings import FinsentSettings, KafkaSettings, StackSettings

ServiceName = Literal["ingest", "infer", "alerts"]
FINSENT = str(Path(sys.executable).parent / "finsent")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_settings(base: FinsentSettings, home: Path) -> FinsentSettings:
    """Settings for a stack of our own on free ports under `home`, sharing the jars."""
    kafka_port, controller_port, redis_port = free_port(), free_port(), free_port()
    libs = base.stack.kafka_libs or base.stack.home / "kafka" / "libs"
    return base.model_copy(
        update={
            "kafka": KafkaSettings(bootstrap_servers=f"127.0.0.1:{kafka_port}"),
            "redis": base.redis.model_copy(update={"host": "127.0.0.1", "port": redis_port}),
            "stack": StackSettings(
                home=home,
                kafka_libs=libs,
                kafka_port=kafka_port,
                kafka_controller_port=controller_port,
                redis_port=redis_port,
                start_timeout_s=base.stack.start_timeout_s,
            ),
        }
    )


class Services:
    """Starts, kills and restarts `finsent ingest serve`, `finsent infer`, `finsent alerts run`.

    Args:
        env: the environment every service gets (stack addresses, clock, channels).
        logs: folder for one log file per process start.
        ports: the push API, inference and alerts metrics ports.
    """

    def __init__(self, env: dict[str, str], logs: Path, ports: dict[ServiceName, int]) -> None:
        self._env = env
        self._logs = logs
        self._ports = ports
        self.procs: dict[ServiceName, subprocess.Popen[bytes]] = {}
        self.starts: dict[ServiceName, int] = {}
        self.unexpected_exits: list[str] = []
        self._killed: set[str] = set()  # `name#start` killed on purpose

    def command(self, name: ServiceName) -> list[str]:
        if name == "ingest":
            return [FINSENT, "ingest", "serve", "--port", str(self._ports["ingest"])]
        if name == "infer":
            return [FINSENT, "infer", "--metrics-port", str(self._ports["infer"])]
        return [FINSENT, "alerts", "run"]

    def start(self, name: ServiceName) -> None:
        number = self.starts.get(name, 0) + 1
        log = (self._logs / f"{name}-{number}.log").open("ab")
        proc = subprocess.Popen(
            self.command(name), env=self._env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        # Process first, then its number: `check_alive` never pairs a dead process (the one
        # just killed) with the new start's number.
        self.procs[name] = proc
        self.starts[name] = number

    def ready_url(self, name: ServiceName) -> str:
        if name == "ingest":
            return f"http://127.0.0.1:{self._ports['ingest']}/healthz"
        return f"http://127.0.0.1:{self._ports[name]}/readyz"

    def wait_ready(self, names: tuple[ServiceName, ...], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = list(names)
        with httpx.Client(timeout=2.0) as client:
            while waiting:
                name = waiting[0]
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode} while starting; see "
                        f"{self._logs / f'{name}-{self.starts[name]}.log'}"
                    )
                try:
                    if client.get(self.ready_url(name)).status_code == 200:
                        waiting.pop(0)
                        continue
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {timeout_s:.0f}s")
                time.sleep(0.3)

    def kill(self, name: ServiceName) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash or an OOM kill."""
        proc = self.procs[name]
        self._killed.add(f"{name}#{self.starts[name]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def check_alive(self) -> None:
        """Record a service that died on its own (only once per start)."""
        for name, proc in self.procs.items():
            code = proc.poll()
            tag = f"{name}#{self.starts[name]}"
            if tag in self._killed:
                continue
            if code is not None and not any(e.startswith(tag) for e in self.unexpected_exits):
                self.unexpected_exits.append(f"{tag} exited with {code}")

    def stop_all(self, timeout_s: float = 60.0) -> dict[ServiceName, int | None]:
        """SIGTERM each running service, wait, and return the exit codes."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[ServiceName, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
                codes[name] = None
        return codes


def service_env(
    settings: FinsentSettings, extra: dict[str, str], drop_prefixes: tuple[str, ...]
) -> dict[str, str]:
    """The parent's environment minus finsent service settings, plus the soak's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    env.update(
        {
            "FINSENT_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "FINSENT_REDIS__HOST": settings.redis.host,
            "FINSENT_REDIS__PORT": str(settings.redis.port),
            "FINSENT_REDIS__SOCKET_TIMEOUT_S": "2",
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


DROPPED_ENV = (
    "FINSENT_ALERTS_", "FINSENT_INGEST_", "FINSENT_INFERENCE_", "FINSENT_GRAFANA_",
    "FINSENT_CLOCK_", "FINSENT_WEB_", "FINSENT_STACK__",
)  # fmt: skip
"""The user's own service settings (channels!) never reach the soak's services."""
DEFAULT_RESEND_S = 60.0
MAX_RESEND_S = 180.0
RESTART_REAL_S = 60.0
"""Real seconds a killed `alerts run` may take to come back without Alertmanager lapsing."""


def resend_s(speed: float) -> float:
    """Alertmanager's re-send interval (service s) at `speed`: within its 30 s–3 min convention."""
    return min(MAX_RESEND_S, max(DEFAULT_RESEND_S, 0.5 * speed))


def hold_s(speed: float) -> float:
    """How far ahead a firing alert's `endsAt` lies (service s) at `speed`.

    A restart of `alerts run` takes real seconds, which the clock multiplies: at 360x a
    5 s restart is 30 service minutes, far past four re-sends. Hold as long as a one-minute
    real outage, as production's four re-sends cover a real restart.
    """
    return max(4 * resend_s(speed), RESTART_REAL_S * speed)


def alerts_timing_env(speed: float) -> dict[str, str]:
    """`alerts run`'s poll, Alertmanager re-send and hold intervals (service s) at `speed`.

    About two evaluations a real second, but never a poll longer than the re-send interval
    (`alerts run` refuses it: Alertmanager would resolve open incidents between re-sends).
    """
    resend = resend_s(speed)
    poll_s = min(resend, max(10.0, 0.5 * speed))
    return {
        "FINSENT_ALERTS_POLL_INTERVAL_S": f"{poll_s:g}",
        "FINSENT_ALERTS_ALERTMANAGER_RESEND_S": f"{resend:g}",
        "FINSENT_ALERTS_ALERTMANAGER_HOLD_S": f"{hold_s(speed):g}",
    }
