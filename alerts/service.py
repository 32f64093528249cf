"""The alert engine: closed event-time windows in, incidents and notifications out.

`AlertEngine.evaluate(namespace)` is the whole in-process API: it evaluates every window
closed by the namespace's watermark since the last call, commits the decisions, then
delivers what is still in the outbox. Calling it again with no new data does nothing, so
an orchestrator (the replay driver, a test, the `finsent alerts run` loop) may call it as
often as it likes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from alerts.detector import DetectorState, step
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.rules import Rule
from alerts.settings import AlertsSettings
from alerts.state import AlertStateStore, OutboxEntry, Transition
from finsent.errors import TransientError
from finsent.schemas import Alert, SeriesRef
from finsent.store.base import SeriesStore, registry_member
from finsent.store.models import floor_ms, from_ms, to_ms

log = logging.getLogger(__name__)

KAFKA_CHANNEL = "kafka"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def incident_id(namespace: str, rule: str, series: SeriesRef, window_start_ms: int) -> str:
    """Stable per (namespace, rule, series, first window): replays reproduce the same ids."""
    return f"{namespace}.{rule}.{series.kind}.{series.value}.{window_start_ms}"


class AlertEngine:
    """Evaluates rules over a store and keeps incidents in Redis.

    Args:
        store: the series store (its Redis also holds the incident state).
        settings: rules, lag limit and evidence count.
        notifier: on-call channels, plus `kafka` when the alert topic is published.
        clock: wall clock, used only to decide whether a window is recent enough to page.
        metrics: counters and gauges (a fresh registry when omitted).
    """

    def __init__(
        self,
        store: SeriesStore,
        settings: AlertsSettings,
        notifier: Notifier | None = None,
        clock: Clock = utc_now,
        metrics: AlertMetrics | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics or AlertMetrics()
        self._notifier = notifier or Notifier(metrics=self._metrics)
        self._clock = clock
        self._state = AlertStateStore(store.client)

    @property
    def state(self) -> AlertStateStore:
        return self._state

    def evaluate(self, namespace: str, until: datetime | None = None) -> list[Alert]:
        """Evaluate every window closed since the last call, then deliver notifications.

        Args:
            namespace: the namespace to evaluate.
            until: an event time the caller knows every input has been written up to
                (e.g. the slowest partition's position during a multi-partition replay).
                Windows close at the earlier of this and the store's watermark, which is
                the newest event written and so runs ahead of slow partitions.

        Returns:
            The state changes decided by this call (already committed and logged).
        """
        watermark_ms = self._store.watermark_ms(namespace)
        if watermark_ms is not None and until is not None:
            watermark_ms = min(watermark_ms, to_ms(until))
        first = self._store.first_event(namespace)
        changes: list[Alert] = []
        if watermark_ms is not None and first is not None:
            lag = (self._clock() - from_ms(watermark_ms)).total_seconds()
            self._metrics.watermark_lag.labels(namespace).set(lag)
            for rule in self._settings.rules:
                changes += self._evaluate_rule(namespace, rule, watermark_ms, to_ms(first))
        self.deliver(namespace)
        return changes

    def _evaluate_rule(
        self, namespace: str, rule: Rule, watermark_ms: int, first_ms: int
    ) -> list[Alert]:
        def evaluate(cursor: int | None, states: dict[str, DetectorState]) -> Transition | None:
            w = rule.window_ms
            # Never start before the data the rule reads still exists: after a long outage
            # (or on the first pass over a big namespace) those windows would all be empty.
            opts = self._store.options
            kept = opts.hour_retention_ms if rule.resolution == "1h" else opts.minute_retention_ms
            oldest = -(-(watermark_ms - kept) // w) * w  # first whole window still kept
            start = max(cursor if cursor is not None else floor_ms(first_ms, w), oldest)
            end = floor_ms(watermark_ms - rule.grace_s * 1000, w)
            end = min(end, start + self._settings.max_windows_per_pass * w)
            if end <= start:
                return None
            return self._run_windows(namespace, rule, start, end, watermark_ms, states)

        changes: list[Alert] = []
        # Each pass covers at most `max_windows_per_pass` windows and commits; repeat until
        # every closed window is done (or another process committed first).
        while (transition := self._state.transact(namespace, rule.name, evaluate)) is not None:
            self._metrics.windows_evaluated.labels(rule.name).inc(transition.windows)
            for entry in transition.changes:
                a = entry.alert
                self._metrics.state_changes.labels(a.rule, a.state, a.severity, str(a.notify)).inc()
                log.info(
                    "incident %s",
                    a.state,
                    extra={"incident_id": a.incident_id, "rule": a.rule, "notify": a.notify},
                )
                changes.append(a)
        return changes

    def _run_windows(
        self,
        namespace: str,
        rule: Rule,
        start_ms: int,
        end_ms: int,
        watermark_ms: int,
        states: dict[str, DetectorState],
    ) -> Transition:
        w = rule.window_ms
        series = [s for s in self._store.list_series(namespace) if s.kind in rule.kinds]
        points = {
            registry_member(s): self._store.range(
                s,
                namespace,
                from_ms(start_ms),
                from_ms(end_ms),
                timedelta(milliseconds=w),
                rule.resolution,
            )
            for s in series
        }
        transition = Transition(cursor_ms=end_ms)
        for i, window_start in enumerate(range(start_ms, end_ms, w)):
            transition.windows += 1
            for ref in series:
                key = registry_member(ref)
                before = transition.states.get(key) or states.get(key) or DetectorState()
                totals = points[key][i].totals
                new_id = incident_id(namespace, rule.name, ref, window_start)
                after, decision = step(before, totals.count, totals.negative, rule.params, new_id)
                transition.states[key] = after
                if decision.action == "none" or decision.severity is None:
                    continue
                firing = decision.action == "fire"
                window_end = window_start + w
                alert = Alert(
                    incident_id=new_id if firing else str(before.incident_id),
                    rule=rule.name,
                    namespace=namespace,
                    series=ref,
                    state="firing" if firing else "resolved",
                    severity=decision.severity,
                    window_start=from_ms(window_start),
                    window_end=from_ms(window_end),
                    observed=decision.observed,
                    baseline=decision.baseline,
                    z_score=decision.z_score,
                    doc_count=decision.doc_count,
                    evidence=tuple(
                        self._store.evidence(
                            ref,
                            namespace,
                            from_ms(window_start),
                            from_ms(window_end),
                            self._settings.evidence_count,
                        )
                    )
                    if firing
                    else (),
                    evaluated_at=from_ms(watermark_ms),
                    notify=self._may_page(namespace, window_end),
                )
                transition.changes.append(OutboxEntry(alert=alert, pending=self._channels(alert)))
        return transition

    def _may_page(self, namespace: str, window_end_ms: int) -> bool:
        """Only live, recent windows page: replays and backfills are logged, never sent."""
        oldest = to_ms(self._clock()) - self._settings.max_event_lag_s * 1000
        return namespace in self._settings.page_namespaces and window_end_ms >= oldest

    def _channels(self, alert: Alert) -> tuple[str, ...]:
        names = self._notifier.channel_names
        publish = tuple(n for n in names if n == KAFKA_CHANNEL)
        on_call = tuple(n for n in names if n != KAFKA_CHANNEL) if alert.notify else ()
        return publish + on_call

    def deliver(self, namespace: str) -> int:
        """Send what the outbox holds; returns notifications still pending afterwards."""
        with self._state.delivery_lease(namespace) as held:
            if not held:
                return -1  # another process is delivering this namespace right now
            left = 0
            for entry in self._state.outbox(namespace):
                done = self._notifier.deliver(entry.alert, entry.pending)
                pending = [c for c in entry.pending if c not in done]
                if pending and entry.rounds + 1 >= self._settings.notify_max_rounds:
                    log.error(
                        "notification dropped after retries",
                        extra={"incident_id": entry.alert.incident_id, "channels": pending},
                    )
                    pending = []
                self._state.settle(namespace, entry, pending)
                left += len(pending)
            return left

    def open_incidents(self, namespace: str) -> list[Alert]:
        return self._state.open_incidents(namespace)


def run_forever(
    engine: AlertEngine,
    namespaces: Sequence[str],
    poll_interval_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """The service loop: evaluate each namespace, sleep, repeat; Redis outages are retried."""
    while not should_stop():
        for namespace in namespaces:
            try:
                engine.evaluate(namespace)
            except TransientError as exc:
                log.warning("redis unavailable, retrying", extra={"error": str(exc)})
        sleep(poll_interval_s)
