"""The market overview dashboard: market sentiment, tickers by negative volume."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Row
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.panels import (
    UID_OVERVIEW,
    alert_list,
    movers,
    pos,
    series_dashboard,
    series_variable,
    share_and_score,
    volume,
)


def market_overview() -> Dashboard:
    """Market sentiment, tickers by negative volume (movers first), one panel per ticker."""
    return (
        series_dashboard(
            UID_OVERVIEW,
            "finsent · Market overview",
            "Sentiment of every ticker in one namespace; alerts as annotations.",
            "now-7d",
            series_variable("ticker", "Ticker", "ticker", multi=True, all_by_default=False),
        )
        .with_panel(
            share_and_score(
                1,
                "Market · negative share and mean score",
                pos(8, 16, 0, 0),
                "1h",
                None,
                kind="all",
            )
        )
        .with_panel(alert_list(2, pos(8, 8, 16, 0)))
        .with_panel(
            movers(
                3,
                "ticker",
                "Negative documents per hour. The legend is sorted by range (max - min): the "
                "tickers that moved most come first. Click a name to isolate it.",
                pos(9, 16, 0, 8),
            )
        )
        .with_panel(volume(4, "Document volume by sentiment", pos(9, 8, 16, 8), "1h", kind="all"))
        # Collapsed: a namespace may hold hundreds of tickers, one panel each.
        .with_row(
            Row("Per ticker: negative share and mean score (pick tickers above)")
            .id(5)
            .grid_pos(pos(1, 24, 0, 17))
            .with_panel(
                share_and_score(
                    6, "$ticker", pos(7, 6, 0, 18), "1h", "ticker", kind="ticker", ticker="$ticker"
                )
            )
        )
        .build()
    )
