"""The ticker drill-down dashboard: one ticker against the market, evidence and alerts."""

from __future__ import annotations

from dashboards.grafana_model import (
    Dashboard,
    FieldConfig,
    FieldDefaults,
    GridPos,
    Panel,
    PanelOptions,
    Transformation,
)
from dashboards.panels import (
    REDIS,
    UID_TICKER,
    alert_list,
    display_name,
    ratio,
    series,
    series_dashboard,
    series_variable,
    timeseries,
    volume,
)


def ticker_drilldown() -> Dashboard:
    """One ticker: sentiment against the market, volume, topic mix, evidence and alerts."""
    evidence_md = (
        "Evidence documents (the most negative headlines of each hour, with links) are "
        "shown by the built-in web view: open **finsent web** and click `$ticker`, or "
        "call `GET /api/v1/namespaces/$namespace/tickers/$ticker/evidence`."
    )
    ticker = {"kind": "ticker", "ticker": "$ticker"}
    return series_dashboard(
        UID_TICKER,
        "finsent · Ticker drill-down",
        "Sentiment, volume, topic mix and alerts of one ticker.",
        "now-24h",
        series_variable("ticker", "Ticker", "ticker", multi=False),
        (
            timeseries(
                1,
                "Negative share · $ticker vs market",
                "Negative documents / all documents per minute.",
                GridPos(h=9, w=12, x=0, y=0),
                (
                    *ratio(("A", "B", "C"), "negative", "1m", **ticker),
                    *ratio(("D", "E", "F"), "negative", "1m", kind="all"),
                ),
                "percentunit",
                min_=0,
                max_=1,
                legend=False,
                overrides=(display_name("C", "$ticker"), display_name("F", "market")),
            ),
            timeseries(
                2,
                "Mean sentiment score · $ticker vs market",
                "Mean of P(positive) - P(negative) per minute, -1 to 1.",
                GridPos(h=9, w=12, x=12, y=0),
                (
                    *ratio(("A", "B", "C"), "score_sum", "1m", **ticker),
                    *ratio(("D", "E", "F"), "score_sum", "1m", kind="all"),
                ),
                "none",
                min_=-1,
                max_=1,
                legend=False,
                overrides=(display_name("C", "$ticker"), display_name("F", "market")),
            ),
            volume(
                3, "Volume by sentiment · $ticker", GridPos(h=8, w=12, x=0, y=9), "1m", **ticker
            ),
            Panel(
                id=4,
                type="bargauge",
                title="Topic mix (namespace)",
                description="Documents per topic in the time range across the namespace: the "
                "store keeps topic series per namespace, not per ticker.",
                grid_pos=GridPos(h=8, w=12, x=12, y=9),
                datasource=REDIS,
                targets=(series("A", "count", "1h", "topic", {"kind": "topic"}),),
                options=PanelOptions(
                    # Each row (topic) is a bar; the reduce transformation already summed.
                    reduce_options={"calcs": [], "values": True, "fields": "/^Total$/"},
                    orientation="horizontal",
                    display_mode="gradient",
                ),
                field_config=FieldConfig(defaults=FieldDefaults(unit="short", min=0)),
                # One row per topic with its total first (`reduce`), then sort rows by it:
                # `sortBy` on the raw time series would sort timestamps, not topics.
                transformations=(
                    Transformation(
                        id="reduce",
                        options={
                            "mode": "seriesToRows",
                            "reducers": ["sum"],
                            "labelsToFields": False,
                        },
                    ),
                    Transformation(
                        id="sortBy", options={"sort": [{"field": "Total", "desc": True}]}
                    ),
                ),
            ),
            Panel(
                id=5,
                type="text",
                title="Evidence documents",
                grid_pos=GridPos(h=8, w=12, x=0, y=17),
                options=PanelOptions(mode="markdown", content=evidence_md),
            ),
            alert_list(6, GridPos(h=8, w=12, x=12, y=17), "ticker:$ticker"),
        ),
        "ticker:$ticker",
    )
