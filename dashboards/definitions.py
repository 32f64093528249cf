"""The four finsent dashboards, as code. `finsent dashboards generate` writes them to JSON.

Each dashboard is a module of `dashboards.boards`, built with grafana-foundation-sdk; the
panels and variables they share are in `dashboards.panels`, the queries (and finsent's own
Redis query type) in `dashboards.queries`, which explains how they are built.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.boards.overview import market_overview
from dashboards.boards.pipeline import pipeline_health
from dashboards.boards.ticker import ticker_drilldown
from dashboards.boards.topics import topics


def all_dashboards() -> tuple[Dashboard, ...]:
    """Every dashboard, in navigation order."""
    return (market_overview(), ticker_drilldown(), topics(), pipeline_health())
