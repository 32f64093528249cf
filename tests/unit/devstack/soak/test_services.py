"""The soak's services never see the user's own channels, stack or clock settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.settings import AlertsSettings
from devstack.soak.services import DROPPED_ENV, alerts_timing_env, private_settings, service_env
from finsent.settings import FinsentSettings


def test_private_stack_uses_its_own_free_ports_and_folder(tmp_path: Path) -> None:
    base = FinsentSettings()
    mine = private_settings(base, tmp_path / "stack")
    assert mine.stack.home == tmp_path / "stack"
    assert mine.redis.port == mine.stack.redis_port != base.redis.port
    assert mine.kafka.bootstrap_servers == f"127.0.0.1:{mine.stack.kafka_port}"
    assert mine.stack.kafka_libs is not None  # shares the fetched broker jars


def test_user_service_settings_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_ALERTS_SLACK_WEBHOOK_URL", "https://hooks.slack.com/real")
    monkeypatch.setenv("FINSENT_GRAFANA_URL", "https://grafana.example")
    monkeypatch.setenv("FINSENT_CLOCK_SPEED", "7")
    monkeypatch.setenv("FINSENT_REDIS__PASSWORD", "kept")
    settings = private_settings(FinsentSettings(clock_speed=1.0), tmp_path)
    env = service_env(settings, {"FINSENT_ALERTS_WEBHOOK_URL": "http://127.0.0.1:1/x"}, DROPPED_ENV)
    assert "FINSENT_ALERTS_SLACK_WEBHOOK_URL" not in env
    assert "FINSENT_GRAFANA_URL" not in env and "FINSENT_CLOCK_SPEED" not in env
    assert env["FINSENT_ALERTS_WEBHOOK_URL"] == "http://127.0.0.1:1/x"
    assert env["FINSENT_REDIS__PASSWORD"] == "kept"
    assert env["FINSENT_REDIS__PORT"] == str(settings.redis.port)


@pytest.mark.parametrize("speed", [1.0, 60.0, 120.0, 360.0, 1000.0])
def test_alerts_run_accepts_the_soak_timing(speed: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """`alerts run` refuses a poll longer than the Alertmanager re-send: the soak's must fit."""
    for name, value in alerts_timing_env(speed).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FINSENT_ALERTS_ALERTMANAGER_URL", "http://127.0.0.1:9")
    settings = AlertsSettings()
    assert settings.poll_interval_s <= settings.alertmanager_resend_s
    assert settings.poll_interval_s == max(10.0, min(180.0, 0.5 * speed))
    # A killed `alerts run` has a real minute to come back before Alertmanager would
    # resolve the open incident on its own (a second page when it re-sends).
    hold_s = settings.alertmanager_hold_s
    assert hold_s is not None and hold_s / speed >= 60.0
    assert hold_s >= 4 * settings.alertmanager_resend_s
