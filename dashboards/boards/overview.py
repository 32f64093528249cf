"""The market overview dashboard: market sentiment, tickers by negative volume."""

from __future__ import annotations

from dashboards.grafana_model import (
    Dashboard,
    GridPos,
    Panel,
    Templating,
    TimeRange,
)
from dashboards.panels import (
    TAGS,
    UID_OVERVIEW,
    alert_annotations,
    alert_list,
    links,
    namespace_variable,
    series,
    series_variable,
    share_and_score,
    timeseries,
    volume,
)


def market_overview() -> Dashboard:
    """Market sentiment, tickers by negative volume (movers first), one panel per ticker."""
    return Dashboard(
        uid=UID_OVERVIEW,
        title="finsent · Market overview",
        description="Sentiment of every ticker in one namespace; alerts as annotations.",
        tags=TAGS,
        time=TimeRange(from_="now-7d", to="now"),
        templating=Templating(
            list=(
                namespace_variable(),
                series_variable("ticker", "Ticker", "ticker", multi=True, all_by_default=False),
            )
        ),
        annotations=alert_annotations(),
        links=links(),
        panels=(
            share_and_score(
                1,
                "Market · negative share and mean score",
                GridPos(h=8, w=16, x=0, y=0),
                "1h",
                None,
                kind="all",
            ),
            alert_list(2, GridPos(h=8, w=8, x=16, y=0)),
            timeseries(
                3,
                "Negative documents by ticker (biggest movers first)",
                "Negative documents per hour. The legend is sorted by range (max - min): the "
                "tickers that moved most come first. Click a name to isolate it.",
                GridPos(h=9, w=16, x=0, y=8),
                (series("A", "negative", "1h", "ticker", {"kind": "ticker"}),),
                "short",
                min_=0,
                sort_by="Range",
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
