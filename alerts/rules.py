"""Alert rules: which series, which window, which thresholds.

Windows are tumbling, aligned to the Unix epoch in UTC (a `1d` window is a UTC day), and
closed by the event-time watermark: `[start, start + window)` is evaluated once
`start + window + grace <= watermark`. The same documents therefore always give the same
windows and the same alerts, whether they arrived live or as a month replayed in a minute.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.detector import DetectorParams
from finsent.redis_keys import Resolution
from finsent.schemas import SeriesKind

HOUR_S: Final = 3600


class Rule(BaseModel):
    """One detector applied to every series of the given kinds."""

    model_config = ConfigDict(frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    window_s: Annotated[int, Field(ge=60)]
    kinds: tuple[SeriesKind, ...]
    grace_s: Annotated[int, Field(ge=0)] = 120
    """Event-time lateness a window waits for before it is evaluated."""
    params: DetectorParams = DetectorParams()

    @model_validator(mode="after")
    def _whole_minutes(self) -> Rule:
        if self.window_s % 60:
            raise ValueError("window_s must be whole minutes")
        if not self.kinds:
            raise ValueError("a rule needs at least one series kind")
        return self

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000

    @property
    def resolution(self) -> Resolution:
        """Hourly buckets when the window allows: kept a year, so replays stay evaluable."""
        return "1h" if self.window_s % HOUR_S == 0 else "1m"


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    # Busy series (all, topics, sources, large tickers): a day of 15-minute windows.
    Rule(
        name="negative-spike-15m",
        window_s=900,
        kinds=("all", "topic", "source", "ticker"),
        grace_s=120,
        params=DetectorParams(halflife_windows=96, min_count=30, min_history_windows=8),
    ),
    Rule(
        name="negative-spike-1h",
        window_s=3600,
        kinds=("all", "topic", "ticker"),
        grace_s=300,
        params=DetectorParams(halflife_windows=48, min_count=20, min_history_windows=6),
    ),
    # Quiet tickers (StockNet: a handful of tweets a day): two weeks of daily windows.
    Rule(
        name="negative-spike-1d",
        window_s=86_400,
        kinds=("ticker",),
        grace_s=3600,
        params=DetectorParams(
            halflife_windows=14,
            min_count=15,
            min_history_windows=5,
            min_baseline_docs=15,
            z_fire=3.5,
        ),
    ),
)
