"""The topics dashboard: volume, negative volume, share and score per financial topic."""

from __future__ import annotations

from dashboards.grafana_model import (
    Dashboard,
    GridPos,
)
from dashboards.panels import (
    UID_TOPICS,
    movers,
    series,
    series_dashboard,
    series_variable,
    share_and_score,
    timeseries,
)


def topics() -> Dashboard:
    """Sentiment by topic over time."""
    return series_dashboard(
        UID_TOPICS,
        "finsent · Topics",
        "Volume, negative volume, negative share and mean score of each topic.",
        "now-7d",
        series_variable("topic", "Topic", "topic", multi=True),
        (
            movers(
                1,
                "topic",
                "Negative documents per hour and topic; legend sorted by range.",
                GridPos(h=9, w=12, x=0, y=0),
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
