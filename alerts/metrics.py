"""Prometheus metrics of the alerts service; every name is declared here (STYLE.md section 3)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

MetricName = Literal[
    "finsent_alerts_windows_evaluated_total",
    "finsent_alerts_state_changes_total",
    "finsent_alerts_notifications_total",
    "finsent_alerts_notification_failures_total",
    "finsent_alerts_watermark_lag_seconds",
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
