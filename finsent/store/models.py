"""Values the store returns, and its options. Pure data: no Redis here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from finsent.schemas import SeriesRef

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exact (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def floor_ms(ms: int, step_ms: int) -> int:
    return ms - ms % step_ms


class StoreOptions(BaseModel):
    """Retention and evidence sizing. Retention counts back from each namespace's newest
    event time (its watermark), never from the wall clock, so a replay of 2015 stays queryable.
    """

    model_config = ConfigDict(frozen=True)

    minute_retention_s: Annotated[int, Field(ge=3600)] = 7 * 86_400
    """Minute buckets are kept this long behind the watermark."""
    max_lateness_s: Annotated[int, Field(ge=3600)] = 62 * 86_400
    """Per-document dedupe is kept this long behind the watermark, so a document up to this
    late is still counted exactly once (in the hourly series, and in the minute series if
    its minute is still kept); an older one is refused. Generous because a replay consumed
    from several partitions can run one partition weeks ahead of another."""
    hour_retention_s: Annotated[int, Field(ge=86_400)] = 365 * 86_400
    evidence_retention_s: Annotated[int, Field(ge=3600)] = 31 * 86_400
    """Evidence documents are kept this long behind the watermark (a replayed month stays
    citable)."""
    evidence_per_hour: Annotated[int, Field(ge=1, le=1000)] = 20
    """Most negative documents kept per series per event-time hour."""
    max_future_s: Annotated[int, Field(ge=0)] = 86_400
    """A document published this long after it was ingested is rejected (bad clock), so one
    bad timestamp cannot push the watermark ahead and expire everything."""
    trim_every_s: Annotated[int, Field(ge=60)] = 3600
    """Trim a namespace once its watermark has moved this much event time since the last trim."""
    trim_min_interval_s: Annotated[float, Field(ge=0)] = 30.0
    """...and at most this often by the wall clock, so a fast replay is not trimmed per batch.
    (Scheduling only: what is kept is still decided by event time.)"""

    @model_validator(mode="after")
    def _ordered(self) -> StoreOptions:
        if not self.minute_retention_s <= self.max_lateness_s <= self.hour_retention_s:
            raise ValueError("need minute_retention_s <= max_lateness_s <= hour_retention_s")
        return self

    @property
    def max_lateness_ms(self) -> int:
        return self.max_lateness_s * 1000

    @property
    def evidence_retention_ms(self) -> int:
        return self.evidence_retention_s * 1000

    @property
    def minute_retention_ms(self) -> int:
        return self.minute_retention_s * 1000

    @property
    def hour_retention_ms(self) -> int:
        return self.hour_retention_s * 1000


class SeriesTotals(BaseModel):
    """Sums over one or more buckets of one series."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    score_sum: float = 0.0

    def __add__(self, other: SeriesTotals) -> SeriesTotals:
        return SeriesTotals(
            count=self.count + other.count,
            negative=self.negative + other.negative,
            neutral=self.neutral + other.neutral,
            positive=self.positive + other.positive,
            score_sum=self.score_sum + other.score_sum,
        )

    @property
    def negative_share(self) -> float:
        """Fraction of documents labelled negative; 0 for an empty bucket."""
        return self.negative / self.count if self.count else 0.0

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.count if self.count else 0.0


class SeriesPoint(BaseModel):
    """One aggregated bucket `[start, start + step)` of a series."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    totals: SeriesTotals


class Mover(BaseModel):
    """A series whose negative share changed between two consecutive windows."""

    model_config = ConfigDict(frozen=True)

    series: SeriesRef
    before: SeriesTotals
    after: SeriesTotals

    @property
    def change(self) -> float:
        return self.after.negative_share - self.before.negative_share


class WriteResult(BaseModel):
    """What one `write_batch_detailed` call did, per document."""

    model_config = ConfigDict(frozen=True)

    new: int = 0
    duplicate: int = 0
    rejected: tuple[tuple[str, str], ...] = ()
    """(document id, reason) of documents not written: the caller dead-letters them."""
