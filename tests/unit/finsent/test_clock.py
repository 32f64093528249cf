"""The service clock: real time by default; sped up, every process agrees on "now"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from finsent.clock import Clock
from finsent.errors import ConfigurationError
from finsent.settings import FinsentSettings

EPOCH = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


class FakeReal:
    def __init__(self, at: datetime) -> None:
        self.t = at.timestamp()

    def __call__(self) -> float:
        return self.t


def test_default_is_the_real_clock() -> None:
    real = FakeReal(EPOCH + timedelta(hours=5))
    clock = Clock(real=real)
    assert not clock.accelerated
    assert clock() == EPOCH + timedelta(hours=5)
    assert clock.real_seconds(10) == 10


def test_accelerated_now_is_epoch_plus_speed_times_real_elapsed() -> None:
    real = FakeReal(EPOCH)
    clock = Clock(speed=120, epoch=EPOCH, real=real)
    assert clock() == EPOCH  # service and real time agree at the epoch
    real.t += 30  # half a real minute ...
    assert clock() == EPOCH + timedelta(hours=1)  # ... is an hour of service time
    assert clock.now_s() == pytest.approx((EPOCH + timedelta(hours=1)).timestamp())


def test_processes_started_at_different_times_agree() -> None:
    real = FakeReal(EPOCH + timedelta(seconds=7))
    early = Clock(speed=60, epoch=EPOCH, real=real)
    real.t += 13
    late = Clock(speed=60, epoch=EPOCH, real=real)
    assert early() == late() == EPOCH + timedelta(seconds=20 * 60)


def test_real_seconds_and_delays_scale_by_speed() -> None:
    real = FakeReal(EPOCH)
    clock = Clock(speed=240, epoch=EPOCH, real=real)
    assert clock.real_seconds(240) == 1
    assert clock.real_delay_until(EPOCH + timedelta(minutes=8)) == pytest.approx(2.0)
    assert clock.real_delay_until(EPOCH - timedelta(minutes=8)) == 0.0
    assert clock.at_real(EPOCH.timestamp() + 1) == EPOCH + timedelta(minutes=4)


def test_accelerated_clock_without_epoch_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="FINSENT_CLOCK_EPOCH"):
        Clock(speed=120)
    with pytest.raises(ConfigurationError, match="positive"):
        Clock(speed=0, epoch=EPOCH)


def test_settings_build_the_clock_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_CLOCK_SPEED", "120")
    monkeypatch.setenv("FINSENT_CLOCK_EPOCH", "2026-11-29T21:00:00Z")
    clock = FinsentSettings().clock()
    assert clock.speed == 120 and clock.epoch == EPOCH
    monkeypatch.delenv("FINSENT_CLOCK_EPOCH")
    with pytest.raises(ValidationError, match="FINSENT_CLOCK_EPOCH"):
        FinsentSettings()


def test_unset_settings_give_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINSENT_CLOCK_SPEED", raising=False)
    monkeypatch.delenv("FINSENT_CLOCK_EPOCH", raising=False)
    clock = FinsentSettings().clock()
    assert not clock.accelerated
    assert abs(clock() - datetime.now(UTC)) < timedelta(seconds=5)
