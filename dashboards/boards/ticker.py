"""The ticker drill-down dashboard: one ticker against the market, evidence and alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, text
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import Dashboard, DataTransformerConfig
from grafana_foundation_sdk.models.text import TextMode

from dashboards.panels import (
    UID_TICKER,
    alert_list,
    display_name,
    pos,
    series_dashboard,
    series_variable,
    timeseries,
    volume,
)
from dashboards.queries import REDIS, ratio, series

EVIDENCE_MD = (
    "Evidence documents (the most negative headlines of each hour, with links) are "
    "shown by the built-in web view: open **finsent web** and click `$ticker`, or "
    "call `GET /api/v1/namespaces/$namespace/tickers/$ticker/evidence`."
)


def _topic_mix() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .id(4)
        .title("Topic mix (namespace)")
        .description(
            "Documents per topic in the time range across the namespace: the "
            "store keeps topic series per namespace, not per ticker."
        )
        .grid_pos(pos(8, 12, 12, 9))
        .datasource(REDIS)
        .targets([series("A", "count", "1h", "topic", {"kind": "topic"})])
        # Each row (topic) is a bar; the reduce transformation already summed.
        .reduce_options(ReduceDataOptions().calcs([]).values(True).fields("/^Total$/"))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .legend(VizLegendOptions().show_legend(False))  # each bar is labelled with its topic
        .unit("short")
        .min(0)
        # One row per topic with its total first (`reduce`), then sort rows by it:
        # `sortBy` on the raw time series would sort timestamps, not topics.
        .transformations(
            [
                DataTransformerConfig(
                    id_val="reduce",
                    options={"mode": "seriesToRows", "reducers": ["sum"], "labelsToFields": False},
                ),
                DataTransformerConfig(
                    id_val="sortBy", options={"sort": [{"field": "Total", "desc": True}]}
                ),
            ]
        )
    )


def ticker_drilldown() -> Dashboard:
    """One ticker: sentiment against the market, volume, topic mix, evidence and alerts."""
    ticker = {"kind": "ticker", "ticker": "$ticker"}
    return (
        series_dashboard(
            UID_TICKER,
            "finsent · Ticker drill-down",
            "Sentiment, volume, topic mix and alerts of one ticker.",
            "now-24h",
            series_variable("ticker", "Ticker", "ticker", multi=False),
            "ticker:$ticker",
        )
        .with_panel(
            timeseries(
                1,
                "Negative share · $ticker vs market",
                "Negative documents / all documents per minute.",
                pos(9, 12, 0, 0),
                (
                    *ratio(("A", "B", "C"), "negative", "1m", **ticker),
                    *ratio(("D", "E", "F"), "negative", "1m", kind="all"),
                ),
                "percentunit",
                min_=0,
                max_=1,
                legend=False,
                overrides=(display_name("C", "$ticker"), display_name("F", "market")),
            )
        )
        .with_panel(
            timeseries(
                2,
                "Mean sentiment score · $ticker vs market",
                "Mean of P(positive) - P(negative) per minute, -1 to 1.",
                pos(9, 12, 12, 0),
                (
                    *ratio(("A", "B", "C"), "score_sum", "1m", **ticker),
                    *ratio(("D", "E", "F"), "score_sum", "1m", kind="all"),
                ),
                "none",
                min_=-1,
                max_=1,
                legend=False,
                overrides=(display_name("C", "$ticker"), display_name("F", "market")),
            )
        )
        .with_panel(volume(3, "Volume by sentiment · $ticker", pos(8, 12, 0, 9), "1m", **ticker))
        .with_panel(_topic_mix())
        .with_panel(
            text.Panel()
            .id(5)
            .title("Evidence documents")
            .grid_pos(pos(8, 12, 0, 17))
            .mode(TextMode.MARKDOWN)
            .content(EVIDENCE_MD)
        )
        .with_panel(alert_list(6, pos(8, 12, 12, 17), "ticker:$ticker"))
        .build()
    )
