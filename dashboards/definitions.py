"""The four finsent dashboards, as code. `finsent dashboards generate` writes them to JSON.

Redis panels select series with `TS.MRANGE` label filters only (never key strings) and
merge model versions with `GROUPBY <label> REDUCE sum`, so a model rollout never splits a
line in two. Ratios (negative share, mean score) are server-side math expressions over two
such queries: the store keeps additive counts, which aggregate correctly over any bucket.
"""

from __future__ import annotations

from typing import Final

from dashboards import metric_names as m
from dashboards.grafana_model import (
    PROMETHEUS_DS_TYPE,
    REDIS_DS_TYPE,
    Annotation,
    Annotations,
    AnnotationTarget,
    Dashboard,
    DataSourceRef,
    FieldConfig,
    FieldDefaults,
    GridPos,
    Legend,
    Link,
    MathExpression,
    Panel,
    PanelOptions,
    PrometheusQuery,
    RedisTsQuery,
    Target,
    Templating,
    TimeRange,
    Variable,
    VariableOption,
)
from finsent import redis_keys
from finsent.redis_keys import RESOLUTION_MS, TS_LABELS, Resolution, SeriesField
from finsent.schemas import LIVE_NAMESPACE

REDIS_DS_UID: Final = "finsent-redis"
PROMETHEUS_DS_UID: Final = "finsent-prometheus"
REDIS: Final = DataSourceRef(type=REDIS_DS_TYPE, uid=REDIS_DS_UID)
PROMETHEUS: Final = DataSourceRef(type=PROMETHEUS_DS_TYPE, uid=PROMETHEUS_DS_UID)

ALERT_TAG: Final = "finsent-alert"
"""Tag on every annotation `dashboards.annotations.post_annotation` writes."""

TAGS: Final = ("finsent",)
APP_LABEL_VALUE: Final = "finsent"

UID_OVERVIEW: Final = "finsent-overview"
UID_TICKER: Final = "finsent-ticker"
UID_TOPICS: Final = "finsent-topics"
UID_PIPELINE: Final = "finsent-pipeline"

NEGATIVE_SHARE_COLORS: Final = {"mode": "continuous-GrYlRd"}


def ts_filter(**labels: str) -> str:
    """A `TS.MRANGE` filter expression; every label must be one the store writes."""
    unknown = set(labels) - set(TS_LABELS)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not written by the store")
    return " ".join(f"{name}={value}" for name, value in labels.items())


def _series(
    ref_id: str,
    field: SeriesField,
    resolution: Resolution,
    group_by: str,
    hide: bool = False,
    **labels: str,
) -> RedisTsQuery:
    """Sum of one field per `group_by` label value, bucketed at the series resolution."""
    return RedisTsQuery(
        ref_id=ref_id,
        datasource=REDIS,
        filter=ts_filter(
            app=APP_LABEL_VALUE,
            namespace="$namespace",
            field=field,
            resolution=resolution,
            **labels,
        ),
        aggregation="sum",
        bucket=str(RESOLUTION_MS[resolution]),
        legend=group_by,
        ts_group_by_label=group_by,
        ts_reducer="sum",
        hide=True if hide else None,
    )


_SENTIMENT_FIELDS: Final[tuple[tuple[str, SeriesField], ...]] = (
    ("A", "negative"),
    ("B", "neutral"),
    ("C", "positive"),
)


def _ratio(
    numerator: SeriesField, resolution: Resolution, group_by: str, **labels: str
) -> tuple[Target, ...]:
    """`numerator / count` per group, e.g. negative share or mean score."""
    return (
        _series("A", numerator, resolution, group_by, hide=True, **labels),
        _series("B", "count", resolution, group_by, hide=True, **labels),
        MathExpression(ref_id="C", expression="$A / $B"),
    )


def _timeseries(
    panel_id: int,
    title: str,
    description: str,
    pos: GridPos,
    targets: tuple[Target, ...],
    unit: str,
    *,
    min_: float | None = None,
    max_: float | None = None,
    sort_by: str = "Max",
    stacked: bool = False,
    bars: bool = False,
) -> Panel:
    custom: dict[str, object] = {"lineWidth": 2, "fillOpacity": 10, "spanNulls": True}
    if stacked:
        custom["stacking"] = {"mode": "normal", "group": "A"}
        custom["fillOpacity"] = 60
    if bars:
        custom["drawStyle"] = "bars"
    datasource = targets[0].datasource if targets else None
    return Panel(
        id=panel_id,
        type="timeseries",
        title=title,
        description=description,
        grid_pos=pos,
        datasource=datasource,
        targets=targets,
        field_config=FieldConfig(
            defaults=FieldDefaults(unit=unit, min=min_, max=max_, custom=custom)
        ),
        options=PanelOptions(
            legend=Legend(
                display_mode="table",
                placement="right",
                calcs=("lastNotNull", "max", "range"),
                sort_by=sort_by,
                sort_desc=True,
            ),
            tooltip={"mode": "multi", "sort": "desc"},
        ),
    )


