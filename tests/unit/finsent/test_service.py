"""`run_service`: the endpoint while the service runs, signals, exit statuses."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from finsent.errors import ConfigurationError, FinsentError
from finsent.observability import HealthState
from finsent.service import EXIT_STOPPED, Endpoint, run_service


class Probe:
    """A service that records what its endpoint answered while it ran."""

    def __init__(self, raise_: Exception | None = None) -> None:
        self.registry = CollectorRegistry()
        self.health = HealthState()
        Counter("finsent_probe_runs_total", "runs", registry=self.registry).inc()
        self.url = ""
        self.seen: dict[str, tuple[int, str]] = {}
        self._raise = raise_

    def run(self, stop: threading.Event) -> int:
        if self.url:
            self.seen["not ready"] = self._get("/readyz")
            self.health.set_ready(True)
            self.seen["ready"] = self._get("/readyz")
            self.seen["metrics"] = self._get("/metrics")
        if self._raise is not None:
            raise self._raise
        os.kill(os.getpid(), signal.SIGTERM)  # what `docker stop` sends
        assert stop.wait(5.0)
        return 0

    def _get(self, path: str) -> tuple[int, str]:
        response = httpx.get(self.url + path, timeout=5)
        return response.status_code, response.text


def test_serves_the_endpoint_while_running_and_stops_on_sigterm() -> None:
    service = Probe()
    port = _free_port()
    service.url = f"http://127.0.0.1:{port}"
    before = signal.getsignal(signal.SIGTERM)
    assert run_service(service, Endpoint("127.0.0.1", port), command="finsent probe") == 0
    assert service.seen["not ready"] == (503, "not ready\n")
    assert service.seen["ready"] == (200, "ready\n")
    assert "finsent_probe_runs_total 1.0" in service.seen["metrics"][1]
    with pytest.raises(httpx.TransportError):  # the endpoint went with the service
        httpx.get(service.url + "/healthz", timeout=1)
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


def test_a_named_fault_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_service(
        Probe(ConfigurationError("no partitions")),
        None,
        command="finsent probe",
        stopped_on=(FinsentError,),
    )
    assert code == EXIT_STOPPED
    assert capsys.readouterr().err == "finsent probe stopped: ConfigurationError: no partitions\n"


def test_other_errors_crash() -> None:
    with pytest.raises(ValueError):
        run_service(Probe(ValueError("bug")), None, command="finsent probe")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
