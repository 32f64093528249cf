"""The alert engine: sliding event-time windows in, incidents and notifications out.

`AlertEngine.evaluate(namespace)` is the whole in-process API: it decides every step whose
window the namespace's low watermark has closed since the last call, commits the decisions,
then delivers what is still in the outbox. Calling it again with no new data does nothing,
so an orchestrator (the replay driver, a test, the `finsent alerts run` loop) may call it as
often as it likes.

The low watermark is the newest event written to the namespace, capped by `until` when the
caller knows inputs are behind it, and, in namespaces that page, by the wall clock: a
document dated in the future can never make the engine judge (or resolve an incident on) a
window that has not happened yet. A rule decides the window ending at `t` once the low
watermark reaches `t + lateness_s`; documents up to that late are counted, later ones only
in the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from alerts.delivery import Delivery, DeliveryOptions
from alerts.detector import Counts, DetectorState, is_idle, judge, learn
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.rules import Rule
from alerts.settings import AlertsSettings
from alerts.state import AlertStateStore, OutboxEntry, Transition
from finsent.errors import TransientError
from finsent.schemas import Alert, SeriesRef
from finsent.store.base import ALL_SERIES, SeriesStore
from finsent.store.models import floor_ms, from_ms, to_ms
from finsent.store.replies import registry_member

log = logging.getLogger(__name__)

KAFKA_CHANNEL = "kafka"
MARKET_KEY = registry_member(ALL_SERIES)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def incident_id(namespace: str, rule: str, series: SeriesRef, window_start_ms: int) -> str:
    """Stable per (namespace, rule, series, first window): replays reproduce the same ids."""
    return f"{namespace}.{rule}.{series.kind}.{series.value}.{window_start_ms}"


def check_rules_fit_store(settings: AlertsSettings, minute_retention_s: int) -> None:
    """Refuse rules that read further back than the store keeps minute buckets."""
    for rule in settings.rules:
        if rule.reach_s > minute_retention_s:
            raise ValueError(
                f"rule {rule.name!r} reads {rule.reach_s}s of minute buckets behind the "
                f"watermark (window + step + lateness) but the store keeps them only "
                f"{minute_retention_s}s: shorten the rule or raise minute_retention_s"
            )


class AlertEngine:
    """Evaluates rules over a store and keeps incidents in Redis.

    Args:
        store: the series store (its Redis also holds the incident state).
        settings: rules, lag limit and evidence count (checked: every rule can page).
        notifier: on-call channels, plus `kafka` when the alert topic is published.
        clock: the wall clock; one callable, so a service-wide clock can be swapped in. It
            caps the low watermark of paging namespaces and decides whether a window is
            recent enough to page.
        metrics: counters and gauges (a fresh registry when omitted).

    Raises:
        ValueError: a rule reads minute buckets the store no longer keeps.
    """

    def __init__(
        self,
        store: SeriesStore,
        settings: AlertsSettings,
        notifier: Notifier | None = None,
        clock: Clock = utc_now,
        metrics: AlertMetrics | None = None,
    ) -> None:
        check_rules_fit_store(settings, store.options.minute_retention_s)
        self._store = store
        self._settings = settings
        self._metrics = metrics or AlertMetrics()
        self._notifier = notifier or Notifier(metrics=self._metrics)
        self._clock = clock
        self._state = AlertStateStore(store.client, clock)
        self._delivery = Delivery(
            self._state.outbox_store,
            self._notifier,
            self._state.open_incidents,
            DeliveryOptions.from_settings(settings),
            clock,
            self._metrics,
        )

    @property
    def state(self) -> AlertStateStore:
        return self._state

    def low_watermark_ms(self, namespace: str, until: datetime | None = None) -> int | None:
        """The event time up to which the namespace's inputs are taken as written."""
        watermark_ms = self._store.watermark_ms(namespace)
        if watermark_ms is None:
            return None
        if until is not None:
            watermark_ms = min(watermark_ms, to_ms(until))
        if namespace in self._settings.page_namespaces:
            watermark_ms = min(watermark_ms, to_ms(self._clock()))
        return watermark_ms

    def evaluate(self, namespace: str, until: datetime | None = None) -> list[Alert]:
        """Decide every step closed since the last call, then deliver notifications.

        Args:
            namespace: the namespace to evaluate.
            until: an event time the caller knows every input has been written up to
                (e.g. the slowest partition's position during a multi-partition replay).
                The low watermark is the earlier of this and the store's watermark (the
                newest event written, which runs ahead of slow partitions).

        Returns:
            The state changes decided by this call (already committed and logged).
        """
        watermark_ms = self.low_watermark_ms(namespace, until)
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
            s = rule.step_ms
            # Never read before the minute buckets the rule needs still exist: after a long
            # outage they are trimmed. Namespaces that keep their history (replays, by
            # default) are never trimmed, so a replay evaluated only once it is written
            # still decides every step.
            kept = watermark_ms - self._store.options.minute_retention_ms
            oldest = -(-(kept + rule.window_ms + s) // s) * s  # first step end fully kept
            done = cursor if cursor is not None else floor_ms(first_ms, s)
            if self._store.options.trims(namespace) and done < oldest - s:
                log.warning(
                    "minute buckets already trimmed; skipping steps",
                    extra={"rule": rule.name, "from_ms": done, "to_ms": oldest - s},
                )
                done = oldest - s
            last = floor_ms(watermark_ms - rule.lateness_ms, s)
            last = min(last, done + self._settings.max_steps_per_pass * s)
            if last <= done:
                return None
            return self._run_steps(namespace, rule, done, last, watermark_ms, states)

        changes: list[Alert] = []
        # Each pass covers at most `max_steps_per_pass` steps and commits; repeat until
        # every closed step is done (or another process committed first).
        while (transition := self._state.transact(namespace, rule.name, evaluate)) is not None:
            self._metrics.windows_evaluated.labels(rule.name).inc(transition.windows)
            for entry in transition.changes:
                a = entry.alert
                self._metrics.state_changes.labels(a.rule, a.state, a.severity, str(a.notify)).inc()
                log.info(
                    "incident %s",
                    a.state,
                    extra={
                        "incident_id": a.incident_id,
                        "rule": a.rule,
                        "notify": a.notify,
                        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
                    },
                )
                changes.append(a)
        return changes

    def _read_steps(
        self, namespace: str, rule: Rule, series: Sequence[SeriesRef], start_ms: int, end_ms: int
    ) -> dict[str, list[Counts]]:
        """Per series, the counts of every step in `[start, end)` (sparse reads)."""
        s = rule.step_ms
        out: dict[str, list[Counts]] = {}
        for ref in series:
            docs = [0] * ((end_ms - start_ms) // s)
            negatives = [0] * len(docs)
            found = self._store.buckets(
                ref, namespace, from_ms(start_ms), from_ms(end_ms), rule.resolution
            )
            for at, totals in found.items():
                i = (at - start_ms) // s
                docs[i] += totals.count
                negatives[i] += totals.negative
            out[registry_member(ref)] = [Counts(n, k) for n, k in zip(docs, negatives, strict=True)]
        return out

    def _run_steps(
        self,
        namespace: str,
        rule: Rule,
        done_ms: int,
        last_ms: int,
        watermark_ms: int,
        states: dict[str, DetectorState],
    ) -> Transition:
        """Decide the steps ending in `(done, last]`."""
        s, w = rule.step_ms, rule.window_ms
        per_window = w // s
        refs = [r for r in self._store.list_series(namespace) if r.kind in rule.kinds]
        # The market is always followed: its share is every series' prior.
        tracked = [ALL_SERIES, *(r for r in refs if r != ALL_SERIES)]
        alerting = {registry_member(r) for r in refs}
        read_from = done_ms + s - w - s  # the first step's leaving step
        steps = self._read_steps(namespace, rule, tracked, read_from, last_ms)
        current = {k: DetectorState.from_json(v.to_json()) for k, v in states.items()}
        windows: dict[str, tuple[int, int]] = {}
        for key, counts in steps.items():
            first = counts[1 : 1 + per_window - 1]  # the window before the first step
            windows[key] = (sum(c.count for c in first), sum(c.negative for c in first))
        transition = Transition(cursor_ms=last_ms)
        touched: set[str] = set()
        for i, end in enumerate(range(done_ms + s, last_ms + s, s)):
            transition.windows += 1
            leaving_start = end - w - s
            market = current.get(MARKET_KEY) or DetectorState()
            market_share = market.share(rule.params.prior_share, rule.params)
            for ref in tracked:
                key = registry_member(ref)
                counts = steps[key]
                leaving, entering = counts[i], counts[i + per_window]
                n, k = windows[key]
                n, k = n + entering.count, k + entering.negative
                windows[key] = (n - counts[i + 1].count, k - counts[i + 1].negative)
                state = current.get(key)
                if state is None:
                    state = current[key] = DetectorState()
                window = Counts(n, k)
                if is_idle(state, window, leaving, leaving_start):
                    continue
                touched.add(key)
                learn(state, leaving_start, rule.step_s, leaving, rule.params)
                before, was_paged = state.incident_id, state.paged
                new_id = incident_id(namespace, rule.name, ref, end - w)
                prior = rule.params.prior_share if key == MARKET_KEY else market_share
                decision = judge(state, end, rule.window_s, window, prior, rule.params, new_id)
                if (
                    key in alerting
                    and window.negative >= rule.params.min_negative
                    and log.isEnabledFor(logging.DEBUG)
                ):
                    # Near misses too: why a burst did or did not page, step by step.
                    log.debug(
                        "window judged",
                        extra={
                            "rule": rule.name,
                            "series": key,
                            "window_end": from_ms(end).isoformat(),
                            "action": decision.action,
                            "docs": window.count,
                            "negatives": window.negative,
                            "baseline": round(decision.baseline, 4),
                            "z": round(decision.z_score, 3),
                            "spread": round(state.spread, 3),
                            "surprise": round(decision.surprise, 2),
                        },
                    )
                if key not in alerting or decision.action == "none" or decision.severity is None:
                    continue
                firing = decision.action == "fire"
                # A resolution pages exactly when its firing did: never a RESOLVED for a
                # page on-call did not get, always one for a page they did.
                notify = (
                    self._may_page(namespace, end) if firing or was_paged is None else was_paged
                )
                state.paged = notify if firing else None
                alert = Alert(
                    incident_id=new_id if firing else str(before),
                    rule=rule.name,
                    namespace=namespace,
                    series=ref,
                    state="firing" if firing else "resolved",
                    severity=decision.severity,
                    window_start=from_ms(end - w),
                    window_end=from_ms(end),
                    observed=decision.observed,
                    baseline=decision.baseline,
                    z_score=decision.z_score,
                    doc_count=decision.doc_count,
                    evidence=tuple(
                        self._store.evidence(
                            ref,
                            namespace,
                            from_ms(end - w),
                            from_ms(end),
                            self._settings.evidence_count,
                        )
                    )
                    if firing
                    else (),
                    evaluated_at=from_ms(watermark_ms),
                    decided_at=from_ms(end + rule.lateness_ms),
                    notify=notify,
                )
                transition.changes.append(OutboxEntry(alert=alert, pending=self._channels(alert)))
        transition.states = {k: current[k] for k in touched}
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
        """One delivery pass (alerts/delivery.py); returns pages still pending, -1 if busy."""
        return self._delivery.deliver(namespace)

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
