from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboards.web.window import HOURLY_FROM, MAX_POINTS, window_ending_at
from finsent.redis_keys import RESOLUTION_MS

# hypothesis takes naive bounds and attaches the timezone itself.
anchors = st.datetimes(
    min_value=datetime(2010, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
lengths = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=400))


@given(anchor=anchors, length=lengths)
def test_window_contains_the_anchor_in_its_last_step(anchor: datetime, length: timedelta) -> None:
    w = window_ending_at(anchor, length)
    assert w.end - w.step <= anchor < w.end
    assert w.length >= length
    assert w.length < length + w.step
    steps = w.length / w.step
    assert steps == int(steps) and 1 <= steps <= MAX_POINTS
    assert (w.step_s * 1000) % RESOLUTION_MS[w.resolution] == 0
    assert w.resolution == ("1h" if length >= HOURLY_FROM else "1m")


def test_a_replay_window_follows_its_2015_watermark() -> None:
    watermark = datetime(2015, 8, 24, 19, 59, 30, tzinfo=UTC)
    w = window_ending_at(watermark, timedelta(hours=24))
    assert w.step == timedelta(minutes=15)
    assert w.end == datetime(2015, 8, 24, 20, 0, tzinfo=UTC)
    assert w.start == datetime(2015, 8, 23, 20, 0, tzinfo=UTC)


def test_previous_window_is_adjacent_and_equally_long() -> None:
    w = window_ending_at(datetime(2015, 1, 5, tzinfo=UTC), timedelta(days=7))
    p = w.previous()
    assert p.end == w.start and p.length == w.length and p.step == w.step


@pytest.mark.parametrize("length", [timedelta(0), timedelta(seconds=-5)])
def test_degenerate_lengths_become_one_minute(length: timedelta) -> None:
    w = window_ending_at(datetime(2015, 1, 5, 0, 0, 30, tzinfo=UTC), length)
    assert w.length == timedelta(minutes=1)
