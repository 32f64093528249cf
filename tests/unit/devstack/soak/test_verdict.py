"""The pass criteria, judged from synthetic outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta

from devstack.soak.pusher import Pushed
from devstack.soak.receivers import Delivery
from devstack.soak.scenario import DRILL, SHORT, WMT, PlannedDoc
from devstack.soak.verdict import LoggedAlert, Outcome, event_criterion, judge, render

OFFSET = timedelta(days=4058)
WMT_ONLY = SHORT.model_copy(update={"events": (WMT,)})
BURST = WMT.start + OFFSET + timedelta(minutes=27)


def _doc(i: str, at: datetime, planted: str = "") -> PlannedDoc:
    return PlannedDoc(id=i, published_at=at, due=at, text="x", language="en",
                      filed_under=("WMT",), planted=planted)  # fmt: skip


def _log(state: str, start: datetime, ticker: str = "WMT", notify: bool = True) -> LoggedAlert:
    return LoggedAlert(
        incident_id=f"live.r.ticker.{ticker}.1", rule="r", series={"kind": "ticker", "value": ticker},
        state=state, window_start=start, window_end=start + timedelta(minutes=15), notify=notify,
        decided_at=start + timedelta(minutes=16), logged_at=start + timedelta(minutes=20),
    )  # fmt: skip


def _pages(state: str, at: datetime, ticker: str = "WMT") -> list[Delivery]:
    inc = f"live.r.ticker.{ticker}.1"
    return [
        Delivery(channel="webhook", state=state, incident=inc, series=f"ticker={ticker}", at=at, key=f"{state}-1"),
        Delivery(channel="slack", state=state, incident=None, series=f"ticker={ticker}", at=at),
        Delivery(channel="alertmanager", state=state, incident=inc, series=f"ticker={ticker}", at=at),
    ]  # fmt: skip


def _outcome(**changes: object) -> Outcome:
    first = _doc("tw:1", BURST)
    future = _doc("soak:future-dated", BURST + timedelta(days=1), "future")
    base = Outcome(
        scenario=WMT_ONLY, offset=OFFSET, planned=[first, future],
        pushed=[
            Pushed(doc=first, status="accepted", reason=None, at=BURST, attempts=1),
            Pushed(doc=future, status="rejected", reason="time_in_future: x", at=BURST, attempts=1),
        ],
        store_count=1,
        log=[_log("firing", BURST), _log("resolved", BURST + timedelta(hours=3))],
        deliveries=[*_pages("firing", BURST + timedelta(minutes=25)),
                    *_pages("resolved", BURST + timedelta(hours=3, minutes=20))],
        channel_problems=[], dead_letter_reasons=["time_in_future: x"],
        faults_done=["all"], faults_missed=[], service_failures=[],
    )  # fmt: skip
    return base.model_copy(update=changes)


def test_a_clean_outcome_passes_and_reports_time_to_page() -> None:
    verdict = judge(_outcome())
    assert verdict.passed, render(verdict)
    timing = verdict.timings[0]
    assert timing.paged_at["webhook"] == BURST + timedelta(minutes=25)
    assert timing.decided is not None
    assert "25.0 min" in render(verdict)


def test_a_second_page_on_one_channel_fails() -> None:
    o = _outcome()
    extra = Delivery(channel="slack", state="firing", incident=None, series="ticker=WMT",
                     at=BURST + timedelta(minutes=40))  # fmt: skip
    verdict = judge(o.model_copy(update={"deliveries": [*o.deliveries, extra]}))
    failed = {c.name for c in verdict.criteria if not c.passed}
    assert event_criterion(WMT) in failed


def test_a_missing_resolution_and_a_calm_page_fail() -> None:
    calm = WMT.start + OFFSET - timedelta(hours=3)
    o = _outcome()
    verdict = judge(o.model_copy(update={
        "log": [o.log[0], _log("firing", calm, "AAPL")],
        "deliveries": [*_pages("firing", BURST), *_pages("firing", calm, "AAPL")],
    }))  # fmt: skip
    failed = {c.name for c in verdict.criteria if not c.passed}
    assert "no page for calm periods" in failed
    assert event_criterion(WMT) in failed


def test_an_accepted_future_document_and_a_short_store_count_fail() -> None:
    o = _outcome()
    accepted = o.pushed[1].model_copy(update={"status": "accepted", "reason": None})
    verdict = judge(o.model_copy(update={"pushed": [o.pushed[0], accepted], "store_count": 1,
                                         "dead_letter_reasons": []}))  # fmt: skip
    failed = {c.name for c in verdict.criteria if not c.passed}
    assert "future-dated document rejected at ingest" in failed
    assert "nothing dropped (documents accepted == documents counted in the store)" in failed


def test_a_window_judged_before_it_happened_fails() -> None:
    o = _outcome()
    early = o.log[1].model_copy(update={"logged_at": o.log[1].window_start})
    verdict = judge(o.model_copy(update={"log": [o.log[0], early]}))
    assert not next(c for c in verdict.criteria if c.name.startswith("no window")).passed


def test_a_retry_answered_as_an_id_duplicate_counts_as_written_once() -> None:
    o = _outcome()
    retried = Pushed(doc=_doc("tw:2", BURST), status="duplicate", reason="id", at=BURST, attempts=3)
    ok = judge(o.model_copy(update={"pushed": [*o.pushed, retried], "store_count": 2}))
    crit = "nothing dropped (documents accepted == documents counted in the store)"
    assert next(c for c in ok.criteria if c.name == crit).passed
    counted_twice = judge(o.model_copy(update={"pushed": [*o.pushed, retried], "store_count": 3}))
    assert not next(c for c in counted_twice.criteria if c.name == crit).passed


def test_each_planted_event_is_judged_on_its_own() -> None:
    """A drill that pages passes its criterion even while a real event is never paged."""
    o = _outcome(scenario=SHORT)  # WMT and the drill
    drill_at = DRILL.start + OFFSET + timedelta(minutes=10)
    drill_log = [
        _log("firing", drill_at, "HRGE"),
        _log("resolved", drill_at + timedelta(hours=6), "HRGE"),
    ]
    drill_pages = [
        *_pages("firing", drill_at + timedelta(minutes=5), "HRGE"),
        *_pages("resolved", drill_at + timedelta(hours=6, minutes=5), "HRGE"),
    ]
    drill_doc = _doc("drill:hrge:0", DRILL.start + OFFSET, "drill").model_copy(
        update={"filed_under": ("HRGE",)}
    )
    verdict = judge(o.model_copy(update={
        "log": drill_log, "deliveries": drill_pages, "planned": [*o.planned, drill_doc],
    }))  # fmt: skip
    judged = {c.name: c.passed for c in verdict.criteria}
    assert judged[event_criterion(DRILL)] is True
    assert judged[event_criterion(WMT)] is False
    assert judged["no page for calm periods"] is True
