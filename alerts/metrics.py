"""Prometheus metrics of the alerts service; every name is declared here (STYLE.md section 3)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


def _name(name: MetricName) -> str:
    """Only names declared in `MetricName` type-check."""
    return name


class AlertMetrics:
    """The service's metrics on one registry (a fresh one per test).

    Counter names are given with their `_total` suffix; prometheus_client keeps it.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.registry = reg
        self.windows_evaluated = Counter(
            _name("finsent_alerts_windows_evaluated_total"),
            "Closed event-time windows evaluated, per rule.",
            ["rule"],
            registry=reg,
        )
        self.state_changes = Counter(
            _name("finsent_alerts_state_changes_total"),
            "Incident state changes (firing, resolved), per rule, severity and notify.",
            ["rule", "state", "severity", "notify"],
            registry=reg,
        )
        self.notifications = Counter(
            _name("finsent_alerts_notifications_total"),
            "Notifications delivered, per channel.",
            ["channel"],
            registry=reg,
        )
        self.notification_failures = Counter(
            _name("finsent_alerts_notification_failures_total"),
            "Failed notification attempts, per channel and reason.",
            ["channel", "reason"],
            registry=reg,
        )
        self.watermark_lag = Gauge(
            _name("finsent_alerts_watermark_lag_seconds"),
            "Wall clock minus the namespace's event-time watermark.",
            ["namespace"],
            registry=reg,
        )
        self.outbox_pending = Gauge(
            _name("finsent_alerts_outbox_pending"),
            "Pages (entry x channel) not yet delivered, after the last delivery pass.",
            ["namespace"],
            registry=reg,
        )
        self.outbox_oldest = Gauge(
            _name("finsent_alerts_outbox_oldest_seconds"),
            "Age of the oldest undelivered page (0 when none).",
            ["namespace"],
            registry=reg,
        )
        self.pages_overdue = Gauge(
            _name("finsent_alerts_pages_overdue"),
            "Pages undelivered for longer than notify_overdue_s: page the operator on > 0.",
            ["namespace", "channel"],
            registry=reg,
        )
        self.pages_overdue_total = Counter(
            _name("finsent_alerts_overdue_pages_total"),
            "Pages that became overdue, per channel.",
            ["channel"],
            registry=reg,
        )
        self.pages_dropped = Counter(
            _name("finsent_alerts_pages_dropped_total"),
            "Pages given up after notify_retention_h, per channel.",
            ["channel"],
            registry=reg,
        )
        self.page_delay = Histogram(
            _name("finsent_alerts_page_delay_seconds"),
            "Wall time from the decision's commit to the channel's acknowledgement.",
            ["channel"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=reg,
        )
        self.resends = Counter(
            _name("finsent_alerts_resends_total"),
            "Re-sends of active incidents to channels that want them (Alertmanager).",
            ["channel", "outcome"],
            registry=reg,
        )
