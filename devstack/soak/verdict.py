"""The soak's pass criteria: pure functions from what happened to PASS/FAIL and figures."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from devstack.soak.pusher import Pushed
from devstack.soak.receivers import Delivery
from devstack.soak.scenario import CHANNELS, PlannedDoc, PlantedEvent, Scenario, first_document

DECISION_SLACK = timedelta(minutes=1)


class LoggedSeries(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    kind: str
    value: str


class LoggedAlert(BaseModel):
    """A state change from the alert log, read leniently (fields may be added)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    incident_id: str
    rule: str
    series: LoggedSeries
    state: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    notify: bool
    evaluated_at: AwareDatetime | None = None
    decided_at: AwareDatetime | None = None
    logged_at: AwareDatetime
    """Service time the change was logged (from the stream id, Redis's real clock)."""

    @property
    def series_key(self) -> str:
        return f"{self.series.kind}={self.series.value}"

    @property
    def decided(self) -> datetime | None:
        """Event-time watermark at the decision (`decided_at`, else `evaluated_at`)."""
        return self.decided_at or self.evaluated_at


class Criterion(BaseModel):
    name: str
    passed: bool
    details: list[str] = []


class EventTiming(BaseModel):
    event: str
    first_doc_original: datetime
    """When the burst's first document was published (2015)."""
    first_doc_event_time: datetime
    first_doc_arrived: datetime | None
    paged_at: dict[str, datetime | None]
    """Per channel: service time the first firing page arrived."""
    decided: datetime | None
    """Event-time watermark when the page was decided."""


class Outcome(BaseModel):
    """Everything the soak observed, collected after the services stopped."""

    scenario: Scenario
    offset: timedelta
    planned: list[PlannedDoc]
    pushed: list[Pushed]
    store_count: int
    log: list[LoggedAlert]
    deliveries: list[Delivery]
    channel_problems: list[str]
    dead_letter_reasons: list[str]
    faults_done: list[str]
    faults_missed: list[str]
    service_failures: list[str]


class Verdict(BaseModel):
    criteria: list[Criterion]
    timings: list[EventTiming]
    figures: dict[str, str]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)


def _span(event: PlantedEvent, offset: timedelta) -> tuple[datetime, datetime]:
    return event.match_from + offset, event.match_to + offset


def _event_of(
    alert: LoggedAlert, events: tuple[PlantedEvent, ...], offset: timedelta
) -> str | None:
    for event in events:
        lo, hi = _span(event, offset)
        if (
            alert.series_key == f"ticker={event.ticker}"
            and lo <= alert.window_end
            and alert.window_start <= hi
        ):
            return event.name
    return None


def _related(alert: LoggedAlert, events: tuple[PlantedEvent, ...], offset: timedelta) -> bool:
    """A market-level series (all, topic, source) during an event: allowed, not required."""
    if alert.series.kind == "ticker":
        return False
    return any(
        _span(e, offset)[0] <= alert.window_end and alert.window_start <= _span(e, offset)[1]
        for e in events
    )


def _count(deliveries: list[Delivery]) -> int:
    """Pages as on-call sees them: a re-send with the same dedupe key is one page."""
    keyed = {d.key for d in deliveries if d.key is not None}
    return len(keyed) + sum(1 for d in deliveries if d.key is None)


def event_criterion(event: PlantedEvent) -> str:
    """The name of the criterion that judges one planted event."""
    return f"{event.name}: paged once per channel, resolved once"


