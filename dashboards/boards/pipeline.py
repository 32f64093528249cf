"""The pipeline health dashboard: the services' own metrics from Prometheus."""

from __future__ import annotations

from typing import Final

from dashboards import metric_names as m
from dashboards.grafana_model import (
    Dashboard,
    GridPos,
    PrometheusQuery,
    Target,
    TimeRange,
)
from dashboards.panels import (
    PROMETHEUS,
    TAGS,
    UID_PIPELINE,
    links,
    timeseries,
)


def _rate(expr: str, window: str = "$__rate_interval") -> str:
    return f"rate({expr}[{window}])"


def _quantiles(metric: m.MetricName, by: str = "") -> tuple[Target, ...]:
    group = f"le{', ' + by if by else ''}"
    return tuple(
        PrometheusQuery(
            ref_id=ref,
            datasource=PROMETHEUS,
            expr=f"histogram_quantile({q}, sum by ({group}) ({_rate(metric + '_bucket')}))",
            legend_format=f"p{int(q * 100)}",
        )
        for ref, q in (("A", 0.5), ("B", 0.95), ("C", 0.99))
    )


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
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f"sum by (source, outcome) ({_rate(m.INGEST_DOCUMENTS)})",
                        legend_format="ingest {{source}} {{outcome}}",
                    ),
                    PrometheusQuery(
                        ref_id="B",
                        datasource=PROMETHEUS,
                        expr=f"sum({_rate(m.INFERENCE_DOCUMENTS)})",
                        legend_format="scored",
                    ),
                    PrometheusQuery(
                        ref_id="C",
                        datasource=PROMETHEUS,
                        expr=f"sum({_rate(_FIRING)})",
                        legend_format="alerts fired",
                    ),
                ),
                "ops",
            ),
            timeseries(
                2,
                "Dead letters by reason",
                "Messages sent to the DLQ per second; any sustained rate is a bad deploy or a bad feed.",
                GridPos(h=8, w=12, x=12, y=0),
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f"sum by (reason) ({_rate(m.INFERENCE_DLQ)})",
                        legend_format="inference: {{reason}}",
                    ),
                    PrometheusQuery(
                        ref_id="B",
                        datasource=PROMETHEUS,
                        expr=f"sum by (reason) ({_rate(m.INGEST_DEAD_LETTERS)})",
                        legend_format="ingest: {{reason}}",
                    ),
                ),
                "ops",
            ),
            timeseries(
                3,
                "Consumer lag (seconds)",
                "Event-time lag of the inference consumer per partition.",
                GridPos(h=8, w=12, x=0, y=8),
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f"max by (partition) ({m.LAG_SECONDS})",
                        legend_format="partition {{partition}}",
                    ),
                ),
                "s",
                min_=0,
            ),
            timeseries(
                4,
                "Consumer lag (messages)",
                "Messages behind the log end per partition.",
                GridPos(h=8, w=12, x=12, y=8),
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f"sum by (partition) ({m.LAG_MESSAGES})",
                        legend_format="partition {{partition}}",
                    ),
                ),
                "short",
                min_=0,
            ),
            timeseries(
                5,
                "Batch size (documents)",
                "Documents per model batch.",
                GridPos(h=8, w=8, x=0, y=16),
                _quantiles(m.BATCH_SIZE),
                "short",
                min_=0,
            ),
            timeseries(
                6,
                "Batch tokens",
                "Padded tokens per model batch (the batching budget).",
                GridPos(h=8, w=8, x=8, y=16),
                _quantiles(m.BATCH_TOKENS),
                "short",
                min_=0,
            ),
            timeseries(
                7,
                "Model latency",
                "One forward pass of a batch.",
                GridPos(h=8, w=8, x=16, y=16),
                _quantiles(m.MODEL_LATENCY),
                "s",
                min_=0,
            ),
            timeseries(
                8,
                "End-to-end latency",
                "From ingest to the scored document written to Redis.",
                GridPos(h=8, w=12, x=0, y=24),
                _quantiles(m.END_TO_END_LATENCY),
                "s",
                min_=0,
            ),
            timeseries(
                10,
                "Alerting: event-time lag and notification failures",
                "Wall clock minus each namespace's newest event as the alerts service sees it "
                "(live should stay small), and failed notification attempts per second.",
                GridPos(h=8, w=24, x=0, y=32),
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f'max by (namespace) ({m.ALERT_WATERMARK_LAG}{{namespace="live"}})',
                        legend_format="watermark lag {{namespace}}",
                    ),
                    PrometheusQuery(
                        ref_id="B",
                        datasource=PROMETHEUS,
                        expr=f"sum by (channel, reason) ({_rate(m.ALERT_NOTIFICATION_FAILURES)})",
                        legend_format="failures {{channel}} {{reason}}",
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
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f"sum by (route, status) ({_rate(m.WEB_REQUESTS)})",
                        legend_format="{{route}} {{status}}",
                    ),
                ),
                "reqps",
                min_=0,
            ),
        ),
    )
