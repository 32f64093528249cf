"""The RSS/Atom poller as a service (`finsent.service.Service`): poll until stopped."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from finsent.errors import TransientError
from finsent.observability import HealthState, instrument_process
from finsent.service import Endpoint
from finsent.settings import FinsentSettings
from ingest.metrics import IngestMetrics
from ingest.models import IngestReport
from ingest.settings import IngestSettings
from ingest.sources.rss import FeedConfig, start_feeds
from ingest.wiring import open_ingestor

FLUSH_EVERY_S = 5.0
"""How often the poller flushes the producer while the feeds poll."""


class FeedService:
    """Every feed on its own thread, into one ingestor; `report` once it has stopped.

    Args:
        settings: Shared Kafka and Redis settings (and the service clock).
        ingest: Ingest settings (RSS limits, user agent).
        feeds: The feeds to poll.
        topic: Documents topic override (dry runs, staging).
        metrics_port: The endpoint's port on all interfaces; 0 for no endpoint.
    """

    def __init__(
        self,
        settings: FinsentSettings,
        ingest: IngestSettings,
        feeds: Sequence[FeedConfig],
        *,
        topic: str | None = None,
        metrics_port: int = 0,
    ) -> None:
        self._settings = settings
        self._ingest = ingest
        self._feeds = list(feeds)
        self._topic = topic
        self._metrics_port = metrics_port
        self._metrics = IngestMetrics()
        instrument_process(self._metrics.registry)
        self.health = HealthState()  # ready once the ingestor (Kafka, Redis) is open
        self.report: IngestReport | None = None

    @property
    def registry(self) -> CollectorRegistry:
        return self._metrics.registry

    @property
    def endpoint(self) -> Endpoint | None:
        return Endpoint("0.0.0.0", self._metrics_port) if self._metrics_port else None

    def run(self, stop: threading.Event) -> int:
        settings, ingest = self._settings, self._ingest
        with open_ingestor(
            settings,
            ingest,
            topic=self._topic,
            clock=settings.clock(),
            metrics=self._metrics,
            max_consecutive_invalid=None,
        ) as ingestor:
            threads = start_feeds(
                self._feeds,
                ingestor.handle,
                self._metrics,
                stop,
                max_backoff_s=ingest.rss_max_backoff_s,
                max_bytes=ingest.rss_max_feed_bytes,
                user_agent=ingest.rss_user_agent,
            )
            self.health.set_ready(True)
            sys.stderr.write(f"polling {len(threads)} feeds; Ctrl-C to stop\n")
            while not stop.wait(FLUSH_EVERY_S):
                try:
                    ingestor.flush()
                except TransientError as exc:  # feeds keep polling; dedupe makes re-sends safe
                    sys.stderr.write(f"warning: {exc}\n")
            for thread in threads:
                thread.join(timeout=30)
        self.report = ingestor.report()
        return 0
