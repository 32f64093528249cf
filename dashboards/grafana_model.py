"""Typed builders for the parts of Grafana's dashboard JSON model finsent uses.

Plain pydantic models rather than grafana-foundation-sdk: the SDK has no typed query for
the Redis data source (`redis-datasource`), which most of our panels use, so we would
fall back to untyped dicts exactly where types help most. Field names are snake_case
here and camelCase in the JSON (`by_alias`), as Grafana expects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

REDIS_DS_TYPE = "redis-datasource"
PROMETHEUS_DS_TYPE = "prometheus"
GRAFANA_DS_TYPE = "grafana"  # the built-in source of annotations
SCHEMA_VERSION = 41  # Grafana 12's dashboard schema (compose runs grafana/grafana:12.2)


class GrafanaModel(BaseModel):
    """Base: frozen, camelCase aliases, `None` fields left out of the JSON."""

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid"
    )

    def to_json_dict(self) -> dict[str, Any]:
        """The dict Grafana reads: camelCase keys, unset optionals omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class DataSourceRef(GrafanaModel):
    type: str
    uid: str


class RedisTsQuery(GrafanaModel):
    """A `TS.MRANGE` query of the Redis data source, selecting series by labels only.

    Mirrors the plugin's query model (`pkg/types.go` of RedisGrafana/grafana-redis-datasource,
    2.2.0): the backend runs `TS.MRANGE from to AGGREGATION <aggregation> <bucket> WITHLABELS
    FILTER <filter> [GROUPBY <ts_group_by_label> REDUCE <ts_reducer>]`. `filter` is a
    RedisTimeSeries filter expression (`label=value ...`); `legend` names the label whose
    value becomes the series name (the plugin then drops the labels). GROUPBY merges the
    series that share a label value after aggregation (e.g. the series of two model versions
    during a rollout). The plugin does not interpolate variables in `bucket`.
    """

    ref_id: str
    datasource: DataSourceRef
    type: Literal["timeSeries"] = "timeSeries"
    command: Literal["ts.mrange"] = "ts.mrange"
    filter: str
    aggregation: Literal["avg", "sum", "min", "max", "count", "first", "last"] | None = None
    bucket: int | None = None
    """Aggregation bucket in milliseconds (a number: the plugin's backend reads an int)."""
    fill: bool = False
    legend: str | None = None
    ts_group_by_label: str | None = None
    """GROUPBY label (plugin >= 2.2.0); needs `ts_reducer`."""
    ts_reducer: Literal["sum", "min", "max", "avg", "range", "count"] | None = None
    hide: bool | None = None


class RedisCommandQuery(GrafanaModel):
    """A plain Redis command of the Redis data source (used for evidence streams)."""

    ref_id: str
    datasource: DataSourceRef
    type: Literal["command"] = "command"
    command: str
    key_name: str
    count: int | None = None
    start: str | None = None
    end: str | None = None


class MathExpression(GrafanaModel):
    """A server-side expression (`__expr__`), e.g. `$A / $B` for a ratio of two queries."""

    ref_id: str
    datasource: DataSourceRef = DataSourceRef(type="__expr__", uid="__expr__")
    type: Literal["math"] = "math"
    expression: str
    hide: bool | None = None


class PrometheusQuery(GrafanaModel):
    ref_id: str
    datasource: DataSourceRef
    expr: str
    legend_format: str | None = None
    interval: str | None = None


Target = RedisTsQuery | RedisCommandQuery | MathExpression | PrometheusQuery


class GridPos(GrafanaModel):
    h: int
    w: int
    x: int
    y: int


class Legend(GrafanaModel):
    display_mode: Literal["list", "table", "hidden"] = "table"
    placement: Literal["bottom", "right"] = "right"
    show_legend: bool = True
    calcs: tuple[str, ...] = ()
    sort_by: str | None = None
    sort_desc: bool | None = None


