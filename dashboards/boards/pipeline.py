"""The pipeline health dashboard: the services' own metrics from Prometheus."""

from __future__ import annotations

from functools import partial
from typing import Final

from grafana_foundation_sdk.builders.timeseries import Panel
from grafana_foundation_sdk.models.dashboard import Dashboard, GridPos

from dashboards import metric_names as m
from dashboards.panels import UID_PIPELINE, dashboard, override, pos, timeseries
from dashboards.queries import PROMETHEUS, Target, prometheus


def _rate(expr: str, window: str = "$__rate_interval") -> str:
    return f"rate({expr}[{window}])"


def _quantiles(metric: m.MetricName, by: str = "") -> tuple[Target, ...]:
    group = f"le{', ' + by if by else ''}"
    return prometheus(
        *(
            (
                f"histogram_quantile({q}, sum by ({group}) ({_rate(metric + '_bucket')}))",
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        )
    )


def _quantile_panel(
    panel_id: int, title: str, description: str, grid: GridPos, metric: m.MetricName, unit: str
) -> Panel:
    """p50, p95 and p99 of one histogram."""
    return _timeseries(panel_id, title, description, grid, _quantiles(metric), unit, min_=0)


_LATENCY_PANELS: Final[tuple[tuple[int, str, str, GridPos, m.MetricName, str], ...]] = (
    (
        5,
        "Batch size (documents)",
        "Documents per model batch.",
        pos(8, 8, 0, 16),
        m.BATCH_SIZE,
        "short",
    ),
    (
        6,
        "Batch tokens",
        "Padded tokens per model batch (the batching budget).",
        pos(8, 8, 8, 16),
        m.BATCH_TOKENS,
        "short",
    ),
    (
        7,
        "Model latency",
        "One forward pass of a batch.",
        pos(8, 8, 16, 16),
        m.MODEL_LATENCY,
        "s",
    ),
    (
        8,
        "End-to-end latency",
        "From ingest to the scored document written to Redis.",
        pos(8, 12, 0, 24),
        m.END_TO_END_LATENCY,
        "s",
    ),
)
"""The histogram panels, p50/p95/p99 each: id, title, description, position, metric, unit."""

_timeseries: Final = partial(timeseries, datasource=PROMETHEUS)
_FIRING: Final = m.ALERT_STATE_CHANGES + '{state="firing"}'


def pipeline_health() -> Dashboard:
    """Throughput, dead letters, lag, batch sizes and latency, from Prometheus."""
    board = dashboard(
        UID_PIPELINE,
        "finsent · Pipeline health",
        "Service metrics scraped by Prometheus from every finsent service.",
        "now-3h",
        refresh="30s",
    )
    for panel in (
        _timeseries(
            1,
            "Throughput",
            "Documents per second: ingested (by source and outcome) and scored.",
            pos(8, 12, 0, 0),
            prometheus(
                (
                    f"sum by (source, outcome) ({_rate(m.INGEST_DOCUMENTS)})",
                    "ingest {{source}} {{outcome}}",
                ),
                (f"sum({_rate(m.INFERENCE_DOCUMENTS)})", "scored"),
                (f"sum({_rate(_FIRING)})", "alerts fired"),
            ),
            "ops",
        ),
        _timeseries(
            2,
            "Dead letters by reason",
            "Messages sent to the DLQ per second; any sustained rate is a bad deploy or a bad feed.",
            pos(8, 12, 12, 0),
            prometheus(
                (f"sum by (reason) ({_rate(m.INFERENCE_DLQ)})", "inference: {{reason}}"),
                (f"sum by (reason) ({_rate(m.INGEST_DEAD_LETTERS)})", "ingest: {{reason}}"),
            ),
            "ops",
        ),
        _timeseries(
            3,
            "Consumer lag (seconds)",
            "Event-time lag of the inference consumer per partition.",
            pos(8, 12, 0, 8),
            prometheus((f"max by (partition) ({m.LAG_SECONDS})", "partition {{partition}}")),
            "s",
            min_=0,
        ),
        _timeseries(
            4,
            "Consumer lag (messages)",
            "Messages behind the log end per partition.",
            pos(8, 12, 12, 8),
            prometheus((f"sum by (partition) ({m.LAG_MESSAGES})", "partition {{partition}}")),
            "short",
            min_=0,
        ),
        *(_quantile_panel(*panel) for panel in _LATENCY_PANELS),
        _timeseries(
            10,
            "Alerting: event-time lag and notification failures",
            "Wall clock minus each namespace's newest event as the alerts service sees it "
            "(live should stay small), and failed notification attempts per second.",
            pos(8, 24, 0, 32),
            prometheus(
                (
                    f'max by (namespace) ({m.ALERT_WATERMARK_LAG}{{namespace="live"}})',
                    "watermark lag {{namespace}}",
                ),
                (
                    f"sum by (channel, reason) ({_rate(m.ALERT_NOTIFICATION_FAILURES)})",
                    "failures {{channel}} {{reason}}",
                ),
            ),
            "s",
            min_=0,
            overrides=(
                override("byFrameRefID", "B", unit="ops", **{"custom.axisPlacement": "right"}),
            ),
        ),
        _timeseries(
            9,
            "Web view requests",
            "Requests per second to the built-in web view, by route and status.",
            pos(8, 12, 12, 24),
            prometheus(
                (f"sum by (route, status) ({_rate(m.WEB_REQUESTS)})", "{{route}} {{status}}")
            ),
            "reqps",
            min_=0,
        ),
        _timeseries(
            11,
            "Push API requests by client",
            "Requests per second to POST /v1/documents, by client (its token's name) and "
            "status: a runaway client shows as its own 429s, a broken one as its own 4xx.",
            pos(8, 24, 0, 40),
            prometheus(
                (
                    f"sum by (client, status) ({_rate(m.INGEST_PUSH_REQUESTS)})",
                    "{{client}} {{status}}",
                )
            ),
            "reqps",
            min_=0,
        ),
    ):
        board.with_panel(panel)
    return board.build()