def judge(o: Outcome) -> Verdict:
    events = o.scenario.events
    paged = [a for a in o.log if a.notify]
    criteria: list[Criterion] = []

    # 1. Every planted event paged exactly once per channel and resolved once: one
    # criterion per event, so a drill's proof stands apart from a real event's detection.
    for event in events:
        details: list[str] = []
        ok = True
        incidents = {a.incident_id for a in paged if _event_of(a, events, o.offset) == event.name}
        series = f"ticker={event.ticker}"
        lo, _ = _span(event, o.offset)
        for channel in CHANNELS:
            mine = [
                d for d in o.deliveries
                if d.channel == channel and d.series == series and d.at >= lo
                and (d.incident is None or d.incident in incidents or not incidents)
            ]  # fmt: skip
            fired = _count([d for d in mine if d.state == "firing"])
            resolved = _count([d for d in mine if d.state == "resolved"])
            good = fired == 1 and resolved == 1
            ok &= good
            details.append(
                f"{'ok  ' if good else 'FAIL'} {channel}: paged {fired}x, resolved "
                f"{resolved}x (want 1 and 1)"
            )
        if not incidents:
            details.append("FAIL the alert log holds no paged incident for it")
        criteria.append(Criterion(name=event_criterion(event), passed=ok, details=details))

    # 2. Every paged state change reached each channel exactly once (related ones too).
    details, ok = [], True
    for alert in paged:
        for channel in CHANNELS:
            if channel == "slack":
                want = sum(
                    1 for a in paged if a.series_key == alert.series_key and a.state == alert.state
                )
                got = _count([d for d in o.deliveries if d.channel == "slack"
                              and d.series == alert.series_key and d.state == alert.state])  # fmt: skip
            else:
                want = 1
                got = _count([d for d in o.deliveries if d.channel == channel
                              and d.incident == alert.incident_id and d.state == alert.state])  # fmt: skip
            if got != want:
                ok = False
                details.append(
                    f"FAIL {alert.incident_id} {alert.state} on {channel}: {got}x (want {want})"
                )
    known = {(a.incident_id, a.state) for a in paged}
    for d in o.deliveries:
        if d.incident is not None and (d.incident, d.state) not in known:
            ok = False
            details.append(f"FAIL {d.channel} got {d.state} {d.incident} that the log never paged")
    details.append(f"{len(paged)} paged state changes, {len(o.log) - len(paged)} logged unpaged")
    criteria.append(Criterion(name="every page delivered exactly once per channel", passed=ok,
                              details=sorted(set(details))))  # fmt: skip

    # 3. No page in a calm period.
    calm = [
        a for a in paged
        if a.state == "firing" and _event_of(a, events, o.offset) is None
        and not _related(a, events, o.offset)
    ]  # fmt: skip
    related = [a for a in paged if a.state == "firing" and _related(a, events, o.offset)]
    criteria.append(
        Criterion(
            name="no page for calm periods",
            passed=not calm,
            details=[f"FAIL {_describe(a, o.offset)}" for a in calm]
            + [
                f"info (allowed, market-level during an event): {_describe(a, o.offset)}"
                for a in related
            ],
        )
    )

    # 4. No decision about a window that had not happened yet.
    ahead = [a for a in o.log if a.window_end > a.logged_at + DECISION_SLACK]
    criteria.append(
        Criterion(
            name="no window judged before it happened",
            passed=not ahead,
            details=[
                f"FAIL {a.state} {a.incident_id}: window ends {a.window_end:%m-%d %H:%M}, "
                f"decided at {a.logged_at:%m-%d %H:%M} (service time)"
                for a in ahead
            ],
        )
    )

    # 5. The future-dated document is rejected at ingest with a clear dead letter.
    future = [p for p in o.pushed if p.doc.planted == "future"]
    planted_future = [d for d in o.planned if d.planted == "future"]
    details, ok = [], True
    for doc in planted_future:
        answer = next((p for p in future if p.doc.id == doc.id), None)
        if answer is None:
            ok = False
            details.append(f"FAIL {doc.id}: never answered")
        elif answer.status != "rejected" or not (answer.reason or "").startswith("time_in_future"):
            ok = False
            details.append(f"FAIL {doc.id} dated a day ahead was {answer.status} ({answer.reason})")
        else:
            details.append(f"ok   {doc.id} rejected: {answer.reason}")
    if planted_future and not any(r.startswith("time_in_future") for r in o.dead_letter_reasons):
        ok = False
        details.append("FAIL no time_in_future dead letter on news.documents.v1.dlq")
    criteria.append(Criterion(name="future-dated document rejected at ingest", passed=ok,
                              details=details))  # fmt: skip

    # 6. Nothing dropped.
    status = Counter(p.status for p in o.pushed)
    answered = {p.doc.id for p in o.pushed}
    unanswered = [d.id for d in o.planned if d.id not in answered]
    # A 503 whose batch the broker took after all: the retry is an id duplicate, and the
    # document is in the store once. That is the push API's contract (retry on 503).
    earlier = sum(
        1 for p in o.pushed if p.status == "duplicate" and p.attempts > 1 and p.reason == "id"
    )
    ok = not unanswered and status["accepted"] + earlier == o.store_count
    criteria.append(
        Criterion(
            name="nothing dropped (documents accepted == documents counted in the store)",
            passed=ok,
            details=[
                f"planned {len(o.planned)}, answered {len(o.pushed)}: accepted "
                f"{status['accepted']}, duplicates {status['duplicate']}, rejected "
                f"{status['rejected']}; counted in the store {o.store_count}",
                f"of the duplicates, {earlier} were retries of a 503 whose documents had been written",
                *(f"FAIL never answered: {i}" for i in unanswered[:10]),
            ],
        )
    )

    # 7. Channel conventions, 8. services, 9. faults.
    criteria.append(Criterion(name="channels follow their conventions", passed=not o.channel_problems,
                              details=[f"FAIL {p}" for p in o.channel_problems[:20]]))  # fmt: skip
    criteria.append(Criterion(name="services survived the faults", passed=not o.service_failures,
                              details=[f"FAIL {f}" for f in o.service_failures]))  # fmt: skip
    criteria.append(Criterion(name="every scheduled fault happened", passed=not o.faults_missed,
                              details=[*(f"ok   {f}" for f in o.faults_done),
                                       *(f"FAIL {f}" for f in o.faults_missed)]))  # fmt: skip

    return Verdict(criteria=criteria, timings=_timings(o), figures=_figures(o))