class PanelOptions(GrafanaModel):
    """Options shared by the panel types we use; irrelevant ones stay `None`."""

    legend: Legend | None = None
    tooltip: dict[str, str] | None = None
    content: str | None = None
    mode: str | None = None
    show_header: bool | None = None
    reduce_options: dict[str, Any] | None = None
    orientation: Literal["horizontal", "vertical"] | None = None
    display_mode: str | None = None
    # annolist
    only_from_this_dashboard: bool | None = None
    only_in_time_range: bool | None = None
    tags: tuple[str, ...] | None = None
    limit: int | None = None
    show_user: bool | None = None
    show_time: bool | None = None
    show_tags: bool | None = None


class FieldDefaults(GrafanaModel):
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    custom: dict[str, Any] | None = None
    color: dict[str, str] | None = None


class FieldConfig(GrafanaModel):
    defaults: FieldDefaults = FieldDefaults()
    overrides: tuple[dict[str, Any], ...] = ()


class Transformation(GrafanaModel):
    id: str
    options: dict[str, Any] = Field(default_factory=dict)


class Panel(GrafanaModel):
    id: int
    type: Literal["timeseries", "barchart", "bargauge", "table", "text", "annolist", "stat", "row"]
    title: str
    description: str | None = None
    grid_pos: GridPos
    datasource: DataSourceRef | None = None
    targets: tuple[Target, ...] = ()
    field_config: FieldConfig = FieldConfig()
    options: PanelOptions = PanelOptions()
    transformations: tuple[Transformation, ...] = ()
    interval: str | None = None
    repeat: str | None = None
    """Repeat the panel once per value of this variable (`$<name>` is one value inside)."""
    repeat_direction: Literal["h", "v"] | None = None
    max_per_row: int | None = None
    collapsed: bool | None = None
    """Rows only: a collapsed row keeps its panels in `panels` and renders them on expand."""
    panels: tuple[Panel, ...] | None = None


class VariableOption(GrafanaModel):
    text: str
    value: str
    selected: bool = False


class Variable(GrafanaModel):
    """A dashboard template variable (`$name` in queries)."""

    name: str
    label: str | None = None
    type: Literal["textbox", "custom", "query", "interval", "constant"]
    query: str = ""
    regex: str | None = None
    """Grafana regex applied to the query's values; a capture group keeps only that part."""
    current: VariableOption | None = None
    options: tuple[VariableOption, ...] = ()
    description: str | None = None
    hide: Literal[0, 1, 2] = 0
    datasource: DataSourceRef | None = None
    refresh: Literal[0, 1, 2] | None = None
    multi: bool | None = None
    include_all: bool | None = None
    sort: int | None = None


class Templating(GrafanaModel):
    list: tuple[Variable, ...] = ()


class AnnotationTarget(GrafanaModel):
    limit: int = 200
    match_any: bool = False
    tags: tuple[str, ...] = ()
    type: Literal["tags"] = "tags"


class Annotation(GrafanaModel):
    """An annotation query: here always Grafana's own store, filtered by tags."""

    name: str
    datasource: DataSourceRef = DataSourceRef(type=GRAFANA_DS_TYPE, uid="-- Grafana --")
    enable: bool = True
    icon_color: str = "red"
    target: AnnotationTarget


class Annotations(GrafanaModel):
    list: tuple[Annotation, ...] = ()


class TimeRange(GrafanaModel):
    from_: str = Field(alias="from")
    to: str


class Link(GrafanaModel):
    title: str
    type: Literal["dashboards", "link"] = "dashboards"
    tags: tuple[str, ...] = ()
    as_dropdown: bool = False
    include_vars: bool = True
    keep_time: bool = True
    url: str | None = None


class Dashboard(GrafanaModel):
    """A whole dashboard. `uid` is stable: provisioning and `push` overwrite by it."""

    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    panels: tuple[Panel, ...]
    templating: Templating = Templating()
    annotations: Annotations = Annotations()
    links: tuple[Link, ...] = ()
    time: TimeRange = TimeRange(from_="now-24h", to="now")
    refresh: str = "1m"
    timezone: str = "utc"
    schema_version: int = SCHEMA_VERSION
    editable: bool = True
    graph_tooltip: int = 1  # shared crosshair across panels
    version: int = 1
