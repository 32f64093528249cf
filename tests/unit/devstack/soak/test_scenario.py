"""Re-timing real tweets to the soak's "now", with the late batch and the future document."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.soak.scenario import (
    DEFAULT_DATA,
    DRILL,
    FULL,
    SHORT,
    WMT,
    Fault,
    Scenario,
    first_document,
    load_tweets,
    plan,
    retime,
    start_offset,
)
from finsent.clock import Clock

D = datetime(2015, 10, 14, tzinfo=UTC)


def _tweet(folder: Path, ticker: str, id_str: str, at: datetime, text: str) -> None:
    (folder / ticker).mkdir(parents=True, exist_ok=True)
    created = at.strftime("%a %b %d %H:%M:%S +0000 %Y")
    line = {"id_str": id_str, "created_at": created, "text": text, "lang": "en",
            "user": {"screen_name": "never-read"}}  # fmt: skip
    with (folder / ticker / at.strftime("%Y-%m-%d")).open("a") as handle:
        handle.write(json.dumps(line) + "\n")


def test_tweets_are_merged_across_tickers_deduplicated_and_sorted(tmp_path: Path) -> None:
    raw = tmp_path / "stocknet-dataset" / "tweet" / "raw"
    _tweet(raw, "WMT", "2", D + timedelta(hours=15), "$WMT $AMZN down")
    _tweet(raw, "AMZN", "2", D + timedelta(hours=15), "$WMT $AMZN down")
    _tweet(raw, "WMT", "1", D + timedelta(hours=14), "$WMT flat")
    _tweet(raw, "WMT", "3", D + timedelta(hours=30), "outside")
    tweets = load_tweets(tmp_path, D, D + timedelta(days=1))
    assert [t.id_str for t in tweets] == ["1", "2"]
    assert tweets[1].filed_under == ("AMZN", "WMT")


def test_plan_retimes_holds_back_the_late_batch_and_adds_a_day_ahead_document(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "stocknet-dataset" / "tweet" / "raw"
    _tweet(raw, "WMT", "1", D + timedelta(hours=14, minutes=57), "$WMT plunges")
    _tweet(raw, "WMT", "2", D + timedelta(hours=15, minutes=8), "$WMT lower")
    _tweet(raw, "WMT", "3", D + timedelta(hours=15, minutes=30), "$WMT later")
    scenario = Scenario(
        name="t", start=D, end=D + timedelta(days=1), speed=100, events=(WMT,),
        faults=(
            Fault(kind="late_batch", at=D + timedelta(hours=15, minutes=7), span_s=600, duration_s=600),
            Fault(kind="future_document", at=D + timedelta(hours=12)),
        ),
    )  # fmt: skip
    offset = timedelta(days=4058)
    docs = {
        d.id: d for d in plan(scenario, load_tweets(tmp_path, D, D + timedelta(days=1)), offset)
    }
    assert (
        docs["tw:1"].published_at
        == docs["tw:1"].due
        == D + timedelta(hours=14, minutes=57) + offset
    )
    late = docs["tw:2"]
    assert late.planted == "late"
    assert late.published_at == D + timedelta(hours=15, minutes=8) + offset
    assert late.due == D + timedelta(hours=15, minutes=27) + offset  # span end + 10 min
    future = docs["soak:future-dated"]
    assert future.published_at - future.due == timedelta(days=1)
    assert first_document(WMT, list(docs.values()), offset).id == "tw:1"
    assert docs["tw:1"].body() == {
        "id": "tw:1", "source": "stocknet", "text": "$WMT plunges",
        "published_at": docs["tw:1"].published_at.isoformat(), "language": "en",
    }  # fmt: skip


def test_short_scenario_fits_ci() -> None:
    stream_s = SHORT.span.total_seconds() / SHORT.speed
    assert stream_s <= 180  # the rest of the 5 minutes is start-up and drain
    assert {f.kind for f in SHORT.faults} == {
        "future_document", "late_batch", "channel_outage", "kill_alerts", "broker_restart",
        "redis_restart",
    }  # fmt: skip


@pytest.mark.parametrize("scenario", [SHORT, FULL], ids=["short", "full"])
def test_shipped_scenarios_find_their_bursts_in_the_real_data(scenario: Scenario) -> None:
    data = Path(os.environ.get("FINSENT_DATA_DIR", DEFAULT_DATA))
    if not (data / "stocknet-dataset" / "tweet" / "raw").is_dir():
        pytest.skip("StockNet data not present (set FINSENT_DATA_DIR)")
    tweets = load_tweets(data, scenario.start, scenario.end)
    docs = plan(scenario, tweets, timedelta(0))
    assert sum(d.planted == "future" for d in docs) == 1
    assert any(d.planted == "late" for d in docs)
    for event in scenario.events:
        first = first_document(event, docs, timedelta(0))
        assert scenario.start <= event.match_from <= first.published_at <= event.match_to
    for fault in scenario.faults:
        moment = fault.at or fault.deadline
        assert moment is not None and scenario.start <= moment < scenario.end


def test_a_drill_is_pushed_evenly_over_its_spread_under_its_own_source() -> None:
    scenario = Scenario(name="t", start=D, end=D + timedelta(days=1), speed=100,
                        events=(DRILL,), faults=())  # fmt: skip
    offset = timedelta(days=4058)
    docs = [d for d in plan(scenario, [], offset) if d.planted == "drill"]
    assert [d.text for d in docs] == list(DRILL.drill)
    assert docs[0].published_at == DRILL.start + offset
    gaps = {b.published_at - a.published_at for a, b in itertools.pairwise(docs)}
    assert gaps == {timedelta(seconds=DRILL.drill_spread_s / len(DRILL.drill))}
    assert all(d.due == d.published_at for d in docs)  # live, on time
    assert {d.body()["source"] for d in docs} == {"drill"}
    assert all(f"${DRILL.ticker}" in d.text for d in docs)  # each one is tagged
    assert first_document(DRILL, docs, offset) is docs[0]


def test_the_incident_timed_faults_strike_the_drill() -> None:
    """The outage and the kill need an incident that pages whatever the model makes of
    a real event: both scenarios hang them on the drill."""
    for scenario in (SHORT, FULL):
        triggered = {f.on_page for f in scenario.faults if f.on_page is not None}
        assert triggered == {DRILL.name}
        assert DRILL in scenario.events


def test_retiming_keeps_the_time_of_day_and_starts_the_stream_after_the_allowance() -> None:
    # Started at any minute, the soak re-times by whole days, so every rule window holds
    # what it held in the original (a 6-hour boundary inside WMT's burst once decided
    # whether it paged), and its clock reaches the scenario's start `allowance` from now.
    for minute in (0, 7, 23 * 60 + 31, 13 * 60 + 59):
        now = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=minute, seconds=17)
        for speed in (120.0, 360.0):
            r = retime(SHORT.start, speed, now, allowance_s=25)
            assert r.offset % timedelta(days=1) == timedelta(0)
            assert r.epoch is not None
            clock = Clock(speed, r.epoch)
            at = clock.at_real((now + timedelta(seconds=25)).timestamp())
            assert abs(at - (SHORT.start + r.offset)) < timedelta(milliseconds=1)
            # Never in the past: the epoch is at most a day of service time before it.
            assert now - timedelta(days=1) / speed <= r.epoch <= now + timedelta(seconds=25)


def test_retiming_at_real_time_speed_rounds_the_offset_to_a_quarter_hour() -> None:
    now = datetime(2026, 11, 30, 9, 2, 11, tzinfo=UTC)
    r = retime(SHORT.start, 1.0, now, allowance_s=25)
    assert r.epoch is None and r.offset % timedelta(minutes=15) == timedelta(0)
    assert (
        timedelta(0)
        <= SHORT.start + r.offset - (now + timedelta(seconds=25))
        < timedelta(minutes=15)
    )


def test_a_late_start_moves_the_stream_by_whole_steps() -> None:
    now = datetime(2026, 11, 30, 9, 2, 11, tzinfo=UTC)
    accelerated = retime(SHORT.start, 360.0, now, allowance_s=25)
    on_time = SHORT.start + accelerated.offset
    assert start_offset(accelerated, SHORT.start, on_time) == accelerated.offset
    late = start_offset(accelerated, SHORT.start, on_time + timedelta(minutes=1))
    assert late == accelerated.offset + timedelta(days=1)  # the time of day is kept
    real_time = retime(SHORT.start, 1.0, now, allowance_s=25)
    late = start_offset(
        real_time, SHORT.start, SHORT.start + real_time.offset + timedelta(seconds=1)
    )
    assert late == real_time.offset + timedelta(minutes=15)
