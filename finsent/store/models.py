"""Values the store returns, and its options. Pure data: no Redis here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from finsent.schemas import LIVE_NAMESPACE, SeriesRef

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

    keep_replays: bool = True
    """Replay namespaces (every namespace but `live`) keep their whole history until
    `finsent replay drop`: a replay is bounded by its input, and trimming it behind its own
    newest event would refuse or cut a history longer than retention, whatever order its
    partitions arrive in. Retention then applies to `live` only. False: to every namespace."""
    backend: Literal["auto", "core", "timeseries"] = "auto"
    """`auto` uses RedisTimeSeries when the server has it; `timeseries` makes a server
    without it a start-up error (no silent fallback); `core` never uses it."""

    @model_validator(mode="after")
    def _ordered(self) -> StoreOptions:
        if not self.minute_retention_s <= self.hour_retention_s:
            raise ValueError("need minute_retention_s <= hour_retention_s")
        return self

    def trims(self, namespace: str) -> bool:
        """Whether retention applies to `namespace` (see `keep_replays`)."""
        return namespace == LIVE_NAMESPACE or not self.keep_replays

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


@dataclass(frozen=True, slots=True)
class SourceOffset:
    """Where a document was read from: the writes of one `(stream, partition)` into a
    namespace are fenced by its offset, so a redelivered batch is counted once.

    A plain dataclass, not a pydantic model: one is built per document on the hot path
    from values the Kafka client already typed.
    """

    stream: str
    partition: int
    offset: int

    @property
    def fence_field(self) -> str:
        return f"{self.stream}:{self.partition}"


class WriteResult(BaseModel):
    """What one `write_batch_detailed` call did, per document."""

    model_config = ConfigDict(frozen=True)

    new: int = 0
    duplicate: int = 0
    """At or below the stored fence of their partition: written by an earlier delivery."""
    rejected: tuple[tuple[str, str], ...] = ()
    """(document id, reason) of documents not written: the caller dead-letters them."""
