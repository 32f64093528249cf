"""The topics dashboard: volume, negative volume, share and score per financial topic."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.panels import (
    UID_TOPICS,
    movers,
    pos,
    series_dashboard,
    series_variable,
    share_and_score,
    timeseries,
)
from dashboards.queries import series


def topics() -> Dashboard:
    """Sentiment by topic over time."""
    return (
        series_dashboard(
            UID_TOPICS,
            "finsent · Topics",
            "Volume, negative volume, negative share and mean score of each topic.",
            "now-7d",
            series_variable("topic", "Topic", "topic", multi=True),
        )
        .with_panel(
            movers(
                1,
                "topic",
                "Negative documents per hour and topic; legend sorted by range.",
                pos(9, 12, 0, 0),
            )
        )
        .with_panel(
            timeseries(
                2,
                "Volume by topic",
                "Documents per hour and topic, stacked.",
                pos(9, 12, 12, 0),
                (series("A", "count", "1h", "topic", {"kind": "topic"}),),
                "short",
                stacked=True,
            )
        )
        .with_panel(
            share_and_score(
                3, "$topic", pos(7, 6, 0, 9), "1h", "topic", kind="topic", topic="$topic"
            )
        )
        .build()
    )
