"""`Notifier`: sends one alert to one named channel with bounded retries.

Retries back off exponentially; a receiver's `Retry-After` (Slack's 429, a webhook's 503)
is honoured: waited out within the attempt budget when short, otherwise the channel is
left alone until then and the page stays in the outbox for a later pass. The channels
themselves live in `alerts.channels`; the outbox, markers and lease in `alerts.delivery`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Literal

from alerts.channels.base import Channel, NotifyError
from alerts.metrics import AlertMetrics
from finsent.schemas import Alert

__all__ = ["Channel", "Notifier", "NotifyError", "Outcome"]

log = logging.getLogger(__name__)

Outcome = Literal["sent", "failed", "deferred", "aborted"]
"""`deferred`: the channel asked us to wait (Retry-After); `aborted`: `may_send` said no."""


class Notifier:
    """Delivers alerts to named channels.

    Args:
        channels: the configured channels (names must be unique).
        metrics: where deliveries and failures are counted.
        attempts: tries per `send` call.
        backoff_s: delay before the first retry; doubles per retry.
        max_retry_after_s: longest `Retry-After` waited out in place; longer ones defer
            the channel to a later pass.
        sleep: injectable for tests.
        monotonic: clock for `Retry-After` deadlines (real seconds, like the receiver's).
    """

    def __init__(
        self,
        channels: Iterable[Channel] = (),
        metrics: AlertMetrics | None = None,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 5.0,
        sleep: Callable[[float], object] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channels = {c.name: c for c in channels}
        self._metrics = metrics or AlertMetrics()
        self._attempts, self._backoff_s = attempts, backoff_s
        self._max_retry_after_s = max_retry_after_s
        self._sleep, self._monotonic = sleep, monotonic
        self._not_before: dict[str, float] = {}
        self._unknown: set[str] = set()

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(self._channels)

    def resend_intervals(self) -> dict[str, float]:
        """Channels that want active alerts repeated, with their interval in seconds."""
        found = {n: getattr(c, "resend_s", None) for n, c in self._channels.items()}
        return {n: float(s) for n, s in found.items() if s is not None}

    def send(self, name: str, alert: Alert, may_send: Callable[[], bool] = lambda: True) -> Outcome:
        """Try one channel up to `attempts` times.

        Args:
            name: the channel; an unknown name fails (it was removed from the settings).
            alert: what to send.
            may_send: asked before every attempt; False aborts (the caller lost its lease).
        """
        channel = self._channels.get(name)
        if channel is None:
            if name not in self._unknown:  # once: it fails on every pass until it expires
                self._unknown.add(name)
                log.error(
                    "page for a channel that is not configured; it stays in the outbox",
                    extra={"channel": name, "incident_id": alert.incident_id},
                )
            return "failed"
        if self._monotonic() < self._not_before.get(name, 0.0):
            return "deferred"
        delay = self._backoff_s
        for attempt in range(1, self._attempts + 1):
            if not may_send():
                return "aborted"
            try:
                channel.send(alert)
            except NotifyError as exc:
                self._metrics.notification_failures.labels(name, exc.reason).inc()
                log.warning(
                    "notification failed",
                    extra={
                        "channel": name,
                        "incident_id": alert.incident_id,
                        "state": alert.state,
                        "attempt": attempt,
                        "reason": exc.reason,
                        "retry_after_s": exc.retry_after_s,
                    },
                )
                wait = delay
                if exc.retry_after_s is not None:
                    if exc.retry_after_s > self._max_retry_after_s:
                        self._not_before[name] = self._monotonic() + exc.retry_after_s
                        return "deferred"
                    wait = max(delay, exc.retry_after_s)
                if attempt < self._attempts:
                    self._sleep(wait)
                    delay *= 2
                continue
            self._not_before.pop(name, None)
            self._metrics.notifications.labels(name).inc()
            return "sent"
        return "failed"
