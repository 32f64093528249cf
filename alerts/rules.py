"""Alert rules: which series, which sliding window, how often, how long to wait for late data.

A rule judges, every `step_s` of event time, the sliding window `[t - window_s, t)` of each
series it covers (`t` a multiple of `step_s`, aligned to the Unix epoch in UTC). The window
ending at `t` is decided once the namespace's low watermark reaches `t + lateness_s`, and
never again: documents up to `lateness_s` late are all counted, whether they arrived on time
or late, so the decision is the same either way and the same in a replay as live.
`decided_at = t + lateness_s` is the event time at which it became final: the time-to-page
live would have had, measurable on any replay.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.detector import DAY_S, DetectorParams
from finsent.redis_keys import Resolution
from finsent.schemas import SeriesKind

MINUTE_S: Final = 60


class Rule(BaseModel):
    """One detector applied to every series of the given kinds."""

    model_config = ConfigDict(frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
    window_s: Annotated[int, Field(ge=60)]
    """Length of the sliding window judged at each step."""
    kinds: tuple[SeriesKind, ...]
    step_s: Annotated[int, Field(ge=60)] = 300
    """How often (event time) the window is judged: the granularity of time-to-page."""
    lateness_s: Annotated[int, Field(ge=0)] = 600
    """How late (event time, behind the newest document) data may arrive and still count.
    A window is decided this long after it ends: the price of never re-judging it."""
    params: DetectorParams = DetectorParams()

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if not self.kinds:
            raise ValueError("a rule needs at least one series kind")
        if self.step_s % MINUTE_S or self.window_s % MINUTE_S:
            raise ValueError("step_s and window_s must be whole minutes (minute buckets)")
        if self.window_s % self.step_s:
            raise ValueError("window_s must be a multiple of step_s")
        return self

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000

    @property
    def step_ms(self) -> int:
        return self.step_s * 1000

    @property
    def lateness_ms(self) -> int:
        return self.lateness_s * 1000

    @property
    def resolution(self) -> Resolution:
        """Minute buckets: steps of minutes need them (kept `minute_retention_s`)."""
        return "1m"

    @property
    def reach_s(self) -> int:
        """How far behind the watermark the rule reads: window, leaving step, lateness."""
        return self.window_s + self.step_s + self.lateness_s


DEFAULT_RULES: Final[tuple[Rule, ...]] = (
    # Busy series (the market, topics, sources, big names): an hour of posts, judged every
    # 5 minutes; needs a real crowd (30 documents, 10 negatives) and a clear share shift.
    Rule(
        name="negative-burst-1h",
        window_s=3600,
        kinds=("all", "topic", "source", "ticker"),
        params=DetectorParams(
            halflife_s=2 * DAY_S,
            min_count=30,
            min_negative=10,
            z_fire=4.0,
            min_surprise=4.0,
        ),
    ),
    # Quiet names (most tickers: a few posts a day, then a burst): six hours, so a burst
    # that builds over an afternoon is seen whole, judged every 5 minutes. A handful of
    # negatives is enough when the name is usually silent (the count test), as long as
    # they are also an unusual share of what is said about it (the share test).
    Rule(
        name="negative-burst-6h",
        window_s=6 * 3600,
        kinds=("ticker",),
        params=DetectorParams(
            halflife_s=14 * DAY_S,
            min_count=6,
            min_negative=3,
            z_fire=3.5,
            min_surprise=4.0,
            resolve_s=3600,
            cooldown_s=6 * 3600,
        ),
    ),
)
