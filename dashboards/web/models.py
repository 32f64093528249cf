"""Response bodies of the web view's JSON API (documented in its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dashboards.web.window import Window
from finsent.schemas import Alert, Evidence, SeriesKind
from finsent.store.models import SeriesTotals


class ApiModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class NamespaceInfo(ApiModel):
    """A namespace holding data: `live` or a replay."""

    name: str
    watermark: AwareDatetime | None = Field(description="Newest event time written.")
    documents: int


class Point(ApiModel):
    """One step of a series. Ratios are null for a step without documents."""

    t: AwareDatetime = Field(description="Start of the step.")
    count: int
    negative: int
    neutral: int
    positive: int
    negative_share: float | None
    mean_score: float | None


class Totals(ApiModel):
    count: int
    negative_share: float | None
    mean_score: float | None

    @classmethod
    def of(cls, totals: SeriesTotals) -> Totals:
        return cls(
            count=totals.count,
            negative_share=totals.negative_share if totals.count else None,
            mean_score=totals.mean_score if totals.count else None,
        )


class SeriesSummary(ApiModel):
    """One series (a ticker, topic, ...) over the window, with the change from the window
    before. `change` is the rise in negative share (null without data in both windows)."""

    kind: SeriesKind
    value: str
    totals: Totals
    previous: Totals
    change: float | None
    points: tuple[Point, ...]


class Overview(ApiModel):
    """The market overview: every ticker, movers first, and the whole namespace."""

    namespace: str
    watermark: AwareDatetime | None
    window: Window
    market: SeriesSummary
    tickers: tuple[SeriesSummary, ...]
    tickers_total: int = Field(description="Tickers with data; `tickers` holds the top ones.")


class TickerDetail(ApiModel):
    """A ticker drill-down: its series, the market for comparison, evidence and alerts."""

    namespace: str
    watermark: AwareDatetime | None
    window: Window
    ticker: SeriesSummary
    market: SeriesSummary
    evidence: tuple[Evidence, ...]
    alerts: tuple[Alert, ...]


class TopicsView(ApiModel):
    namespace: str
    window: Window
    topics: tuple[SeriesSummary, ...]


class MetricSample(ApiModel):
    name: str
    labels: dict[str, str]
    value: float


class ServiceHealth(ApiModel):
    """One scraped `/metrics` endpoint."""

    url: str
    up: bool
    error: str | None = None
    samples: tuple[MetricSample, ...] = ()


class NamespaceHealth(ApiModel):
    name: str
    documents: int
    watermark: AwareDatetime | None


class PipelineHealth(ApiModel):
    """Service metrics when `FINSENT_WEB_METRICS_URLS` is set, store stats always."""

    source: Literal["prometheus", "store"]
    store_backend: str
    namespaces: tuple[NamespaceHealth, ...]
    services: tuple[ServiceHealth, ...] = ()
    summary: dict[str, float] = Field(
        default_factory=dict,
        description="Headline numbers summed over services, keyed by metric name "
        "(histograms as `<name>_p50`/`_p95` and `<name>_count`).",
    )
