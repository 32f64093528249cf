"""The topics dashboard: volume, negative volume, share and score per financial topic."""

from __future__ import annotations

from dashboards.grafana_model import (
    Dashboard,
    GridPos,
    Templating,
    TimeRange,
)
from dashboards.panels import (
    TAGS,
    UID_TOPICS,
    alert_annotations,
    links,
    namespace_variable,
    series,
    series_variable,
    share_and_score,
    timeseries,
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
            list=(namespace_variable(), series_variable("topic", "Topic", "topic", multi=True))
        ),
        annotations=alert_annotations(),
        links=links(),
        panels=(
            timeseries(
                1,
                "Negative documents by topic (biggest movers first)",
                "Negative documents per hour and topic; legend sorted by range.",
                GridPos(h=9, w=12, x=0, y=0),
                (series("A", "negative", "1h", "topic", {"kind": "topic"}),),
                "short",
                min_=0,
                sort_by="Range",
            ),
            timeseries(
                2,
                "Volume by topic",
                "Documents per hour and topic, stacked.",
                GridPos(h=9, w=12, x=12, y=0),
                (series("A", "count", "1h", "topic", {"kind": "topic"}),),
                "short",
                stacked=True,
            ),
            share_and_score(
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
