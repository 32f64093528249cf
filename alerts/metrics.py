"""Prometheus metrics of the alerts service; every name is declared here (STYLE.md section 3)."""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

MetricName = Literal[
    "finsent_alerts_windows_evaluated_total",
    "finsent_alerts_state_changes_total",
    "finsent_alerts_notifications_total",
    "finsent_alerts_notification_failures_total",
    "finsent_alerts_watermark_lag_seconds",
]

_PREFIX: Final = "finsent_alerts_"


def _short(name: MetricName, suffix: str = "") -> str:
    # prometheus_client appends `_total` to counters itself.
    base = name.removeprefix(_PREFIX)
    return _PREFIX + (base.removesuffix("_total") if suffix == "counter" else base)


class AlertMetrics:
    """The service's metrics on one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.registry = reg
        self.windows_evaluated = Counter(
            _short("finsent_alerts_windows_evaluated_total", "counter"),
            "Closed event-time windows evaluated, per rule.",
            ["rule"],
            registry=reg,
        )
        self.state_changes = Counter(
            _short("finsent_alerts_state_changes_total", "counter"),
            "Incident state changes (firing, resolved), per rule, severity and notify.",
            ["rule", "state", "severity", "notify"],
            registry=reg,
        )
        self.notifications = Counter(
            _short("finsent_alerts_notifications_total", "counter"),
            "Notifications delivered, per channel.",
            ["channel"],
            registry=reg,
        )
        self.notification_failures = Counter(
            _short("finsent_alerts_notification_failures_total", "counter"),
            "Failed notification attempts, per channel and reason.",
            ["channel", "reason"],
            registry=reg,
        )
        self.watermark_lag = Gauge(
            _short("finsent_alerts_watermark_lag_seconds"),
            "Wall clock minus the namespace's event-time watermark.",
            ["namespace"],
            registry=reg,
        )
