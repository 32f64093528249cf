"""Every event on the wire, as frozen pydantic models.

Rules (STYLE.md section 5): frozen, timezone-aware datetimes, `schema_version`,
`extra="ignore"` so a newer producer's added field never dead-letters an older consumer.
A breaking change gets a new `.vN` topic.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from finsent.labels import TOPIC_LABELS, SentimentLabel

MAX_TEXT_CHARS = 20_000
"""Hard cap on document text; ingest truncates longer bodies, the wire rejects them."""

LIVE_NAMESPACE = "live"
"""The namespace of live data. Replays run in their own namespace (see `finsent replay`)."""

Ticker = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9.\-]{0,9}$")]
Namespace = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,39}$")]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]

SeriesKind = Literal["ticker", "topic", "source", "all"]
AlertState = Literal["firing", "resolved"]
Severity = Literal["warning", "critical"]


class WireModel(BaseModel):
    """Base for every event: frozen, tolerant of fields added by newer producers."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Document(WireModel):
    """A news article or social post, normalised by ingest. Topic `news.documents.v1`."""

    schema_version: Literal[1] = 1
    id: Annotated[str, Field(min_length=1, max_length=200)]
    """Stable id: the source's own id when it has one, else a content hash."""
    source: Annotated[str, Field(min_length=1, max_length=100)]
    """Where it came from, e.g. `rss:reuters-markets`, `push:desk-bot`, `stocknet`."""
    url: str | None = None
    title: Annotated[str, Field(max_length=1000)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    language: Annotated[str, Field(max_length=16)] | None = None
    tickers: tuple[Ticker, ...] = ()
    published_at: AwareDatetime
    """Event time: all series and alerts are computed on this, never on the wall clock."""
    ingested_at: AwareDatetime
    namespace: Namespace = LIVE_NAMESPACE

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        return value

    @property
    def primary_ticker(self) -> str | None:
        return self.tickers[0] if self.tickers else None


class ScoredDocument(WireModel):
    """A document with the model's sentiment and topic. Topic `news.scored.v1`."""

    schema_version: Literal[1] = 1
    document_id: Annotated[str, Field(min_length=1, max_length=200)]
    source: str
    namespace: Namespace = LIVE_NAMESPACE
    tickers: tuple[Ticker, ...] = ()
    published_at: AwareDatetime
    ingested_at: AwareDatetime
    scored_at: AwareDatetime
    title: str | None = None
    snippet: Annotated[str, Field(max_length=300)] = ""
    """The start of the text, kept as evidence so an alert can say why."""
    url: str | None = None
    sentiment: SentimentLabel
    sentiment_probs: tuple[Probability, Probability, Probability]
    """Probabilities in `finsent.labels.SENTIMENT_LABELS` order."""
    score: Annotated[float, Field(ge=-1.0, le=1.0)]
    """Signed sentiment: P(positive) - P(negative)."""
    topic: str
    topic_probs: tuple[Probability, ...]
    """Probabilities in `finsent.labels.TOPIC_LABELS` order."""
    model_version: Annotated[str, Field(min_length=1, max_length=100)]

    @field_validator("topic")
    @classmethod
    def _known_topic(cls, value: str) -> str:
        if value not in TOPIC_LABELS:
            raise ValueError(f"unknown topic {value!r}")
        return value


class Evidence(WireModel):
    """One document cited by an alert."""

    document_id: str
    published_at: AwareDatetime
    snippet: str
    url: str | None = None
    score: float


class SeriesRef(WireModel):
    """Names one time series: overall (`all`), or per ticker, topic or source."""

    kind: SeriesKind
    value: str


class Alert(WireModel):
    """A state change of one incident. Topic `alerts.fired.v1`."""

    schema_version: Literal[1] = 1
    incident_id: str
    """Stable per (namespace, rule, series, first window start): one incident pages once."""
    rule: str
    namespace: Namespace = LIVE_NAMESPACE
    series: SeriesRef
    state: AlertState
    severity: Severity
    window_start: AwareDatetime
    window_end: AwareDatetime
    observed: float
    baseline: float
    z_score: float
    doc_count: Annotated[int, Field(ge=0)]
    evidence: tuple[Evidence, ...] = ()
    evaluated_at: AwareDatetime
    """Event-time watermark when the engine evaluated it (a replay evaluates late)."""
    decided_at: AwareDatetime | None = None
    """Event time at which the decision became final: `window_end` plus the rule's lateness,
    the watermark live data needs to reach. `decided_at - first document of the burst` is
    the time-to-page live would have had, on a replay too. None only on alerts logged
    before the field existed."""
    notify: bool = True
    """False for replays and stale windows: written to the log, never sent to on-call."""