def _timings(o: Outcome) -> list[EventTiming]:
    out = []
    for event in o.scenario.events:
        first = first_document(event, o.planned, o.offset)
        arrived = next((p.at for p in o.pushed if p.doc.id == first.id), None)
        series = f"ticker={event.ticker}"
        lo, _ = _span(event, o.offset)
        paged_at: dict[str, datetime | None] = {}
        for channel in CHANNELS:
            times = [d.at for d in o.deliveries
                     if d.channel == channel and d.series == series and d.state == "firing" and d.at >= lo]  # fmt: skip
            paged_at[channel] = min(times) if times else None
        fired = [a for a in o.log if a.notify and a.state == "firing"
                 and _event_of(a, o.scenario.events, o.offset) == event.name]  # fmt: skip
        decided = min((a.decided for a in fired if a.decided is not None), default=None)
        out.append(EventTiming(event=event.name, first_doc_original=first.published_at - o.offset,
                               first_doc_event_time=first.published_at,
                               first_doc_arrived=arrived, paged_at=paged_at, decided=decided))  # fmt: skip
    return out


def _figures(o: Outcome) -> dict[str, str]:
    return {
        "scenario": f"{o.scenario.name}: {o.scenario.start:%Y-%m-%d %H:%M} to "
        f"{o.scenario.end:%Y-%m-%d %H:%M} UTC, re-timed by {o.offset}",
        "state changes logged": str(len(o.log)),
        "pages received": ", ".join(
            f"{c} {sum(1 for d in o.deliveries if d.channel == c)}" for c in CHANNELS
        ),
    }


def _describe(a: LoggedAlert, offset: timedelta) -> str:
    original = a.window_start - offset
    return (
        f"{a.rule} {a.series_key} window {a.window_start:%m-%d %H:%M}"
        f" (original {original:%Y-%m-%d %H:%M})"
    )


def _minutes(delta: timedelta | None) -> str:
    return "-" if delta is None else f"{delta / timedelta(minutes=1):.1f} min"


def render(verdict: Verdict) -> str:
    """The report printed at the end of a soak."""
    lines = ["", "== finsent soak: pass criteria"]
    for c in verdict.criteria:
        lines.append(f"[{'PASS' if c.passed else 'FAIL'}] {c.name}")
        lines += [f"       {d}" for d in c.details]
    lines.append("")
    lines.append("== time to page (from the first document of each burst)")
    for t in verdict.timings:
        lines.append(
            f"{t.event}: first document {t.first_doc_original:%Y-%m-%d %H:%M:%S} UTC "
            f"(re-timed {t.first_doc_event_time:%m-%d %H:%M:%S})"
        )
        for channel, at in t.paged_at.items():
            soak = at - t.first_doc_arrived if at and t.first_doc_arrived else None
            lines.append(f"  {channel:<13} soak time {_minutes(soak)}")
        event_delta = t.decided - t.first_doc_event_time if t.decided else None
        lines.append(
            f"  {'decision':<13} event time {_minutes(event_delta)} (watermark at the decision)"
        )
    lines.append("")
    lines += [f"{k}: {v}" for k, v in verdict.figures.items()]
    lines.append(f"RESULT: {'PASS' if verdict.passed else 'FAIL'}")
    return "\n".join(lines)
