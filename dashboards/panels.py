"""The panels, variables, annotations and links the finsent dashboards share.

Built with grafana-foundation-sdk's builders over the queries of `dashboards.queries`. Every
helper returns an SDK builder, so a board can still set anything the SDK offers before the
dashboard takes it.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from grafana_foundation_sdk.builders import annotationslist
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import timeseries as timeseries_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.queries import REDIS, Target, math, ratio, series
from finsent import redis_keys
from finsent.grafana import ALERT_TAG
from finsent.redis_keys import Resolution, SeriesField
from finsent.schemas import LIVE_NAMESPACE, SeriesKind

# Grafana's own annotation store; the SDK has no constant for it.
GRAFANA: Final = common.DataSourceRef(type_val="grafana", uid="-- Grafana --")

TAGS: Final = ["finsent"]

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

Override: TypeAlias = cogbuilder.Builder[model.DashboardFieldConfigSourceOverrides]


def pos(h: int, w: int, x: int, y: int) -> model.GridPos:
    return model.GridPos(h=h, w=w, x=x, y=y)


def override(matcher: str, options: str, **properties: object) -> Override:
    """Field overrides (`properties`, by id) for the fields a matcher selects."""
    return (
        dashboard_builders.DashboardFieldConfigSourceOverrides()
        .matcher(model.MatcherConfig(id_val=matcher, options=options))
        .properties([model.DynamicConfigValue(id_val=k, value=v) for k, v in properties.items()])
    )


def display_name(ref_id: str, name: str, **extra: object) -> Override:
    return override("byFrameRefID", ref_id, displayName=name, **extra)


def fixed_color(color: str) -> dict[str, str]:
    return {"mode": "fixed", "fixedColor": color}


def sentiment_colors() -> tuple[Override, ...]:
    return tuple(
        override("byName", field, color=fixed_color(color))
        for field, color in SENTIMENT_COLORS.items()
    )


def timeseries(
    panel_id: int,
    title: str,
    description: str,
    grid: model.GridPos,
    targets: tuple[Target, ...],
    unit: str,
    *,
    datasource: common.DataSourceRef = REDIS,
    min_: float | None = None,
    max_: float | None = None,
    sort_by: str = "Max",
    stacked: bool = False,
    bars: bool = False,
    legend: bool = True,
    overrides: tuple[Override, ...] = (),
    repeat: str | None = None,
) -> timeseries_builders.Panel:
    panel = (
        timeseries_builders.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .grid_pos(grid)
        .datasource(datasource)
        .targets(list(targets))
        .unit(unit)
        .line_width(2)
        .fill_opacity(70 if stacked else 10)
        .span_nulls(True)
        .overrides(list(overrides))
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .calcs(["lastNotNull", "max", "range"])
            .sort_by(sort_by)
            .sort_desc(True)
            if legend
            else common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs([])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if min_ is not None:
        panel.min(min_)
    if max_ is not None:
        panel.max(max_)
    if stacked:
        panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL).group("A"))
    if bars:
        panel.draw_style(common.GraphDrawStyle.BARS)
    if repeat:
        panel.repeat(repeat).repeat_direction("h").max_per_row(4)
    return panel


def share_and_score(
    panel_id: int,
    title: str,
    grid: model.GridPos,
    resolution: Resolution,
    repeat: str | None,
    **labels: str,
) -> timeseries_builders.Panel:
    """Negative share (left axis) and mean score (right axis) of one series."""
    targets = (
        *ratio(("A", "B", "C"), "negative", resolution, **labels),
        series("S", "score_sum", resolution, "kind", labels, hide=True),
        math("D", "$S / $B"),
    )
    return timeseries(
        panel_id,
        title,
        "Negative share = negative / all documents (left, %); mean score = mean of "
        "P(positive) - P(negative) (right, -1 to 1), per bucket.",
        grid,
        targets,
        "percentunit",
        min_=0,
        max_=1,
        legend=False,
        overrides=(
            display_name("C", "negative share", color=fixed_color("red")),
            display_name(
                "D",
                "mean score",
                unit="none",
                min=-1,
                max=1,
                color=fixed_color("blue"),
                **{"custom.axisPlacement": "right"},
            ),
        ),
        repeat=repeat,
    )


def series_variable(
    name: str, label: str, kind: SeriesKind, *, multi: bool, all_by_default: bool = True
) -> dashboard_builders.QueryVariable:
    # The series registry holds `<kind>:<value>`; its key comes from redis_keys, and the
    # regex keeps the values of one kind.
    variable = (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .datasource(REDIS)
        .query(f"SMEMBERS {redis_keys.series_registry('$namespace')}")
        .regex(f"/^{kind}:(.+)$/")
        .description(f"{label}s with data in the namespace.")
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .multi(multi)
        .include_all(multi)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi and all_by_default:
        variable.current(model.VariableOption(text="All", value="$__all", selected=True))
    return variable


def namespace_variable() -> dashboard_builders.QueryVariable:
    # The namespace registry is a plain Redis set; its key comes from redis_keys.
    return (
        dashboard_builders.QueryVariable("namespace")
        .label("Namespace")
        .datasource(REDIS)
        .query(f"SMEMBERS {redis_keys.NAMESPACES}")
        .current(model.VariableOption(text=LIVE_NAMESPACE, value=LIVE_NAMESPACE, selected=True))
        .description("`live`, or a replay namespace such as `replay-2015`.")
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def alert_annotation(*extra_tags: str) -> dashboard_builders.AnnotationQuery:
    """Alert state changes from Grafana's annotation store, by tag."""
    return (
        dashboard_builders.AnnotationQuery()
        .name("finsent alerts")
        .datasource(GRAFANA)
        .enable(True)
        .icon_color("red")
        .target(
            dashboard_builders.AnnotationTarget()
            .type("tags")
            .tags([ALERT_TAG, "namespace:$namespace", *extra_tags])
            .match_any(False)
            .limit(200)
        )
    )


