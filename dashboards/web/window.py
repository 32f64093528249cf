"""The time window a view shows: it ends at the namespace's watermark, not the wall clock.

A replay of 2015 has its newest event in 2015; a wall-clock window would be empty. The
step is chosen so a chart has at most `MAX_POINTS` points, on the coarsest resolution
the store keeps that is still fine enough.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict

from finsent.redis_keys import RESOLUTION_MS, Resolution
from finsent.store.models import floor_ms, from_ms, to_ms

MAX_POINTS: Final = 96
HOURLY_FROM: Final = timedelta(hours=48)
"""Windows this long or longer read the hourly series (minutes are kept for 7 days)."""


class Window(BaseModel):
    """`[start, end)` split into equal steps of `step_s` seconds on `resolution` buckets."""

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    step_s: int
    resolution: Resolution

    @property
    def step(self) -> timedelta:
        return timedelta(seconds=self.step_s)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Window:
        """The window of the same length just before this one (for "change" columns)."""
        return self.model_copy(update={"start": self.start - self.length, "end": self.start})


def _steps(length: timedelta) -> tuple[Resolution, int]:
    """The resolution to read and the step (ms) for a window of `length`."""
    resolution: Resolution = "1h" if length >= HOURLY_FROM else "1m"
    res_ms = RESOLUTION_MS[resolution]
    length_ms = length // timedelta(milliseconds=1)
    return resolution, max(res_ms, math.ceil(length_ms / MAX_POINTS / res_ms) * res_ms)


def window_ending_at(anchor: datetime, length: timedelta) -> Window:
    """A window of about `length` whose last step contains `anchor`.

    Args:
        anchor: usually the namespace watermark (newest event time).
        length: how much history to show; at least one minute.
    """
    length = max(length, timedelta(minutes=1))
    resolution, step_ms = _steps(length)
    length_ms = length // timedelta(milliseconds=1)
    # The step containing the anchor is the last one, so the newest data is always shown.
    end_ms = floor_ms(to_ms(anchor), step_ms) + step_ms
    steps = max(1, math.ceil(length_ms / step_ms))
    return Window(
        start=from_ms(end_ms - steps * step_ms),
        end=from_ms(end_ms),
        step_s=step_ms // 1000,
        resolution=resolution,
    )


def window_between(start: datetime, end: datetime) -> Window:
    """The window covering `[start, end)` on whole steps (a free range, e.g. after a zoom).

    The same `start` and `end` always give the same window, so a shared URL shows the same
    view. Raises ValueError unless `start` is before `end`.
    """
    if start >= end:
        raise ValueError("start must be before end")
    resolution, step_ms = _steps(max(end - start, timedelta(minutes=1)))
    first = floor_ms(to_ms(start), step_ms)
    last = -floor_ms(-to_ms(end), step_ms)  # ceiling: the step holding `end` is shown
    return Window(
        start=from_ms(first),
        end=from_ms(max(last, first + step_ms)),
        step_s=step_ms // 1000,
        resolution=resolution,
    )