def _namespace_variable() -> Variable:
    # The namespace registry is a plain Redis set; its key comes from redis_keys.
    return Variable(
        name="namespace",
        label="Namespace",
        type="query",
        datasource=REDIS,
        query=f"SMEMBERS {redis_keys.NAMESPACES}",
        current=VariableOption(text=LIVE_NAMESPACE, value=LIVE_NAMESPACE, selected=True),
        description="`live`, or a replay namespace such as `replay-2015`.",
        refresh=1,
    )


def _ticker_variable() -> Variable:
    # The series registry holds `<kind>:<value>`; the regex keeps the ticker series.
    return Variable(
        name="ticker",
        label="Ticker",
        type="query",
        datasource=REDIS,
        query=f"SMEMBERS {redis_keys.series_registry('$namespace')}",
        regex="/^ticker:(.+)$/",
        current=VariableOption(text="AAPL", value="AAPL", selected=True),
        description="Tickers with data in the namespace.",
        refresh=1,
    )


def _alert_annotations(*extra_tags: str) -> Annotations:
    return Annotations(
        list=(
            Annotation(
                name="finsent alerts",
                target=AnnotationTarget(tags=(ALERT_TAG, "namespace:$namespace", *extra_tags)),
            ),
        )
    )


def _links() -> tuple[Link, ...]:
    return (Link(title="finsent", tags=TAGS, as_dropdown=True),)


def _alert_list(panel_id: int, pos: GridPos, *extra_tags: str) -> Panel:
    return Panel(
        id=panel_id,
        type="annolist",
        title="Alerts",
        description="Alert state changes posted by the alerts service (newest first).",
        grid_pos=pos,
        options=PanelOptions(
            only_from_this_dashboard=False,
            only_in_time_range=True,
            tags=(ALERT_TAG, "namespace:$namespace", *extra_tags),
            limit=20,
            show_user=False,
            show_time=True,
            show_tags=True,
        ),
    )


def market_overview() -> Dashboard:
    """Negative share and mean score of every ticker (top movers first), volume, alerts."""
    return Dashboard(
        uid=UID_OVERVIEW,
        title="finsent · Market overview",
        description="Sentiment of every ticker in one namespace; alerts as annotations.",
        tags=TAGS,
        time=TimeRange(from_="now-7d", to="now"),
        templating=Templating(list=(_namespace_variable(),)),
        annotations=_alert_annotations(),
        links=_links(),
        panels=(
            _timeseries(
                1,
                "Negative share by ticker",
                "Negative documents / all documents per hour. Legend sorted by range "
                "(max - min), so the biggest movers come first.",
                GridPos(h=10, w=24, x=0, y=0),
                _ratio("negative", "1h", "ticker", kind="ticker"),
                "percentunit",
                min_=0,
                max_=1,
                sort_by="Range",
            ),
            _timeseries(
                2,
                "Mean sentiment score by ticker",
                "Mean of P(positive) - P(negative) per hour, -1 to 1.",
                GridPos(h=10, w=24, x=0, y=10),
                _ratio("score_sum", "1h", "ticker", kind="ticker"),
                "none",
                min_=-1,
                max_=1,
                sort_by="Range",
            ),
            _timeseries(
                3,
                "Document volume by sentiment",
                "Documents per hour across all tickers, stacked by sentiment.",
                GridPos(h=8, w=16, x=0, y=20),
                tuple(
                    _series(ref, field, "1h", "field", kind="all")
                    for ref, field in _SENTIMENT_FIELDS
                ),
                "short",
                stacked=True,
                bars=True,
                sort_by="Max",
            ),
            _alert_list(4, GridPos(h=8, w=8, x=16, y=20)),
        ),
    )


def ticker_drilldown() -> Dashboard:
    """One ticker: sentiment, volume, topic mix, evidence link and alerts."""
    evidence_md = (
        "Evidence documents (the most negative headlines of each hour, with links) are "
        "shown by the built-in web view: open **finsent web** and click `$ticker`, or "
        "call `GET /api/v1/namespaces/$namespace/tickers/$ticker/evidence`."
    )
    return Dashboard(
        uid=UID_TICKER,
        title="finsent · Ticker drill-down",
        description="Sentiment, volume, topic mix and alerts of one ticker.",
        tags=TAGS,
        time=TimeRange(from_="now-24h", to="now"),
        templating=Templating(list=(_namespace_variable(), _ticker_variable())),
        annotations=_alert_annotations("ticker:$ticker"),
        links=_links(),
        panels=(
            _timeseries(
                1,
                "Negative share · $ticker",
                "Negative documents / all documents per minute.",
                GridPos(h=9, w=12, x=0, y=0),
                _ratio("negative", "1m", "ticker", kind="ticker", ticker="$ticker"),
                "percentunit",
                min_=0,
                max_=1,
            ),
            _timeseries(
                2,
                "Mean sentiment score · $ticker",
                "Mean of P(positive) - P(negative) per minute.",
                GridPos(h=9, w=12, x=12, y=0),
                _ratio("score_sum", "1m", "ticker", kind="ticker", ticker="$ticker"),
                "none",
                min_=-1,
                max_=1,
            ),
            _timeseries(
                3,
                "Volume by sentiment · $ticker",
                "Documents per minute mentioning the ticker, stacked by sentiment.",
                GridPos(h=8, w=12, x=0, y=9),
                tuple(
                    _series(ref, field, "1m", "field", kind="ticker", ticker="$ticker")
                    for ref, field in _SENTIMENT_FIELDS
                ),
                "short",
                stacked=True,
                bars=True,
            ),
            Panel(
                id=4,
                type="barchart",
                title="Topic mix",
                description="Documents per topic in the time range, across all tickers of "
                "the namespace (the store keeps topic series per namespace, not per ticker).",
                grid_pos=GridPos(h=8, w=12, x=12, y=9),
                datasource=REDIS,
                targets=(_series("A", "count", "1h", "topic", kind="topic"),),
                transformations=(),
                options=PanelOptions(
                    legend=Legend(display_mode="hidden", show_legend=False),
                    reduce_options={"calcs": ["sum"], "values": False},
                ),
            ),
            Panel(
                id=5,
                type="text",
                title="Evidence documents",
                grid_pos=GridPos(h=8, w=12, x=0, y=17),
                options=PanelOptions(mode="markdown", content=evidence_md),
            ),
            _alert_list(6, GridPos(h=8, w=12, x=12, y=17), "ticker:$ticker"),
        ),
    )


