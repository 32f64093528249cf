"""Settings and rules: defaults are sane, the environment can override rules as JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import typer
from pydantic import ValidationError

from alerts.cli import parse_since
from alerts.rules import DEFAULT_RULES, Rule
from alerts.settings import AlertsSettings


def test_defaults_decide_every_few_minutes_for_busy_and_quiet_series() -> None:
    assert sorted(r.window_s for r in DEFAULT_RULES) == [3600, 6 * 3600]
    assert all(r.step_s <= 300 and r.lateness_s <= 600 for r in DEFAULT_RULES)
    quiet = next(r for r in DEFAULT_RULES if r.kinds == ("ticker",))
    assert quiet.params.min_count <= 10 and quiet.params.min_negative <= 5


def test_rules_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FINSENT_ALERTS_RULES", '[{"name": "quiet-2d", "window_s": 172800, "kinds": ["ticker"]}]'
    )
    monkeypatch.setenv("FINSENT_ALERTS_MAX_EVENT_LAG_S", "1800")
    settings = AlertsSettings()
    assert [r.name for r in settings.rules] == ["quiet-2d"] and settings.max_event_lag_s == 1800
    # The default lateness (600 s) cannot page under a 600 s lag: refused, not silent.
    monkeypatch.setenv("FINSENT_ALERTS_MAX_EVENT_LAG_S", "600")
    with pytest.raises(ValidationError, match="could never page"):
        AlertsSettings()


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValidationError):
        Rule(name="x", window_s=90, kinds=("ticker",))
    with pytest.raises(ValidationError):
        Rule(name="Bad Name", window_s=900, kinds=("ticker",))
    with pytest.raises(ValidationError, match="multiple of step_s"):
        Rule(name="x", window_s=900, step_s=600, kinds=("ticker",))


def test_since_accepts_relative_and_iso() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert parse_since("2026-03-01T09:00", now) == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday", now)
