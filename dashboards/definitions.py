"""The four finsent dashboards, as code. `finsent dashboards generate` writes them to JSON.

Redis panels select series with `TS.MRANGE` label filters only (never key strings). The
store keeps additive counts (`count`, `negative`, ..., `score_sum`), which aggregate
correctly over any bucket; ratios are Grafana server-side math expressions (`$A / $B`).

Every query groups by the label it names its series after (`GROUPBY <legend> REDUCE sum`,
plugin 2.2.0): the store keeps one series per model version, so during a rollout two
versions' counts add up into one line instead of splitting a panel. The plugin drops series
labels when a legend label is set, so a math expression can still only pair *one* series
with one series: ratios are drawn per ticker or topic in repeated panels (one per variable
value) and for the whole market; multi-series panels show counts, with legends sorted by
range so the biggest movers come first. The built-in web view ranks tickers by their move
directly.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    Transformation,
    Variable,
    VariableOption,
)
from finsent import redis_keys
from finsent.grafana import ALERT_TAG
from finsent.redis_keys import RESOLUTION_MS, TS_LABELS, Resolution, SeriesField
from finsent.schemas import LIVE_NAMESPACE, SeriesKind

REDIS_DS_UID: Final = "finsent-redis"
PROMETHEUS_DS_UID: Final = "finsent-prometheus"
REDIS: Final = DataSourceRef(type=REDIS_DS_TYPE, uid=REDIS_DS_UID)
PROMETHEUS: Final = DataSourceRef(type=PROMETHEUS_DS_TYPE, uid=PROMETHEUS_DS_UID)

"""Tag on every annotation `dashboards.annotations.post_annotation` writes."""

TAGS: Final = ("finsent",)
APP_LABEL_VALUE: Final = "finsent"

UID_OVERVIEW: Final = "finsent-overview"
UID_TICKER: Final = "finsent-ticker"
UID_TOPICS: Final = "finsent-topics"
UID_PIPELINE: Final = "finsent-pipeline"

_SENTIMENT_FIELDS: Final[tuple[tuple[str, SeriesField], ...]] = (
    ("A", "negative"),
    ("B", "neutral"),
    ("C", "positive"),
)
_SENTIMENT_COLORS: Final = {"negative": "red", "neutral": "text", "positive": "green"}


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
    legend: str,
    labels: Mapping[str, str],
    hide: bool = False,
) -> RedisTsQuery:
    """Sum of one field per bucket of the series resolution, one series per `legend` value.

    Grouped by the legend label, so series that differ only in `model` (a rollout) add up.
    """
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
        bucket=RESOLUTION_MS[resolution],
        legend=legend,
        ts_group_by_label=legend,
        ts_reducer="sum",
        hide=True if hide else None,
    )


def _ratio(
    prefix: tuple[str, str, str],
    numerator: SeriesField,
    resolution: Resolution,
    **labels: str,
) -> tuple[Target, ...]:
    """`numerator / count` of ONE series (labels must select a single series)."""
    num, den, out = prefix
    return (
        _series(num, numerator, resolution, "kind", labels, hide=True),
        _series(den, "count", resolution, "kind", labels, hide=True),
        MathExpression(ref_id=out, expression=f"${num} / ${den}"),
    )


def _display_name(ref_id: str, name: str, **extra: object) -> dict[str, object]:
    properties: list[dict[str, object]] = [{"id": "displayName", "value": name}]
    properties.extend({"id": key, "value": value} for key, value in extra.items())
    return {"matcher": {"id": "byFrameRefID", "options": ref_id}, "properties": properties}


def _sentiment_colors() -> tuple[dict[str, object], ...]:
    return tuple(
        {
            "matcher": {"id": "byName", "options": field},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
        }
        for field, color in _SENTIMENT_COLORS.items()
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
    legend: bool = True,
    overrides: tuple[dict[str, object], ...] = (),
    repeat: str | None = None,
) -> Panel:
    custom: dict[str, object] = {"lineWidth": 2, "fillOpacity": 10, "spanNulls": True}
    if stacked:
        custom["stacking"] = {"mode": "normal", "group": "A"}
        custom["fillOpacity"] = 70
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
            defaults=FieldDefaults(unit=unit, min=min_, max=max_, custom=custom),
            overrides=overrides,
        ),
        options=PanelOptions(
            legend=Legend(
                display_mode="table",
                placement="right",
                calcs=("lastNotNull", "max", "range"),
                sort_by=sort_by,
                sort_desc=True,
            )
            if legend
            else Legend(display_mode="list", placement="bottom"),
            tooltip={"mode": "multi", "sort": "desc"},
        ),
        repeat=repeat,
        repeat_direction="h" if repeat else None,
        max_per_row=4 if repeat else None,
    )


def _share_and_score(
    panel_id: int,
    title: str,
    pos: GridPos,
    resolution: Resolution,
    repeat: str | None,
    **labels: str,
) -> Panel:
    """Negative share (left axis) and mean score (right axis) of one series."""
    targets = (
        *_ratio(("A", "B", "C"), "negative", resolution, **labels),
        _series("S", "score_sum", resolution, "kind", labels, hide=True),
        MathExpression(ref_id="D", expression="$S / $B"),
    )
    return _timeseries(
        panel_id,
        title,
        "Negative share = negative / all documents (left, %); mean score = mean of "
        "P(positive) - P(negative) (right, -1 to 1), per bucket.",
        pos,
        targets,
        "percentunit",
        min_=0,
        max_=1,
        legend=False,
        overrides=(
            _display_name("C", "negative share", color={"mode": "fixed", "fixedColor": "red"}),
            _display_name(
                "D",
                "mean score",
                unit="none",
                min=-1,
                max=1,
                color={"mode": "fixed", "fixedColor": "blue"},
                **{"custom.axisPlacement": "right"},
            ),
        ),
        repeat=repeat,
    )


def _series_variable(
    name: str, label: str, kind: SeriesKind, *, multi: bool, all_by_default: bool = True
) -> Variable:
    # The series registry holds `<kind>:<value>`; its key comes from redis_keys, and the
    # regex keeps the values of one kind.
    return Variable(
        name=name,
        label=label,
        type="query",
        datasource=REDIS,
        query=f"SMEMBERS {redis_keys.series_registry('$namespace')}",
        regex=f"/^{kind}:(.+)$/",
        current=(
            VariableOption(text="All", value="$__all", selected=True)
            if multi and all_by_default
            else None
        ),
        description=f"{label}s with data in the namespace.",
        refresh=1,
        multi=multi,
        include_all=multi,
        sort=1,
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
        sort=1,
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


def _volume(
    panel_id: int, title: str, pos: GridPos, resolution: Resolution, **labels: str
) -> Panel:
    return _timeseries(
        panel_id,
        title,
        "Documents per bucket, stacked by sentiment.",
        pos,
        tuple(_series(ref, field, resolution, "field", labels) for ref, field in _SENTIMENT_FIELDS),
        "short",
        stacked=True,
        bars=True,
        legend=False,
        overrides=_sentiment_colors(),
    )


def market_overview() -> Dashboard:
    """Market sentiment, tickers by negative volume (movers first), one panel per ticker."""
    return Dashboard(
        uid=UID_OVERVIEW,
        title="finsent · Market overview",
        description="Sentiment of every ticker in one namespace; alerts as annotations.",
        tags=TAGS,
        time=TimeRange(from_="now-7d", to="now"),
        templating=Templating(
            list=(
                _namespace_variable(),
                _series_variable("ticker", "Ticker", "ticker", multi=True, all_by_default=False),
            )
        ),
        annotations=_alert_annotations(),
        links=_links(),
        panels=(
            _share_and_score(
                1,
                "Market · negative share and mean score",
                GridPos(h=8, w=16, x=0, y=0),
                "1h",
                None,
                kind="all",
            ),
            _alert_list(2, GridPos(h=8, w=8, x=16, y=0)),
            _timeseries(
                3,
                "Negative documents by ticker (biggest movers first)",
                "Negative documents per hour. The legend is sorted by range (max - min): the "
                "tickers that moved most come first. Click a name to isolate it.",
                GridPos(h=9, w=16, x=0, y=8),
                (_series("A", "negative", "1h", "ticker", {"kind": "ticker"}),),
                "short",
                min_=0,
                sort_by="Range",
            ),
            _volume(
                4, "Document volume by sentiment", GridPos(h=9, w=8, x=16, y=8), "1h", kind="all"
            ),
            # Collapsed: a namespace may hold hundreds of tickers, one panel each.
            Panel(
                id=5,
                type="row",
                title="Per ticker: negative share and mean score (pick tickers above)",
                grid_pos=GridPos(h=1, w=24, x=0, y=17),
                collapsed=True,
                panels=(
                    _share_and_score(
                        6,
                        "$ticker",
                        GridPos(h=7, w=6, x=0, y=18),
                        "1h",
                        "ticker",
                        kind="ticker",
                        ticker="$ticker",
                    ),
                ),
            ),
        ),
    )


def ticker_drilldown() -> Dashboard:
    """One ticker: sentiment against the market, volume, topic mix, evidence and alerts."""
    evidence_md = (
        "Evidence documents (the most negative headlines of each hour, with links) are "
        "shown by the built-in web view: open **finsent web** and click `$ticker`, or "
        "call `GET /api/v1/namespaces/$namespace/tickers/$ticker/evidence`."
    )
    ticker = {"kind": "ticker", "ticker": "$ticker"}
    return Dashboard(
        uid=UID_TICKER,
        title="finsent · Ticker drill-down",
        description="Sentiment, volume, topic mix and alerts of one ticker.",
        tags=TAGS,
        time=TimeRange(from_="now-24h", to="now"),
        templating=Templating(
            list=(
                _namespace_variable(),
                _series_variable("ticker", "Ticker", "ticker", multi=False),
            )
        ),
        annotations=_alert_annotations("ticker:$ticker"),
        links=_links(),
        panels=(
            _timeseries(
                1,
                "Negative share · $ticker vs market",
                "Negative documents / all documents per minute.",
                GridPos(h=9, w=12, x=0, y=0),
                (
                    *_ratio(("A", "B", "C"), "negative", "1m", **ticker),
                    *_ratio(("D", "E", "F"), "negative", "1m", kind="all"),
                ),
                "percentunit",
                min_=0,
                max_=1,
                legend=False,
                overrides=(_display_name("C", "$ticker"), _display_name("F", "market")),
            ),
            _timeseries(
                2,
                "Mean sentiment score · $ticker vs market",
                "Mean of P(positive) - P(negative) per minute, -1 to 1.",
                GridPos(h=9, w=12, x=12, y=0),
                (
                    *_ratio(("A", "B", "C"), "score_sum", "1m", **ticker),
                    *_ratio(("D", "E", "F"), "score_sum", "1m", kind="all"),
                ),
                "none",
                min_=-1,
                max_=1,
                legend=False,
                overrides=(_display_name("C", "$ticker"), _display_name("F", "market")),
            ),
            _volume(
                3, "Volume by sentiment · $ticker", GridPos(h=8, w=12, x=0, y=9), "1m", **ticker
            ),
            Panel(
                id=4,
                type="bargauge",
                title="Topic mix (namespace)",
                description="Documents per topic in the time range across the namespace: the "
                "store keeps topic series per namespace, not per ticker.",
                grid_pos=GridPos(h=8, w=12, x=12, y=9),
                datasource=REDIS,
                targets=(_series("A", "count", "1h", "topic", {"kind": "topic"}),),
                options=PanelOptions(
                    # Each row (topic) is a bar; the reduce transformation already summed.
                    reduce_options={"calcs": [], "values": True, "fields": "/^Total$/"},
                    orientation="horizontal",
                    display_mode="gradient",
                ),
                field_config=FieldConfig(defaults=FieldDefaults(unit="short", min=0)),
                # One row per topic with its total first (`reduce`), then sort rows by it:
                # `sortBy` on the raw time series would sort timestamps, not topics.
                transformations=(
                    Transformation(
                        id="reduce",
                        options={
                            "mode": "seriesToRows",
                            "reducers": ["sum"],
                            "labelsToFields": False,
                        },
                    ),
                    Transformation(
                        id="sortBy", options={"sort": [{"field": "Total", "desc": True}]}
                    ),
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
        description="Volume, negative volume, negative share and mean score of each topic.",
        tags=TAGS,
        time=TimeRange(from_="now-7d", to="now"),
        templating=Templating(
            list=(_namespace_variable(), _series_variable("topic", "Topic", "topic", multi=True))
        ),
        annotations=_alert_annotations(),
        links=_links(),
        panels=(
            _timeseries(
                1,
                "Negative documents by topic (biggest movers first)",
                "Negative documents per hour and topic; legend sorted by range.",
                GridPos(h=9, w=12, x=0, y=0),
                (_series("A", "negative", "1h", "topic", {"kind": "topic"}),),
                "short",
                min_=0,
                sort_by="Range",
            ),
            _timeseries(
                2,
                "Volume by topic",
                "Documents per hour and topic, stacked.",
                GridPos(h=9, w=12, x=12, y=0),
                (_series("A", "count", "1h", "topic", {"kind": "topic"}),),
                "short",
                stacked=True,
            ),
            _share_and_score(
                3,
                "$topic",
                GridPos(h=7, w=6, x=0, y=9),
                "1h",
                "topic",
                kind="topic",
                topic="$topic",
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
                        expr=f"sum({_rate(_FIRING)})",
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
                GridPos(h=8, w=12, x=0, y=24),
                _quantiles(m.END_TO_END_LATENCY),
                "s",
                min_=0,
            ),
            _timeseries(
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
            _timeseries(
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


def all_dashboards() -> tuple[Dashboard, ...]:
    """Every dashboard, in navigation order."""
    return (market_overview(), ticker_drilldown(), topics(), pipeline_health())