def finsent_link() -> dashboard_builders.DashboardLink:
    """A drop-down of every dashboard tagged `finsent`, keeping variables and time."""
    return (
        dashboard_builders.DashboardLink("finsent")
        .type(model.DashboardLinkType.DASHBOARDS)
        .tags(TAGS)
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )


def dashboard(
    uid: str, title: str, description: str, time_from: str, refresh: str = "1m"
) -> dashboard_builders.Dashboard:
    """A finsent dashboard without panels. `uid` is stable: provisioning and `push`
    overwrite by it."""
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time(time_from, "now")
        .refresh(refresh)
        .timezone("utc")
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .version(1)
        .link(finsent_link())
    )


def alert_list(panel_id: int, grid: model.GridPos, *extra_tags: str) -> annotationslist.Panel:
    return (
        annotationslist.Panel()
        .id(panel_id)
        .title("Alerts")
        .description("Alert state changes posted by the alerts service (newest first).")
        .grid_pos(grid)
        .only_from_this_dashboard(False)
        .only_in_time_range(True)
        .tags([ALERT_TAG, "namespace:$namespace", *extra_tags])
        .limit(20)
        .show_user(False)
        .show_time(True)
        .show_tags(True)
    )


def volume(
    panel_id: int, title: str, grid: model.GridPos, resolution: Resolution, **labels: str
) -> timeseries_builders.Panel:
    return timeseries(
        panel_id,
        title,
        "Documents per bucket, stacked by sentiment.",
        grid,
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
    variable: dashboard_builders.QueryVariable,
    *annotation_tags: str,
) -> dashboard_builders.Dashboard:
    """A dashboard over the Redis series of one namespace, panels still to add: the namespace
    picker and one series variable, alert annotations (narrowed by `annotation_tags`)."""
    return (
        dashboard(uid, title, description, time_from)
        .with_variable(namespace_variable())
        .with_variable(variable)
        .annotation(alert_annotation(*annotation_tags))
    )


def movers(
    panel_id: int, kind: SeriesKind, description: str, grid: model.GridPos
) -> timeseries_builders.Panel:
    """Negative documents per hour, one series per ticker or topic, biggest range first."""
    return timeseries(
        panel_id,
        f"Negative documents by {kind} (biggest movers first)",
        description,
        grid,
        (series("A", "negative", "1h", kind, {"kind": kind}),),
        "short",
        min_=0,
        sort_by="Range",
    )
