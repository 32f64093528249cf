"""The market overview dashboard: market sentiment, tickers by negative volume."""

from __future__ import annotations

from dashboards.grafana_model import (
    Dashboard,
    GridPos,
    Panel,
)
from dashboards.panels import (
    UID_OVERVIEW,
    alert_list,
    movers,
    series_dashboard,
    series_variable,
    share_and_score,
    volume,
)


def market_overview() -> Dashboard:
    """Market sentiment, tickers by negative volume (movers first), one panel per ticker."""
    return series_dashboard(
        UID_OVERVIEW,
        "finsent · Market overview",
        "Sentiment of every ticker in one namespace; alerts as annotations.",
        "now-7d",
        series_variable("ticker", "Ticker", "ticker", multi=True, all_by_default=False),
        (
            share_and_score(
                1,
                "Market · negative share and mean score",
                GridPos(h=8, w=16, x=0, y=0),
                "1h",
                None,
                kind="all",
            ),
            alert_list(2, GridPos(h=8, w=8, x=16, y=0)),
            movers(
                3,
                "ticker",
                "Negative documents per hour. The legend is sorted by range (max - min): the "
                "tickers that moved most come first. Click a name to isolate it.",
                GridPos(h=9, w=16, x=0, y=8),
            ),
            volume(
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
                    share_and_score(
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
