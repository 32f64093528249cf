"""Shared pieces of the finsent dashboards: data sources, query builders, panels, variables.

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

SENTIMENT_FIELDS: Final[tuple[tuple[str, SeriesField], ...]] = (
    ("A", "negative"),
    ("B", "neutral"),
    ("C", "positive"),
)
SENTIMENT_COLORS: Final = {"negative": "red", "neutral": "text", "positive": "green"}


def ts_filter(**labels: str) -> str:
    """A `TS.MRANGE` filter expression; every label must be one the store writes."""
    unknown = set(labels) - set(TS_LABELS)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not written by the store")
    return " ".join(f"{name}={value}" for name, value in labels.items())


def series(
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


def ratio(
    prefix: tuple[str, str, str],
    numerator: SeriesField,
    resolution: Resolution,
    **labels: str,
) -> tuple[Target, ...]:
    """`numerator / count` of ONE series (labels must select a single series)."""
    num, den, out = prefix
    return (
        series(num, numerator, resolution, "kind", labels, hide=True),
        series(den, "count", resolution, "kind", labels, hide=True),
        MathExpression(ref_id=out, expression=f"${num} / ${den}"),
    )


def prometheus(*queries: tuple[str, str]) -> tuple[Target, ...]:
    """Prometheus targets from `(expr, legend)` pairs, with ref ids A, B, C... in order."""
    return tuple(
        PrometheusQuery(
            ref_id=chr(ord("A") + i), datasource=PROMETHEUS, expr=expr, legend_format=legend
        )
        for i, (expr, legend) in enumerate(queries)
    )


def display_name(ref_id: str, name: str, **extra: object) -> dict[str, object]:
    properties: list[dict[str, object]] = [{"id": "displayName", "value": name}]
    properties.extend({"id": key, "value": value} for key, value in extra.items())
    return {"matcher": {"id": "byFrameRefID", "options": ref_id}, "properties": properties}


def sentiment_colors() -> tuple[dict[str, object], ...]:
    return tuple(
        {
            "matcher": {"id": "byName", "options": field},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": color}}],
        }
        for field, color in SENTIMENT_COLORS.items()
    )


def timeseries(
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


def share_and_score(
    panel_id: int,
    title: str,
    pos: GridPos,
    resolution: Resolution,
    repeat: str | None,
    **labels: str,
) -> Panel:
    """Negative share (left axis) and mean score (right axis) of one series."""
    targets = (
        *ratio(("A", "B", "C"), "negative", resolution, **labels),
        series("S", "score_sum", resolution, "kind", labels, hide=True),
        MathExpression(ref_id="D", expression="$S / $B"),
    )
    return timeseries(
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
            display_name("C", "negative share", color={"mode": "fixed", "fixedColor": "red"}),
            display_name(
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


def series_variable(
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


def namespace_variable() -> Variable:
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


def alert_annotations(*extra_tags: str) -> Annotations:
    return Annotations(
        list=(
            Annotation(
                name="finsent alerts",
                target=AnnotationTarget(tags=(ALERT_TAG, "namespace:$namespace", *extra_tags)),
            ),
        )
    )


def links() -> tuple[Link, ...]:
    return (Link(title="finsent", tags=TAGS, as_dropdown=True),)


def alert_list(panel_id: int, pos: GridPos, *extra_tags: str) -> Panel:
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


def volume(panel_id: int, title: str, pos: GridPos, resolution: Resolution, **labels: str) -> Panel:
    return timeseries(
        panel_id,
        title,
        "Documents per bucket, stacked by sentiment.",
        pos,
        tuple(series(ref, field, resolution, "field", labels) for ref, field in SENTIMENT_FIELDS),
        "short",
        stacked=True,
        bars=True,
        legend=False,
        overrides=sentiment_colors(),
    )


def series_dashboard(
    uid: str,
    title: str,
    description: str,
    time_from: str,
    variable: Variable,
    panels: tuple[Panel, ...],
    *annotation_tags: str,
) -> Dashboard:
    """A dashboard over the Redis series of one namespace: the namespace picker and one
    series variable, alert annotations (narrowed by `annotation_tags`) and the finsent links."""
    return Dashboard(
        uid=uid,
        title=title,
        description=description,
        tags=TAGS,
        time=TimeRange(from_=time_from, to="now"),
        templating=Templating(list=(namespace_variable(), variable)),
        annotations=alert_annotations(*annotation_tags),
        links=links(),
        panels=panels,
    )


def movers(panel_id: int, kind: SeriesKind, description: str, pos: GridPos) -> Panel:
    """Negative documents per hour, one series per ticker or topic, biggest range first."""
    return timeseries(
        panel_id,
        f"Negative documents by {kind} (biggest movers first)",
        description,
        pos,
        (series("A", "negative", "1h", kind, {"kind": kind}),),
        "short",
        min_=0,
        sort_by="Range",
    )
