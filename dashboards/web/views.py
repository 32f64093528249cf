"""Builds the API responses from the store: plain functions over a `SeriesReader`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

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
from dashboards.web.window import Window, window_between, window_ending_at
from finsent.schemas import LIVE_NAMESPACE, SeriesKind, SeriesRef
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
        key=lambda i: (
            i.name != LIVE_NAMESPACE,
            -(i.watermark.timestamp() if i.watermark else 0),
            i.name,
        ),
    )


def window_for(
    store: SeriesReader,
    namespace: str,
    hours: float,
    end: datetime | None,
    now: datetime | None = None,
    start: datetime | None = None,
) -> tuple[datetime | None, Window | None]:
    """The namespace watermark and the window to show (None for an empty namespace).

    `start` and `end` together give a free range (`hours` is then ignored). `now` (the
    service clock) caps the default end: a document dated ahead of time must not push a
    live view into a future that has not happened.
    """
    watermark = store.watermark(namespace)
    if start is not None and end is not None:
        return watermark, (window_between(start, end) if watermark else None)
    anchor = end or (min(watermark, now) if watermark and now else watermark)
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


class _Totals(NamedTuple):
    ref: SeriesRef
    now: SeriesTotals
    then: SeriesTotals

    @property
    def change(self) -> float | None:
        if not (self.now.count and self.then.count):
            return None
        return self.now.negative_share - self.then.negative_share


def _totals(store: SeriesReader, namespace: str, ref: SeriesRef, window: Window) -> _Totals:
    prev = window.previous()
    now = store.total(ref, namespace, window.start, window.end, window.resolution)
    then = store.total(ref, namespace, prev.start, prev.end, window.resolution)
    return _Totals(ref, now, then)


def _summary(store: SeriesReader, namespace: str, totals: _Totals, window: Window) -> SeriesSummary:
    points = store.range(
        totals.ref, namespace, window.start, window.end, window.step, window.resolution
    )
    return SeriesSummary(
        kind=totals.ref.kind,
        value=totals.ref.value,
        totals=Totals.of(totals.now),
        previous=Totals.of(totals.then),
        change=totals.change,
        points=tuple(_point(p) for p in points),
    )


def summarize(store: SeriesReader, namespace: str, ref: SeriesRef, window: Window) -> SeriesSummary:
    """One series over the window, with its totals in the window before it."""
    return _summary(store, namespace, _totals(store, namespace, ref, window), window)


def _movers_first(
    store: SeriesReader, namespace: str, kind: SeriesKind, window: Window, limit: int | None
) -> tuple[list[SeriesSummary], int]:
    """The series of a kind with data in either window, biggest absolute move in negative
    share first (then by volume), and how many there are. Totals are cheap (sparse bucket
    reads), dense points are read only for the `limit` series returned."""
    found = [_totals(store, namespace, ref, window) for ref in store.list_series(namespace, kind)]
    active = [t for t in found if t.now.count or t.then.count]
    active.sort(key=lambda t: (t.change is None, -abs(t.change or 0.0), -t.now.count, t.ref.value))
    chosen = active if limit is None else active[:limit]
    return [_summary(store, namespace, t, window) for t in chosen], len(active)


def overview(
    store: SeriesReader, namespace: str, window: Window, watermark: datetime | None, limit: int
) -> Overview:
    """Market series and the `limit` tickers that moved most (movers first)."""
    tickers, total = _movers_first(store, namespace, "ticker", window, limit)
    return Overview(
        namespace=namespace,
        watermark=watermark,
        window=window,
        market=summarize(store, namespace, MARKET, window),
        tickers=tuple(tickers),
        tickers_total=total,
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
        topics=tuple(_movers_first(store, namespace, "topic", window, None)[0]),
    )
