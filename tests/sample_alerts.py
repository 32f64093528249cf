"""One test alert to vary: rule `r` on a ticker's series, a 15-minute window ending at `at`.

Tests of channels, the notifier and delivery only need some decided alert; each sets the
fields it checks (state, ticker, namespace, notify, evidence) and keeps the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from finsent.schemas import LIVE_NAMESPACE, Alert, AlertState, Evidence, SeriesRef

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def sample_alert(
    ticker: str = "WMT",
    state: AlertState = "firing",
    *,
    namespace: str = LIVE_NAMESPACE,
    at: datetime = T0,
    notify: bool = True,
    evidence: tuple[Evidence, ...] = (),
) -> Alert:
    return Alert(
        incident_id=f"{namespace}.r.ticker.{ticker}.1",
        rule="r",
        namespace=namespace,
        series=SeriesRef(kind="ticker", value=ticker),
        state=state,
        severity="warning",
        window_start=at - timedelta(minutes=15),
        window_end=at,
        observed=0.6,
        baseline=0.2,
        z_score=5.5,
        doc_count=40,
        evidence=evidence,
        evaluated_at=at,
        notify=notify,
    )
