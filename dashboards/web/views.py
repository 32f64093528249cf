"""Builds the API responses from the store: plain functions over a `SeriesReader`."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboards.web.models import (
    NamespaceInfo,
    Overview,
    Point,
    SeriesSummary,
    TickerDetail,
    TopicsView,
    Totals,
)
from dashboards.web.reader import AlertReader, SeriesReader
from dashboards.web.window import Window, window_ending_at
from finsent.schemas import SeriesKind, SeriesRef
from finsent.store.models import SeriesPoint, SeriesTotals

MARKET = SeriesRef(kind="all", value="all")


def namespaces(store: SeriesReader) -> list[NamespaceInfo]:
    """Every namespace with data, `live` first, then newest watermark first."""
    infos = [
        NamespaceInfo(name=ns, watermark=store.watermark(ns), documents=store.document_count(ns))
        for ns in store.list_namespaces()
    ]
    return sorted(
        infos,
        key=lambda i: (i.name != "live", -(i.watermark.timestamp() if i.watermark else 0), i.name),
    )


def window_for(
    store: SeriesReader, namespace: str, hours: float, end: datetime | None
) -> tuple[datetime | None, Window | None]:
    """The namespace watermark and the window to show (None for an empty namespace)."""
    watermark = store.watermark(namespace)
    anchor = end or watermark
    if anchor is None:
        return watermark, None
    return watermark, window_ending_at(anchor, timedelta(hours=hours))


def _point(p: SeriesPoint) -> Point:
    t = p.totals
    return Point(
        t=p.start,
        count=t.count,
        negative=t.negative,
        neutral=t.neutral,
        positive=t.positive,
        negative_share=t.negative_share if t.count else None,
        mean_score=t.mean_score if t.count else None,
    )


def summarize(store: SeriesReader, namespace: str, ref: SeriesRef, window: Window) -> SeriesSummary:
    """One series over the window and the window before it, read in one range call."""
    prev = window.previous()
    points = store.range(ref, namespace, prev.start, window.end, window.step, window.resolution)
    before = [p for p in points if p.start < window.start]
    inside = [p for p in points if p.start >= window.start]
    now = sum((p.totals for p in inside), SeriesTotals())
    then = sum((p.totals for p in before), SeriesTotals())
    change = now.negative_share - then.negative_share if now.count and then.count else None
    return SeriesSummary(
        kind=ref.kind,
        value=ref.value,
        totals=Totals.of(now),
        previous=Totals.of(then),
        change=change,
        points=tuple(_point(p) for p in inside),
    )


def _movers_first(summaries: list[SeriesSummary]) -> list[SeriesSummary]:
    # Biggest absolute move in negative share first; series without a change by volume.
    return sorted(
        summaries,
        key=lambda s: (
            s.change is None,
            -abs(s.change or 0.0),
            -s.totals.count,
            s.value,
        ),
    )


def _summaries(
    store: SeriesReader, namespace: str, kind: SeriesKind, window: Window
) -> list[SeriesSummary]:
    found = [summarize(store, namespace, ref, window) for ref in store.list_series(namespace, kind)]
    return [s for s in found if s.totals.count or s.previous.count]


def overview(
    store: SeriesReader, namespace: str, window: Window, watermark: datetime | None, limit: int
) -> Overview:
    """Market series and the `limit` tickers that moved most (movers first)."""
    tickers = _movers_first(_summaries(store, namespace, "ticker", window))
    return Overview(
        namespace=namespace,
        watermark=watermark,
        window=window,
        market=summarize(store, namespace, MARKET, window),
        tickers=tuple(tickers[:limit]),
        tickers_total=len(tickers),
    )


def ticker_detail(
    store: SeriesReader,
    alerts: AlertReader,
    namespace: str,
    ticker: str,
    window: Window,
    watermark: datetime | None,
    evidence_limit: int,
) -> TickerDetail:
    """One ticker with the market for comparison, its evidence and its alerts."""
    ref = SeriesRef(kind="ticker", value=ticker)
    ticker_alerts = tuple(
        a
        for a in alerts.recent(namespace, 200)
        if a.series.kind == "ticker" and a.series.value == ticker
    )
    return TickerDetail(
        namespace=namespace,
        watermark=watermark,
        window=window,
        ticker=summarize(store, namespace, ref, window),
        market=summarize(store, namespace, MARKET, window),
        evidence=tuple(store.evidence(ref, namespace, window.start, window.end, evidence_limit)),
        alerts=ticker_alerts[:20],
    )


def topics(store: SeriesReader, namespace: str, window: Window) -> TopicsView:
    """Every topic series, movers first."""
    return TopicsView(
        namespace=namespace,
        window=window,
        topics=tuple(_movers_first(_summaries(store, namespace, "topic", window))),
    )
