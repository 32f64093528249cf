"""The JSON report of `finsent run --report`: what went in, what was scored, what paged."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pydantic import BaseModel, Field

from finsent.schemas import Alert


class SeriesTotalsOut(BaseModel):
    documents: int
    negative: int
    neutral: int
    positive: int
    negative_share: float
    mean_score: float


class AlertOut(BaseModel):
    """One alert state change, flattened for the report."""

    rule: str
    state: str
    kind: str
    value: str
    window_start: str
    window_end: str
    decided_at: str | None
    """Event time the decision became final (window end + lateness): time-to-page."""
    severity: str
    observed: float
    baseline: float
    z_score: float
    doc_count: int
    incident_id: str
    evidence: list[dict[str, Any]] = Field(default_factory=list)


class RunReport(BaseModel):
    """What `finsent run --report FILE` writes.

    `documents_in == duplicates + dead_lettered + scored`: every input is accounted for.
    """

    namespace: str
    inputs: list[str]
    documents_in: int
    duplicates: int
    dead_lettered: int
    scored: int
    refused_by_store: dict[str, int]
    """Of the dead-lettered, the documents the store refused, by reason (a replay keeps its
    whole history, so this stays empty unless something is wrong: it says what and why)."""
    ingest: dict[str, Any]
    per_ticker: dict[str, SeriesTotalsOut]
    alerts: list[AlertOut]
    model_version: str
    started_at: str
    finished_at: str


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        rule=alert.rule,
        state=alert.state,
        kind=alert.series.kind,
        value=alert.series.value,
        window_start=alert.window_start.astimezone(UTC).isoformat(),
        window_end=alert.window_end.astimezone(UTC).isoformat(),
        decided_at=alert.decided_at.astimezone(UTC).isoformat() if alert.decided_at else None,
        severity=alert.severity,
        observed=alert.observed,
        baseline=alert.baseline,
        z_score=alert.z_score,
        doc_count=alert.doc_count,
        incident_id=alert.incident_id,
        evidence=[e.model_dump(mode="json") for e in alert.evidence],
    )
