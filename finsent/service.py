"""One shape for every long-running service, and the one function that runs it.

A service is built from its settings (cheaply: no broker, no Redis, no model yet) and
then run until a stop event is set; everything slow or fallible happens in `run`, after
the operator endpoint is up. `run_service` does what every service needs around that:

* the endpoint (`/metrics`, `/healthz`, `/readyz`: `finsent.observability`), up before
  `run` so a slow start (a broker that is still coming up, a model loading) is visible;
* SIGINT and SIGTERM set the stop event (`finsent.lifecycle`);
* exit codes: what `run` returns, or `EXIT_STOPPED` with one line on stderr when it
  stopped itself on one of the errors the service names (a fault an operator must see).

Logging is configured by each command before it builds its service: the settings that
decide it (and, for alerts, the credentials to mask) are the service's own.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Protocol

from prometheus_client import CollectorRegistry

from finsent.lifecycle import stop_on_signals
from finsent.observability import HealthState, serve_observability

log = logging.getLogger(__name__)

EXIT_STOPPED = 3
"""Exit status when a service stopped itself on a fault (see each command's --help)."""


class Service(Protocol):
    """A long-running service: built from settings, run until `stop` is set."""

    @property
    def registry(self) -> CollectorRegistry:
        """The registry served on `/metrics`."""
        ...

    @property
    def health(self) -> HealthState:
        """Readiness, served on `/readyz`; the service sets it once it can do its work."""
        ...

    def run(self, stop: threading.Event) -> int:
        """Work until `stop` is set, finish what is in hand, and return the exit status.

        Raises:
            Exception: a fault; `run_service` turns the ones the service names into
                `EXIT_STOPPED`, and lets the others crash the process.
        """
        ...


@dataclass(frozen=True)
class Endpoint:
    """Where the operator endpoint listens; port 0 picks a free port."""

    host: str
    port: int


@contextlib.contextmanager
def observed(service: Service, endpoint: Endpoint | None) -> Iterator[ThreadingHTTPServer | None]:
    """Serve the service's `/metrics`, `/healthz` and `/readyz` for the block (None: off)."""
    if endpoint is None:
        yield None
        return
    server = serve_observability(service.registry, service.health, endpoint.host, endpoint.port)
    log.info("observability endpoint up", extra={"port": server.server_port})
    try:
        yield server
    finally:
        server.shutdown()


def run_service(
    service: Service,
    endpoint: Endpoint | None,
    *,
    command: str,
    stopped_on: tuple[type[Exception], ...] = (),
    stop: threading.Event | None = None,
) -> int:
    """Run `service` in the foreground of a process and return its exit status.

    Call on the main thread (signal handlers can only be installed there).

    Args:
        service: The built service.
        endpoint: Where to serve `/metrics`, `/healthz`, `/readyz`; None for none (also
            for a service that answers them on its own port, as the push API does).
        command: The command line's name for it (`finsent infer`), for the stop line.
        stopped_on: Errors that mean the service stopped itself on a fault: reported as
            one line on stderr and `EXIT_STOPPED`, not a traceback.
        stop: The stop event (one is made when None); SIGINT and SIGTERM set it.
    """
    stop = stop or threading.Event()
    with observed(service, endpoint), stop_on_signals(stop):
        try:
            return service.run(stop)
        except stopped_on as exc:
            sys.stderr.write(f"{command} stopped: {type(exc).__name__}: {exc}\n")
            return EXIT_STOPPED


class ServiceThread(threading.Thread):
    """A service beside other work in one process (`finsent run`): on a daemon thread, with
    its endpoint, keeping the error it died of for the main thread, which owns the signals.

    Args:
        service: The built service.
        endpoint: Where to serve its `/metrics`, `/healthz`, `/readyz`; None for none.
        stop: Set to stop it.
        name: The thread's name (in logs).
    """

    def __init__(
        self, service: Service, endpoint: Endpoint | None, stop: threading.Event, *, name: str
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.service = service
        self._endpoint = endpoint
        self._stop_event = stop  # not `_stop`: `threading.Thread` has a method of that name
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with observed(self.service, self._endpoint):
                self.service.run(self._stop_event)
        except BaseException as exc:  # kept for the main thread, which reports it
            self.error = exc
            log.exception("service stopped", extra={"service": self.name})