def topics() -> Dashboard:
    """Sentiment by topic over time."""
    return Dashboard(
        uid=UID_TOPICS,
        title="finsent · Topics",
        description="Negative share, mean score and volume of each of the 20 topics.",
        tags=TAGS,
        time=TimeRange(from_="now-7d", to="now"),
        templating=Templating(list=(_namespace_variable(),)),
        annotations=_alert_annotations(),
        links=_links(),
        panels=(
            _timeseries(
                1,
                "Negative share by topic",
                "Negative documents / all documents per hour and topic.",
                GridPos(h=10, w=24, x=0, y=0),
                _ratio("negative", "1h", "topic", kind="topic"),
                "percentunit",
                min_=0,
                max_=1,
                sort_by="Range",
            ),
            _timeseries(
                2,
                "Mean sentiment score by topic",
                "Mean of P(positive) - P(negative) per hour and topic.",
                GridPos(h=10, w=24, x=0, y=10),
                _ratio("score_sum", "1h", "topic", kind="topic"),
                "none",
                min_=-1,
                max_=1,
                sort_by="Range",
            ),
            _timeseries(
                3,
                "Volume by topic",
                "Documents per hour and topic, stacked.",
                GridPos(h=9, w=24, x=0, y=20),
                (_series("A", "count", "1h", "topic", kind="topic"),),
                "short",
                stacked=True,
            ),
        ),
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


def pipeline_health() -> Dashboard:
    """Throughput, dead letters, lag, batch sizes and latency, from Prometheus."""
    return Dashboard(
        uid=UID_PIPELINE,
        title="finsent · Pipeline health",
        description="Service metrics scraped by Prometheus from every finsent service.",
        tags=TAGS,
        time=TimeRange(from_="now-3h", to="now"),
        refresh="30s",
        links=_links(),
        panels=(
            _timeseries(
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
                        expr=f"sum({_rate(m.ALERTS_FIRED)})",
                        legend_format="alerts fired",
                    ),
                ),
                "ops",
            ),
            _timeseries(
                2,
                "Dead letters by reason",
                "Messages sent to the DLQ per second; any sustained rate is a bad deploy or a bad feed.",
                GridPos(h=8, w=12, x=12, y=0),
                (
                    PrometheusQuery(
                        ref_id="A",
                        datasource=PROMETHEUS,
                        expr=f"sum by (reason) ({_rate(m.INFERENCE_DLQ)})",
                        legend_format="{{reason}}",
                    ),
                ),
                "ops",
            ),
            _timeseries(
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
            _timeseries(
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
            _timeseries(
                5,
                "Batch size (documents)",
                "Documents per model batch.",
                GridPos(h=8, w=8, x=0, y=16),
                _quantiles(m.BATCH_SIZE),
                "short",
                min_=0,
            ),
            _timeseries(
                6,
                "Batch tokens",
                "Padded tokens per model batch (the batching budget).",
                GridPos(h=8, w=8, x=8, y=16),
                _quantiles(m.BATCH_TOKENS),
                "short",
                min_=0,
            ),
            _timeseries(
                7,
                "Model latency",
                "One forward pass of a batch.",
                GridPos(h=8, w=8, x=16, y=16),
                _quantiles(m.MODEL_LATENCY),
                "s",
                min_=0,
            ),
            _timeseries(
                8,
                "End-to-end latency",
                "From ingest to the scored document written to Redis.",
                GridPos(h=8, w=24, x=0, y=24),
                _quantiles(m.END_TO_END_LATENCY),
                "s",
                min_=0,
            ),
        ),
    )


def all_dashboards() -> tuple[Dashboard, ...]:
    """Every dashboard, in navigation order."""
    return (market_overview(), ticker_drilldown(), topics(), pipeline_health())
