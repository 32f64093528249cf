"""What every service exposes to operators: process and build metrics, and a tiny HTTP
endpoint (`/metrics` for Prometheus, `/healthz`, `/readyz`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Generic, NamedTuple, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from finsent import __version__

Name = TypeVar("Name", bound=str)
"""A service's metric names (its `Literal` of them, so mypy checks each declaration)."""

BUILD_INFO: Final = "finsent_build_info"
"""Always 1; its labels say which code (`version`) and model (`model_version`) run."""


def instrument_process(registry: CollectorRegistry, *, model_version: str = "") -> None:
    """Register the process collectors and `finsent_build_info` on a service's registry.

    The process collectors give `process_cpu_seconds_total`, `process_resident_memory_bytes`,
    `process_start_time_seconds` (restarts), open file descriptors, `python_info` and GC
    counts. The default registry of prometheus_client already holds them; a service's own
    registry does not, so each service calls this once at start-up.

    Args:
        registry: the registry the service serves on `/metrics`.
        model_version: the model the service scores with; empty for services without one.
    """
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        # Already there raises ValueError (prometheus_client's default registry has all three).
        with contextlib.suppress(ValueError):
            collector(registry=registry)
    try:
        info = Gauge(
            BUILD_INFO,
            "Always 1: the finsent version and model version this process runs.",
            ["version", "model_version"],
            registry=registry,
        )
    except ValueError:
        return  # instrumented already: one process, one build
    info.labels(version=__version__, model_version=model_version).set(1)


class MetricSpec(NamedTuple):
    """One metric's help text and label names, as a service's table declares them."""

    documentation: str
    labels: tuple[str, ...] = ()


class MetricDeclarations(Generic[Name]):
    """Declares a service's metrics on one registry from its table of name -> `MetricSpec`.

    The table keeps each metric's name, help text and labels on one entry; the service's
    metrics class only says which kind each name is. A name missing from the table fails
    when the class is built, which every test of the service does. Counter names are given
    with their `_total` suffix; prometheus_client keeps it.
    """

    def __init__(self, registry: CollectorRegistry, specs: Mapping[Name, MetricSpec]) -> None:
        self.registry = registry
        self._specs = specs

    def counter(self, name: Name) -> Counter:
        spec = self._specs[name]
        return Counter(name, spec.documentation, spec.labels, registry=self.registry)

    def gauge(self, name: Name) -> Gauge:
        spec = self._specs[name]
        return Gauge(name, spec.documentation, spec.labels, registry=self.registry)

    def histogram(self, name: Name, buckets: tuple[float, ...]) -> Histogram:
        spec = self._specs[name]
        return Histogram(
            name, spec.documentation, spec.labels, registry=self.registry, buckets=buckets
        )


class HealthState:
    """Liveness and readiness flags a service updates; read by the HTTP handler."""

    def __init__(self) -> None:
        self._ready = False
        self._lock = threading.Lock()

    def set_ready(self, ready: bool) -> None:
        with self._lock:
            self._ready = ready

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._ready


def serve_observability(
    registry: CollectorRegistry,
    health: HealthState,
    host: str = "127.0.0.1",
    port: int = 0,
    alive: Callable[[], bool] = lambda: True,
) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread; port 0 picks a free port (see `server_port`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"stalled\n")
            elif self.path == "/readyz":
                ok = health.ready
                self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the service's own logs

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="observability", daemon=True).start()
    return server
