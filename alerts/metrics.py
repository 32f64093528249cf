"""Prometheus metrics of the alerts service; every name is declared here (STYLE.md section 3)."""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry

from finsent.observability import MetricDeclarations, MetricSpec

MetricName = Literal[
    "finsent_alerts_windows_evaluated_total",
    "finsent_alerts_state_changes_total",
    "finsent_alerts_notifications_total",
    "finsent_alerts_notification_failures_total",
    "finsent_alerts_watermark_lag_seconds",
    "finsent_alerts_outbox_pending",
    "finsent_alerts_outbox_oldest_seconds",
    "finsent_alerts_pages_overdue",
    "finsent_alerts_overdue_pages_total",
    "finsent_alerts_pages_dropped_total",
    "finsent_alerts_page_delay_seconds",
    "finsent_alerts_resends_total",
]


METRICS: Final[dict[MetricName, MetricSpec]] = {
    "finsent_alerts_windows_evaluated_total": MetricSpec(
        "Closed event-time windows evaluated, per rule.", ("rule",)
    ),
    "finsent_alerts_state_changes_total": MetricSpec(
        "Incident state changes (firing, resolved), per rule, severity and notify.",
        ("rule", "state", "severity", "notify"),
    ),
    "finsent_alerts_notifications_total": MetricSpec(
        "Notifications delivered, per channel.", ("channel",)
    ),
    "finsent_alerts_notification_failures_total": MetricSpec(
        "Failed notification attempts, per channel and reason.", ("channel", "reason")
    ),
    "finsent_alerts_watermark_lag_seconds": MetricSpec(
        "Wall clock minus the namespace's event-time watermark.", ("namespace",)
    ),
    "finsent_alerts_outbox_pending": MetricSpec(
        "Pages (entry x channel) not yet delivered, after the last delivery pass.",
        ("namespace",),
    ),
    "finsent_alerts_outbox_oldest_seconds": MetricSpec(
        "Age of the oldest undelivered page (0 when none).", ("namespace",)
    ),
    "finsent_alerts_pages_overdue": MetricSpec(
        "Pages undelivered for longer than notify_overdue_s: page the operator on > 0.",
        ("namespace", "channel"),
    ),
    "finsent_alerts_overdue_pages_total": MetricSpec(
        "Pages that became overdue, per channel.", ("channel",)
    ),
    "finsent_alerts_pages_dropped_total": MetricSpec(
        "Pages given up after notify_retention_h, per channel.", ("channel",)
    ),
    "finsent_alerts_page_delay_seconds": MetricSpec(
        "Wall time from the decision's commit to the channel's acknowledgement.", ("channel",)
    ),
    "finsent_alerts_resends_total": MetricSpec(
        "Re-sends of active incidents to channels that want them (Alertmanager).",
        ("channel", "outcome"),
    ),
}

_PAGE_DELAY_BUCKETS: Final = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)


class AlertMetrics:
    """The service's metrics on one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.registry = reg
        declare = MetricDeclarations(reg, METRICS)
        self.windows_evaluated = declare.counter("finsent_alerts_windows_evaluated_total")
        self.state_changes = declare.counter("finsent_alerts_state_changes_total")
        self.notifications = declare.counter("finsent_alerts_notifications_total")
        self.notification_failures = declare.counter("finsent_alerts_notification_failures_total")
        self.watermark_lag = declare.gauge("finsent_alerts_watermark_lag_seconds")
        self.outbox_pending = declare.gauge("finsent_alerts_outbox_pending")
        self.outbox_oldest = declare.gauge("finsent_alerts_outbox_oldest_seconds")
        self.pages_overdue = declare.gauge("finsent_alerts_pages_overdue")
        self.pages_overdue_total = declare.counter("finsent_alerts_overdue_pages_total")
        self.pages_dropped = declare.counter("finsent_alerts_pages_dropped_total")
        self.page_delay = declare.histogram(
            "finsent_alerts_page_delay_seconds", _PAGE_DELAY_BUCKETS
        )
        self.resends = declare.counter("finsent_alerts_resends_total")
