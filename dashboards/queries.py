"""The dashboards' queries: data sources, finsent's Redis query type, query builders.

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

grafana-foundation-sdk types the queries of Grafana's core data sources only;
`redis-datasource` is a plugin, so its query type is ours (`RedisTsQuery`): a
`cogvariants.Dataquery` the SDK's panels accept as a target, with an SDK-style builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, Self, TypeAlias

from grafana_foundation_sdk.builders import expr
from grafana_foundation_sdk.builders import prometheus as prometheus_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import DataSourceRef

from finsent.redis_keys import RESOLUTION_MS, TS_LABELS, Resolution, SeriesField

REDIS_DS_TYPE: Final = "redis-datasource"
PROMETHEUS_DS_TYPE: Final = "prometheus"
REDIS_DS_UID: Final = "finsent-redis"
PROMETHEUS_DS_UID: Final = "finsent-prometheus"
REDIS: Final = DataSourceRef(type_val=REDIS_DS_TYPE, uid=REDIS_DS_UID)
PROMETHEUS: Final = DataSourceRef(type_val=PROMETHEUS_DS_TYPE, uid=PROMETHEUS_DS_UID)
EXPRESSIONS: Final = DataSourceRef(type_val="__expr__", uid="__expr__")
APP_LABEL_VALUE: Final = "finsent"

Target: TypeAlias = cogbuilder.Builder[cogvariants.Dataquery]
Aggregation = Literal["avg", "sum", "min", "max", "count", "first", "last"]
Reducer = Literal["sum", "min", "max", "avg", "range", "count"]


@dataclass(kw_only=True)
class RedisTsQuery(cogvariants.Dataquery):
    """A `TS.MRANGE` query of the Redis data source, selecting series by labels only.

    Mirrors the plugin's query model (`pkg/types.go` of RedisGrafana/grafana-redis-datasource,
    2.2.0): the backend runs `TS.MRANGE from to AGGREGATION <aggregation> <bucket> WITHLABELS
    FILTER <filter> [GROUPBY <ts_group_by_label> REDUCE <ts_reducer>]`. `filter` is a
    RedisTimeSeries filter expression (`label=value ...`); `legend` names the label whose
    value becomes the series name (the plugin then drops the labels). GROUPBY merges the
    series that share a label value after aggregation (e.g. the series of two model versions
    during a rollout). The plugin does not interpolate variables in `bucket`.
    """

    ref_id: str = ""
    datasource: DataSourceRef | None = None
    filter: str = ""
    aggregation: Aggregation | None = None
    bucket: int | None = None
    """Aggregation bucket in milliseconds (a number: the plugin's backend reads an int)."""
    legend: str | None = None
    ts_group_by_label: str | None = None
    """GROUPBY label (plugin >= 2.2.0); needs `ts_reducer`."""
    ts_reducer: Reducer | None = None
    hide: bool | None = None

    def to_json(self) -> dict[str, object]:
        """The plugin's JSON: camelCase keys, unset optionals left out."""
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "type": "timeSeries",
            "command": "ts.mrange",
            "filter": self.filter,
            "fill": False,
        }
        optional = {
            "datasource": self.datasource,
            "aggregation": self.aggregation,
            "bucket": self.bucket,
            "legend": self.legend,
            "tsGroupByLabel": self.ts_group_by_label,
            "tsReducer": self.ts_reducer,
            "hide": self.hide,
        }
        payload.update({key: value for key, value in optional.items() if value is not None})
        return payload


class RedisTimeSeries(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builds a `RedisTsQuery`, like the SDK's `prometheus.Dataquery` builder."""

    def __init__(self) -> None:
        self._internal = RedisTsQuery()

    def build(self) -> RedisTsQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def datasource(self, datasource: DataSourceRef) -> Self:
        self._internal.datasource = datasource
        return self

    def filter(self, filter_val: str) -> Self:
        self._internal.filter = filter_val
        return self

    def aggregation(self, aggregation: Aggregation, bucket_ms: int) -> Self:
        self._internal.aggregation = aggregation
        self._internal.bucket = bucket_ms
        return self

    def legend(self, label: str) -> Self:
        self._internal.legend = label
        return self

    def group_by(self, label: str, reducer: Reducer) -> Self:
        self._internal.ts_group_by_label = label
        self._internal.ts_reducer = reducer
        return self

    def hide(self, hide: bool) -> Self:
        self._internal.hide = hide
        return self


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
) -> RedisTimeSeries:
    """Sum of one field per bucket of the series resolution, one series per `legend` value.

    Grouped by the legend label, so series that differ only in `model` (a rollout) add up.
    """
    query = (
        RedisTimeSeries()
        .ref_id(ref_id)
        .datasource(REDIS)
        .filter(
            ts_filter(
                app=APP_LABEL_VALUE,
                namespace="$namespace",
                field=field,
                resolution=resolution,
                **labels,
            )
        )
        .aggregation("sum", RESOLUTION_MS[resolution])
        .legend(legend)
        .group_by(legend, "sum")
    )
    return query.hide(True) if hide else query


def math(ref_id: str, expression: str) -> expr.TypeMath:
    """A server-side expression, e.g. `$A / $B` for a ratio of two queries."""
    return expr.TypeMath().ref_id(ref_id).datasource(EXPRESSIONS).expression(expression)


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
        math(out, f"${num} / ${den}"),
    )


def prometheus(*queries: tuple[str, str]) -> tuple[Target, ...]:
    """Prometheus targets from `(expr, legend)` pairs, with ref ids A, B, C... in order."""
    return tuple(
        prometheus_builders.Dataquery()
        .ref_id(chr(ord("A") + i))
        .datasource(PROMETHEUS)
        .expr(query)
        .legend_format(legend)
        for i, (query, legend) in enumerate(queries)
    )
