"""The alerting service (`finsent.service.Service`): judge windows and page, until stopped."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

import httpx
from prometheus_client import CollectorRegistry

from alerts.channels.base import describe
from alerts.engine import AlertEngine, Clock, run_forever
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.settings import AlertsSettings
from finsent.observability import HealthState, instrument_process
from finsent.service import Endpoint
from finsent.settings import FinsentSettings
from finsent.store import open_store

NotifierFactory = Callable[[httpx.Client, Clock, AlertMetrics], Notifier]
"""Builds the engine's notifier on the service's HTTP client (`alerts.cli.build_notifier`)."""


class AlertService:
    """`AlertEngine` over the configured namespaces: every poll interval, or once.

    Args:
        base: Shared settings (Redis, the service clock).
        settings: The alerting settings.
        namespaces: The namespaces to evaluate.
        make_notifier: Builds the notifier the engine pages through.
        once: Evaluate and deliver once, writing each state change with `echo`, then stop.
        echo: Where `once` writes its lines.
    """

    def __init__(
        self,
        base: FinsentSettings,
        settings: AlertsSettings,
        namespaces: Sequence[str],
        make_notifier: NotifierFactory,
        *,
        once: bool = False,
        echo: Callable[[str], object] = lambda line: None,
    ) -> None:
        self._base = base
        self._settings = settings
        self._namespaces = tuple(namespaces)
        self._make_notifier = make_notifier
        self._once = once
        self._echo = echo
        self._metrics = AlertMetrics()
        instrument_process(self._metrics.registry)
        self.health = HealthState()

    @property
    def registry(self) -> CollectorRegistry:
        return self._metrics.registry

    @property
    def endpoint(self) -> Endpoint | None:
        """All interfaces on `metrics_port`; None (no endpoint) when the port is unset."""
        port = self._settings.metrics_port
        return None if port is None else Endpoint("0.0.0.0", port)

    @contextlib.contextmanager
    def engine(self) -> Iterator[AlertEngine]:
        """The engine as `run` drives it: its store, the service clock, an HTTP client and
        the notifier on it. For a caller with a loop of its own (`finsent run` evaluates a
        replay only up to what every partition has reached), so the wiring is this one."""
        base, settings, metrics = self._base, self._settings, self._metrics
        store = open_store(base, settings.store_backend)
        clock = base.clock()  # paging recency and Alertmanager times follow it
        try:
            with httpx.Client(timeout=settings.notify_timeout_s) as client:
                notifier = self._make_notifier(client, clock, metrics)
                yield AlertEngine(store, settings, notifier, clock=clock, metrics=metrics)
        finally:
            store.close()

    def run(self, stop: threading.Event) -> int:
        with self.engine() as engine:
            self.health.set_ready(True)
            if self._once:
                for ns in self._namespaces:
                    for alert in engine.evaluate(ns):
                        self._echo(describe(alert))
            else:
                # The loop's timing follows the service clock too.
                interval_s = self._base.clock().real_seconds(self._settings.poll_interval_s)
                run_forever(engine, self._namespaces, interval_s, stop.is_set, stop.wait)
        return 0
