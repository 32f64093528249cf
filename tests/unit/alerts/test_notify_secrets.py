"""No secret ever reaches a log line, even at DEBUG with every library logging.

The engine's delivery path runs with every channel configured against a local HTTP
server (port 0): Slack (whose URL is the secret; it answers 429 once), the signed webhook,
Alertmanager with basic or bearer auth (it answers 500 once), Grafana with a token. The
service's own logging set-up (`alerts.cli.setup_logging`, as `finsent alerts run` calls
it) writes to stderr; the test reads every line and looks for every secret value.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import fakeredis
import httpx
import pytest

from alerts.channels.webhook import new_secret
from alerts.cli import build_channels, setup_logging
from alerts.engine import AlertEngine
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.settings import AlertsSettings
from alerts.state import OutboxEntry, Transition
from finsent.schemas import Alert, AlertState
from finsent.settings import FinsentSettings
from finsent.store import StoreOptions, TimeSeriesStore
from tests.http_receiver import HttpReceiver, Reply, http_receiver, ok_json
from tests.sample_alerts import T0, sample_alert

NS = "live"
SLACK_TOKEN = "XsLaCkToKeN0123456789abc"
AM_PASSWORD = "am-pass-0f3c9e1d77"
AM_TOKEN = "am-bearer-5b2e8a14cd"
REDIS_PASSWORD = "redis-pass-91ac3e57"
GRAFANA_TOKEN = "glsa_grafanatoken_7d1e0b"


@pytest.fixture
def server() -> Iterator[HttpReceiver]:
    failed_once: set[str] = set()

    def respond(path: str, headers: dict[str, str], body: bytes) -> Reply:
        kind = path.split("/")[1]
        if kind in ("services", "api") and path not in failed_once:
            failed_once.add(path)
            if kind == "services":  # Slack rate-limits the first post
                return Reply(429, headers={"Retry-After": "1"})
            if path == "/api/v2/alerts":  # Alertmanager fails once
                return Reply(500)
        return ok_json(path, headers, body)

    with http_receiver(respond) as box:
        yield box


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "kafka")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in loggers.items():
        logging.getLogger(name).setLevel(lvl)


def change(state: AlertState) -> Alert:
    return sample_alert(state=state, namespace=NS)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_no_secret_in_any_log_line_of_the_delivery_path(
    auth: str,
    server: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    webhook_secret = new_secret()
    slack_url = f"{server.url}/services/T000/B000/{SLACK_TOKEN}"
    monkeypatch.setenv("FINSENT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("FINSENT_REDIS__PASSWORD", REDIS_PASSWORD)
    monkeypatch.setenv("FINSENT_GRAFANA_URL", server.url)
    monkeypatch.setenv("FINSENT_GRAFANA_TOKEN", GRAFANA_TOKEN)
    credentials: dict[str, Any] = (
        {"alertmanager_username": "finsent", "alertmanager_password": AM_PASSWORD}
        if auth == "basic"
        else {"alertmanager_bearer_token": AM_TOKEN}
    )
    settings = AlertsSettings(
        webhook_url=f"{server.url}/hook",
        webhook_secret=webhook_secret,
        slack_webhook_url=slack_url,
        alertmanager_url=server.url,
        alertmanager_resend_s=30,
        publish_kafka=False,
        notify_attempts=2,
        notify_backoff_s=0,
        notify_max_retry_after_s=1,
        **credentials,
    )
    base = FinsentSettings()
    setup_logging(settings, base)
    now = {"t": T0}
    with httpx.Client(timeout=5) as client:
        channels = build_channels(settings, base, client, lambda: now["t"])
        assert sorted(c.name for c in channels) == ["alertmanager", "grafana", "slack", "webhook"]
        metrics = AlertMetrics()
        notifier = Notifier(
            channels, metrics, attempts=2, backoff_s=0, max_retry_after_s=1, sleep=lambda _: None
        )
        store = TimeSeriesStore(fakeredis.FakeRedis(), StoreOptions())
        engine = AlertEngine(store, settings, notifier, clock=lambda: now["t"], metrics=metrics)
        states: tuple[AlertState, ...] = ("firing", "resolved")
        for state in states:
            entry = OutboxEntry(alert=change(state), pending=notifier.channel_names)

            def evaluate(cursor: int | None, _: object, e: OutboxEntry = entry) -> Transition:
                return Transition(cursor_ms=(cursor or 0) + 1, changes=[e])

            committed = engine.state.transact(NS, "r", evaluate)
            assert committed is not None
            for _ in range(3):  # passes 40 s apart: Alertmanager gets the re-send
                assert engine.deliver(NS) == 0
                now["t"] += timedelta(seconds=40)
        logging.getLogger("alerts").error("a failure with a traceback", exc_info=True)

    paths = [p for p, _, _ in server.got]
    assert paths.count(f"/services/T000/B000/{SLACK_TOKEN}") == 3  # 429, then firing, resolved
    am = [h for p, h, _ in server.got if p == "/api/v2/alerts"]
    assert len(am) >= 4  # 500, firing, re-send(s), resolved
    basic = base64.b64encode(f"finsent:{AM_PASSWORD}".encode()).decode()
    expected = f"Basic {basic}" if auth == "basic" else f"Bearer {AM_TOKEN}"
    assert {h["Authorization"] for h in am} == {expected}

    logged = capsys.readouterr().err
    lines = logged.splitlines()
    # Every library logged at DEBUG, httpx included (its INFO line carries each URL).
    assert sum("HTTP Request: POST" in line for line in lines) >= 8
    assert any('"msg": "page delivered"' in line for line in lines)
    assert any('"msg": "notification failed"' in line for line in lines)
    secrets = [
        slack_url,
        SLACK_TOKEN,
        webhook_secret,
        webhook_secret.removeprefix("whsec_"),
        AM_PASSWORD,
        AM_TOKEN,
        basic,
        REDIS_PASSWORD,
        GRAFANA_TOKEN,
    ]
    leaked = [s for s in secrets if s in logged]
    assert leaked == []


def test_channels_without_a_web_url_warn_that_pages_carry_no_link(
    caplog: pytest.LogCaptureFixture,
) -> None:
    base = FinsentSettings()
    with httpx.Client(timeout=5) as client, caplog.at_level(logging.WARNING, "alerts.cli"):
        build_channels(AlertsSettings(alertmanager_url="http://am.test", publish_kafka=False),
                       base, client)  # fmt: skip
        assert any("FINSENT_ALERTS_WEB_URL is not set" in r.message for r in caplog.records)
        caplog.clear()
        linked = AlertsSettings(
            alertmanager_url="http://am.test", web_url="https://finsent.example.com",
            publish_kafka=False,
        )  # fmt: skip
        build_channels(linked, base, client)
        assert not any("WEB_URL" in r.message for r in caplog.records)
