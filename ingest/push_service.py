"""The push API as a service (`finsent.service.Service`): uvicorn, stopped by `run_service`.

The push app answers `/healthz`, `/readyz` (Kafka and Redis checked per request) and
`/metrics` on its own port, so `run_service` is given no endpoint of its own for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import uvicorn
from prometheus_client import CollectorRegistry
from uvicorn.config import STARTUP_FAILURE

from finsent.observability import HealthState, instrument_process
from finsent.settings import FinsentSettings
from ingest.ingestor import Ingestor
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.sources.push import create_app
from ingest.sources.push_clients import PushClients
from ingest.wiring import open_ingestor

log = logging.getLogger(__name__)

OpenIngestor = Callable[[IngestMetrics], AbstractContextManager[Ingestor]]
"""Opens the ingestor the app publishes through (`ingest.wiring.open_ingestor`)."""


class _Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: `run_service` owns SIGINT and SIGTERM.

    The server sees `stop` on its next tick (every 0.1 s) and shuts down as its own
    handler would have made it: no new connections, in-flight requests answered.
    `health` is ready from the moment it listens until it starts shutting down.
    """

    def __init__(self, config: uvicorn.Config, stop: threading.Event, health: HealthState) -> None:
        super().__init__(config)
        self._stop = stop
        self._health = health

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._health.set_ready(self.started)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._health.set_ready(False)
        await super().shutdown(sockets)

    async def on_tick(self, counter: int) -> bool:
        if self._stop.is_set():
            self.should_exit = True
        return await super().on_tick(counter)


class PushService:
    """`POST /v1/documents` on uvicorn until stopped; then the producer is flushed.

    Args:
        settings: Shared Kafka and Redis settings (and the service clock).
        ingest: Ingest settings (the clients' tokens, limits, default host and port).
        host: Bind address override.
        port: Port override.
        topic: Documents topic override (dry runs, staging).
        open_ingestor: Opens the ingestor (default: `open_ingestor` from the settings).

    Raises:
        ConfigurationError: no push client, or a bad one (checked before anything opens).
    """

    def __init__(
        self,
        settings: FinsentSettings,
        ingest: IngestSettings,
        *,
        host: str | None = None,
        port: int | None = None,
        topic: str | None = None,
        open_ingestor: OpenIngestor | None = None,
    ) -> None:
        self._client_names = PushClients.from_settings(ingest).names
        self._ingest = ingest
        self._host = host or ingest.push_host
        self._port = port or ingest.push_port
        self._metrics = IngestMetrics()
        instrument_process(self._metrics.registry)
        self._open_ingestor = open_ingestor or functools.partial(
            _open_live, settings, ingest, topic
        )
        self.health = HealthState()
        self.server: uvicorn.Server | None = None

    @property
    def registry(self) -> CollectorRegistry:
        return self._metrics.registry

    def run(self, stop: threading.Event) -> int:
        # Names only, never tokens: an operator sees who may push.
        log.info("push clients configured", extra={"clients": list(self._client_names)})
        with self._open_ingestor(self._metrics) as ingestor:
            # Root logging (JSON) instead of uvicorn's; no access log: it would record
            # client addresses, which are user data.
            config = uvicorn.Config(
                create_app(ingestor, self._ingest, self._metrics),
                host=self._host,
                port=self._port,
                log_config=None,
                access_log=False,
            )
            self.server = server = _Server(config, stop, self.health)
            server.run()
        # What `uvicorn.run` exits with when the server never started.
        return 0 if server.started else STARTUP_FAILURE


def _open_live(
    settings: FinsentSettings, ingest: IngestSettings, topic: str | None, metrics: IngestMetrics
) -> AbstractContextManager[Ingestor]:
    return open_ingestor(
        settings,
        ingest,
        topic=topic,
        clock=settings.clock(),
        metrics=metrics,
        max_consecutive_invalid=None,
    )
