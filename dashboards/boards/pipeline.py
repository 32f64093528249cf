"""The pipeline health dashboard: the services' own metrics from Prometheus."""

from __future__ import annotations

from typing import Final

from dashboards import metric_names as m
from dashboards.grafana_model import Dashboard, GridPos, Panel, Target, TimeRange
from dashboards.panels import TAGS, UID_PIPELINE, links, prometheus, timeseries


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
    panel_id: int, title: str, description: str, pos: GridPos, metric: m.MetricName, unit: str
) -> Panel:
    """p50, p95 and p99 of one histogram."""
    return timeseries(panel_id, title, description, pos, _quantiles(metric), unit, min_=0)


_LATENCY_PANELS: Final[tuple[tuple[int, str, str, GridPos, m.MetricName, str], ...]] = (
    (
        5,
        "Batch size (documents)",
        "Documents per model batch.",
        GridPos(h=8, w=8, x=0, y=16),
        m.BATCH_SIZE,
        "short",
    ),
    (
        6,
        "Batch tokens",
        "Padded tokens per model batch (the batching budget).",
        GridPos(h=8, w=8, x=8, y=16),
        m.BATCH_TOKENS,
        "short",
    ),
    (
        7,
        "Model latency",
        "One forward pass of a batch.",
        GridPos(h=8, w=8, x=16, y=16),
        m.MODEL_LATENCY,
        "s",
    ),
    (
        8,
        "End-to-end latency",
        "From ingest to the scored document written to Redis.",
        GridPos(h=8, w=12, x=0, y=24),
        m.END_TO_END_LATENCY,
        "s",
    ),
)
"""The histogram panels, p50/p95/p99 each: id, title, description, position, metric, unit."""

_FIRING: Final = m.ALERT_STATE_CHANGES + '{state="firing"}'


def pipeline_health() -> Dashboard:
    """Throughput, dead letters, lag, batch sizes and latency, from Prometheus."""
    return Dashboard(
        uid=UID_PIPELINE,
        title="finsent · Pipeline health",
        description="Service metrics scraped by Prometheus from every finsent service.",
        tags=TAGS,
        time=TimeRange(from_="now-3h", to="now"),
        refresh="30s",
        links=links(),
        panels=(
            timeseries(
                1,
                "Throughput",
                "Documents per second: ingested (by source and outcome) and scored.",
                GridPos(h=8, w=12, x=0, y=0),
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
            timeseries(
                2,
                "Dead letters by reason",
                "Messages sent to the DLQ per second; any sustained rate is a bad deploy or a bad feed.",
                GridPos(h=8, w=12, x=12, y=0),
                prometheus(
                    (f"sum by (reason) ({_rate(m.INFERENCE_DLQ)})", "inference: {{reason}}"),
                    (f"sum by (reason) ({_rate(m.INGEST_DEAD_LETTERS)})", "ingest: {{reason}}"),
                ),
                "ops",
            ),
            timeseries(
                3,
                "Consumer lag (seconds)",
                "Event-time lag of the inference consumer per partition.",
                GridPos(h=8, w=12, x=0, y=8),
                prometheus((f"max by (partition) ({m.LAG_SECONDS})", "partition {{partition}}")),
                "s",
                min_=0,
            ),
            timeseries(
                4,
                "Consumer lag (messages)",
                "Messages behind the log end per partition.",
                GridPos(h=8, w=12, x=12, y=8),
                prometheus((f"sum by (partition) ({m.LAG_MESSAGES})", "partition {{partition}}")),
                "short",
                min_=0,
            ),
            *(_quantile_panel(*panel) for panel in _LATENCY_PANELS),
            timeseries(
                10,
                "Alerting: event-time lag and notification failures",
                "Wall clock minus each namespace's newest event as the alerts service sees it "
                "(live should stay small), and failed notification attempts per second.",
                GridPos(h=8, w=24, x=0, y=32),
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
                    {
                        "matcher": {"id": "byFrameRefID", "options": "B"},
                        "properties": [
                            {"id": "unit", "value": "ops"},
                            {"id": "custom.axisPlacement", "value": "right"},
                        ],
                    },
                ),
            ),
            timeseries(
                9,
                "Web view requests",
                "Requests per second to the built-in web view, by route and status.",
                GridPos(h=8, w=12, x=12, y=24),
                prometheus(
                    (f"sum by (route, status) ({_rate(m.WEB_REQUESTS)})", "{{route}} {{status}}")
                ),
                "reqps",
                min_=0,
            ),
        ),
    )
