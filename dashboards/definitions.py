"""The four finsent dashboards, as code. `finsent dashboards generate` writes them to JSON.

Each dashboard is a module of `dashboards.boards`; the panels, queries and variables they
share are in `dashboards.panels`, which explains how the queries are built.
"""

from __future__ import annotations

from dashboards.boards.overview import market_overview
from dashboards.boards.pipeline import pipeline_health
from dashboards.boards.ticker import ticker_drilldown
from dashboards.boards.topics import topics
from dashboards.grafana_model import Dashboard


def all_dashboards() -> tuple[Dashboard, ...]:
    """Every dashboard, in navigation order."""
    return (market_overview(), ticker_drilldown(), topics(), pipeline_health())
