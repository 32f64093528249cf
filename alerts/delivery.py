"""Delivery passes: every committed page reaches every channel once, late rather than never.

One pass per namespace, under the namespace's lease (`alerts.outbox`):

1. Entries older than `retention_s` are dropped with an error log and
   `finsent_alerts_pages_dropped_total` (hours by default: a dead channel is retried,
   not forgotten).
2. Each channel works through its undelivered entries in decision order, in its own
   thread, so a dead channel delays no other. Before every attempt the lease is renewed
   (compare-and-extend); a process that lost it stops before sending. Right after a 2xx
   the channel's delivered marker is written, so a restart or another replica skips that
   channel for that entry. A failure stops that channel for this pass, which keeps its
   firing-then-resolved order.
3. Entries whose channels all have markers leave the outbox. Pages older than
   `overdue_s` are counted in `finsent_alerts_pages_overdue{namespace,channel}` and logged
   once as an error, so the operator is paged about paging.
4. Channels that want active alerts repeated (Alertmanager) get every open, paged
   incident again once their interval has passed since its last send.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from alerts.metrics import AlertMetrics
from alerts.notify import Notifier, Outcome
from alerts.outbox import Lease, Outbox, OutboxEntry
from alerts.settings import AlertsSettings
from finsent.schemas import Alert
from finsent.store.models import to_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryOptions:
    """Timing of delivery, in wall-clock seconds (see `AlertsSettings`)."""

    retention_s: float = 24 * 3600.0
    overdue_s: float = 300.0
    lease_s: float = 15.0

    @classmethod
    def from_settings(cls, settings: AlertsSettings) -> DeliveryOptions:
        return cls(
            retention_s=settings.notify_retention_h * 3600,
            overdue_s=settings.notify_overdue_s,
            lease_s=settings.delivery_lease_s,
        )


class _Guard:
    """`may_send` for one pass: renews the lease before each attempt, remembers a loss."""

    def __init__(self, outbox: Outbox, lease: Lease, namespace: str) -> None:
        self._outbox, self._lease, self._namespace = outbox, lease, namespace
        self.lost = threading.Event()

    def __call__(self) -> bool:
        if self.lost.is_set():
            return False
        if self._outbox.renew(self._lease):
            return True
        self.lost.set()
        log.warning("delivery lease lost; stopping this pass", extra={"namespace": self._namespace})
        return False


class Delivery:
    """Delivers a namespace's outbox and repeats active alerts.

    Args:
        outbox: the Redis side (entries, markers, lease).
        notifier: the channels.
        open_incidents: the namespace's open incidents (for repeating channels).
        options: retention, overdue threshold, lease.
        clock: wall clock (retention, overdue, markers, resend intervals).
        metrics: where pages are counted.
    """

    def __init__(
        self,
        outbox: Outbox,
        notifier: Notifier,
        open_incidents: Callable[[str], list[Alert]],
        options: DeliveryOptions,
        clock: Callable[[], datetime],
        metrics: AlertMetrics,
    ) -> None:
        self._outbox, self._notifier, self._open = outbox, notifier, open_incidents
        self._opts, self._clock, self._metrics = options, clock, metrics
        self._overdue_logged: set[tuple[str, str, str]] = set()

    def deliver(self, namespace: str) -> int:
        """One pass; returns pages (entry × channel) still pending, or -1 without the lease."""
        lease = self._outbox.acquire(namespace, self._opts.lease_s)
        if lease is None:
            return -1  # another process is delivering this namespace right now
        guard = _Guard(self._outbox, lease, namespace)
        try:
            left, failed = self._outbox_pass(namespace, guard)
            if not guard.lost.is_set():
                self._resend_active(namespace, guard, failed)
            return left
        finally:
            self._outbox.release(lease)

    # -- the outbox ----------------------------------------------------------------------

    def _outbox_pass(self, namespace: str, guard: _Guard) -> tuple[int, set[str]]:
        live = self._drop_expired(namespace, self._outbox.entries(namespace))
        done = self._outbox.delivered(namespace, live)
        work: dict[str, list[OutboxEntry]] = {}
        for entry in live:
            for channel in entry.pending:
                if channel not in done[entry.field]:
                    work.setdefault(channel, []).append(entry)
        failed: set[str] = set()
        if work:
            with ThreadPoolExecutor(max_workers=len(work)) as pool:
                outcomes = pool.map(
                    lambda item: self._channel_pass(namespace, item[0], item[1], guard),
                    list(work.items()),
                )
                failed = {c for c, ok in zip(work, outcomes, strict=True) if not ok}
        return self._settle(namespace, live), failed

    def _drop_expired(self, namespace: str, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        now = self._clock()
        live = []
        for entry in entries:
            if entry.queued_at is None or (now - entry.queued_at).total_seconds() <= (
                self._opts.retention_s
            ):
                live.append(entry)
                continue
            done = self._outbox.delivered(namespace, [entry])[entry.field]
            undelivered = [c for c in entry.pending if c not in done]
            for channel in undelivered:
                self._metrics.pages_dropped.labels(channel).inc()
                self._overdue_logged.discard((namespace, entry.field, channel))
            log.error(
                "page dropped after retention",
                extra={
                    "namespace": namespace,
                    "incident_id": entry.alert.incident_id,
                    "state": entry.alert.state,
                    "channels": undelivered,
                    "retention_s": self._opts.retention_s,
                },
            )
            self._outbox.remove(namespace, entry)
        return live

    def _channel_pass(
        self, namespace: str, channel: str, entries: Sequence[OutboxEntry], guard: _Guard
    ) -> bool:
        """Send `entries` to one channel in order; False at the first that does not go."""
        repeats = channel in self._notifier.resend_intervals()
        for entry in entries:
            # A previous lease holder may have delivered it after this pass read the markers.
            if self._outbox.is_delivered(namespace, entry, channel):
                continue
            outcome: Outcome = self._notifier.send(channel, entry.alert, guard)
            if outcome != "sent":
                return False
            at = self._clock()
            firing = entry.alert.state == "firing"
            self._outbox.mark(
                namespace, entry, channel, at, self._opts.retention_s, resent=repeats and firing
            )
            delay_s = (at - entry.queued_at).total_seconds() if entry.queued_at else 0.0
            self._metrics.page_delay.labels(channel).observe(max(0.0, delay_s))
            was_overdue = (namespace, entry.field, channel) in self._overdue_logged
            self._overdue_logged.discard((namespace, entry.field, channel))
            log.log(
                logging.WARNING if was_overdue else logging.INFO,
                "overdue page delivered" if was_overdue else "page delivered",
                extra={
                    "namespace": namespace,
                    "channel": channel,
                    "incident_id": entry.alert.incident_id,
                    "state": entry.alert.state,
                    "delay_s": round(delay_s, 3),
                },
            )
        return True

    def _settle(self, namespace: str, live: Sequence[OutboxEntry]) -> int:
        """Remove finished entries; publish pending and overdue pages."""
        now = self._clock()
        done = self._outbox.delivered(namespace, live)
        left, oldest_s = 0, 0.0
        overdue: Counter[str] = Counter()
        for entry in live:
            remaining = [c for c in entry.pending if c not in done[entry.field]]
            if not remaining:
                self._outbox.remove(namespace, entry)
                continue
            left += len(remaining)
            age_s = (now - entry.queued_at).total_seconds() if entry.queued_at else 0.0
            oldest_s = max(oldest_s, age_s)
            if age_s < self._opts.overdue_s:
                continue
            for channel in remaining:
                overdue[channel] += 1
                key = (namespace, entry.field, channel)
                if key in self._overdue_logged:
                    continue
                self._overdue_logged.add(key)
                self._metrics.pages_overdue_total.labels(channel).inc()
                log.error(
                    "page overdue",
                    extra={
                        "namespace": namespace,
                        "channel": channel,
                        "incident_id": entry.alert.incident_id,
                        "state": entry.alert.state,
                        "age_s": round(age_s, 1),
                    },
                )
        self._metrics.outbox_pending.labels(namespace).set(left)
        self._metrics.outbox_oldest.labels(namespace).set(oldest_s)
        for channel in {*self._notifier.channel_names, *overdue}:
            self._metrics.pages_overdue.labels(namespace, channel).set(overdue[channel])
        return left

    # -- repeating channels --------------------------------------------------------------

    def _resend_active(self, namespace: str, guard: _Guard, failed: set[str]) -> None:
        intervals = self._notifier.resend_intervals()
        if not intervals:
            return
        active = [a for a in self._open(namespace) if a.notify]
        last = self._outbox.resent(namespace)
        open_ids = {a.incident_id for a in active}
        self._outbox.forget_resent(
            namespace, [f for f in last if f.rsplit("|", 1)[0] not in open_ids]
        )
        now_ms = to_ms(self._clock())
        for channel, interval_s in intervals.items():
            if channel in failed:
                continue  # down this pass already; its outbox entries wait too
            for alert in active:
                sent_ms = last.get(f"{alert.incident_id}|{channel}")
                # No record: the first page has not reached the channel yet (outbox's job).
                if sent_ms is None or now_ms - sent_ms < interval_s * 1000:
                    continue
                outcome = self._notifier.send(channel, alert, guard)
                self._metrics.resends.labels(channel, outcome).inc()
                if outcome == "aborted":
                    return
                if outcome != "sent":
                    break
                self._outbox.set_resent(namespace, alert.incident_id, channel, self._clock())
