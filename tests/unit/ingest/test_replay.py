from datetime import UTC, datetime, timedelta

import pytest

from finsent.errors import ConfigurationError
from ingest.replay import Pacer, check_namespace, default_namespace


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


T0 = datetime(2015, 10, 1, tzinfo=UTC)


def test_pacer_spaces_events_at_n_times_real_time() -> None:
    clock = FakeTime()
    pacer = Pacer(60.0, clock.monotonic, clock.sleep)
    for minutes in (0, 1, 1, 3):
        pacer.wait_for(T0 + timedelta(minutes=minutes))
    assert clock.slept == [pytest.approx(1.0), pytest.approx(2.0)]


def test_pacer_does_not_sleep_when_processing_is_already_late() -> None:
    clock = FakeTime()
    pacer = Pacer(1.0, clock.monotonic, clock.sleep)
    pacer.wait_for(T0)
    clock.now += 120
    pacer.wait_for(T0 + timedelta(minutes=1))
    assert clock.slept == []


def test_max_speed_never_sleeps() -> None:
    clock = FakeTime()
    pacer = Pacer(None, clock.monotonic, clock.sleep)
    pacer.wait_for(T0)
    pacer.wait_for(T0 + timedelta(days=30))
    assert clock.slept == []
    with pytest.raises(ValueError):
        Pacer(0)


def test_replays_never_use_live_and_names_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="live"):
        check_namespace("live")
    with pytest.raises(ConfigurationError, match="bad namespace"):
        check_namespace("Has Spaces")
    name = default_namespace(datetime(2026, 11, 28, 17, 5, 9, tzinfo=UTC))
    assert name == "replay-20261128t170509" == check_namespace(name)


def test_every_paging_namespace_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="page on-call"):
        check_namespace("desk-eu", paging=("live", "desk-eu"))
    with pytest.raises(ConfigurationError):
        check_namespace("live", paging=())  # live always pages
    assert check_namespace("replay-1", paging=("live", "desk-eu")) == "replay-1"


@pytest.mark.parametrize(
    "command", [["file", "unused.jsonl"], ["kafka", "--from", "2026-01-01", "--to", "2026-01-02"]]
)
def test_replay_commands_refuse_a_configured_paging_namespace(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `desk2` pages on-call because the alerts service is told so; the replay commands
    # read the same setting, so a replay can never write into it (and nothing is read).
    from typer.testing import CliRunner

    from ingest.cli import replay_app

    monkeypatch.setenv("FINSENT_ALERTS_PAGE_NAMESPACES", '["live", "desk2"]')
    result = CliRunner().invoke(replay_app, [*command, "--namespace", "desk2"])
    assert result.exit_code != 0
    assert "its alerts page on-call" in result.output
