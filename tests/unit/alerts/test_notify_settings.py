"""Channel settings refuse unsafe set-ups at start-up, with messages that never echo a secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from alerts.channels.webhook import new_secret
from alerts.cli import app
from alerts.settings import AlertsSettings


def test_a_webhook_without_a_secret_is_refused_unless_allowed() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        AlertsSettings(webhook_url="https://hook.test/x")
    assert AlertsSettings(webhook_url="https://hook.test/x", webhook_allow_unsigned=True)
    assert AlertsSettings(webhook_url="https://hook.test/x", webhook_secret=new_secret())


def test_alertmanager_auth_is_basic_or_bearer() -> None:
    with pytest.raises(ValidationError, match="both"):
        AlertsSettings(alertmanager_username="u")
    with pytest.raises(ValidationError, match="not both"):
        AlertsSettings(
            alertmanager_username="u", alertmanager_password="p", alertmanager_bearer_token="t"
        )


def test_alertmanager_resends_need_a_poll_at_least_as_often() -> None:
    with pytest.raises(ValidationError, match="POLL_INTERVAL_S"):
        AlertsSettings(
            alertmanager_url="http://am.test", poll_interval_s=90, alertmanager_resend_s=60
        )
    assert AlertsSettings(poll_interval_s=90)  # no Alertmanager: no constraint


def test_alertmanager_hold_must_outlast_two_resends() -> None:
    with pytest.raises(ValidationError, match="HOLD_S"):
        AlertsSettings(alertmanager_resend_s=60, alertmanager_hold_s=119)
    assert AlertsSettings(alertmanager_resend_s=60, alertmanager_hold_s=120)


def test_the_lease_must_outlast_one_attempt_and_the_wait_after_it() -> None:
    with pytest.raises(ValidationError, match="DELIVERY_LEASE_S"):
        AlertsSettings(delivery_lease_s=8, notify_timeout_s=5, notify_max_retry_after_s=5)
    assert AlertsSettings(delivery_lease_s=11, notify_timeout_s=5, notify_max_retry_after_s=5)


def test_a_bad_secret_fails_start_up_without_printing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = "whsec_this is not base64 but it is secret"
    monkeypatch.setenv("FINSENT_ALERTS_WEBHOOK_URL", "https://hook.test/x")
    monkeypatch.setenv("FINSENT_ALERTS_WEBHOOK_SECRET", bad)
    result = CliRunner().invoke(app, ["run", "--once"])
    assert result.exit_code == 2
    assert "whsec_" in result.output and bad not in result.output


def test_webhook_secret_command_prints_a_usable_secret() -> None:
    result = CliRunner().invoke(app, ["webhook-secret"])
    assert result.exit_code == 0
    assert AlertsSettings(webhook_url="https://h.test", webhook_secret=result.output.strip())


def test_empty_variables_mean_unset_as_compose_passes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "SLACK_WEBHOOK_URL", "ALERTMANAGER_PASSWORD"):
        monkeypatch.setenv(f"FINSENT_ALERTS_{name}", "")
    settings = AlertsSettings()
    assert settings.webhook_secret is None and settings.slack_webhook_url is None


def test_the_notifier_follows_the_retry_settings_and_counts_into_the_engines_metrics() -> None:
    """`alerts run` and `finsent run` build their notifier here; `finsent run` used to build
    a bare one that ignored FINSENT_ALERTS_NOTIFY_ATTEMPTS and counted into a registry of
    its own."""
    import httpx

    from alerts.cli import build_notifier
    from alerts.metrics import AlertMetrics
    from finsent.settings import FinsentSettings
    from tests.http_receiver import Reply, http_receiver
    from tests.sample_alerts import sample_alert

    page = sample_alert()
    with http_receiver(lambda *_: Reply(500)) as receiver:
        settings = AlertsSettings(
            webhook_url=receiver.url + "/hook",
            webhook_secret=new_secret(),
            notify_attempts=4,
            notify_backoff_s=0.0,
            publish_kafka=False,  # a unit test: no broker (the Kafka channel needs one)
        )
        metrics = AlertMetrics()
        with httpx.Client(timeout=5) as client:
            notifier = build_notifier(
                settings, FinsentSettings(), client, clock=lambda: page.window_end, metrics=metrics
            )
            assert notifier.send("webhook", page) == "failed"
    assert receiver.paths() == ["/hook"] * 4
    failures = [
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "finsent_alerts_notification_failures_total"
        and sample.labels["channel"] == "webhook"
    ]
    assert sum(failures) == 4  # counted into the registry handed in, the engine's own
