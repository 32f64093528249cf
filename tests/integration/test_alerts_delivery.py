"""Delivery on the real Redis, and `finsent alerts run` as a real process logging no secret.

Receivers are local HTTP servers on 127.0.0.1 (port 0) that record what they get.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from alerts.channels.alertmanager import AlertmanagerChannel
from alerts.channels.base import Channel
from alerts.channels.webhook import WebhookChannel, new_secret
from alerts.cli import app
from alerts.delivery import Delivery, DeliveryOptions
from alerts.metrics import AlertMetrics
from alerts.notify import Notifier
from alerts.state import AlertStateStore, OutboxEntry, Transition
from finsent.schemas import Alert, AlertState, SeriesRef
from finsent.settings import REPO_ROOT, FinsentSettings
from finsent.store import open_store
from tests.http_receiver import HttpReceiver, http_receiver
from tests.sample_alerts import sample_alert

FINSENT = str(Path(sys.executable).parent / "finsent")


@pytest.fixture
def receivers() -> Iterator[HttpReceiver]:
    with http_receiver() as box:
        yield box


def change(ns: str, state: AlertState = "firing") -> Alert:
    return sample_alert(state=state, namespace=ns)


def commit(state: AlertStateStore, ns: str, alert: Alert, pending: Sequence[str]) -> None:
    entry = OutboxEntry(alert=alert, pending=tuple(pending))
    done = state.transact(
        ns, "r", lambda c, _s: Transition(cursor_ms=(c or 0) + 1, changes=[entry])
    )
    assert done is not None


class Crash(BaseException):
    pass


def test_a_restart_after_the_2xx_does_not_resend_on_real_redis(
    settings: FinsentSettings,
    namespace: str,
    receivers: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = open_store(settings, "core")
    secret = new_secret()
    try:
        with httpx.Client(timeout=5) as client:

            def replica() -> tuple[AlertStateStore, Delivery]:
                clock = lambda: datetime.now(UTC)  # noqa: E731
                channels: list[Channel] = [
                    WebhookChannel(receivers.url + "/hook", secret, client, clock),
                    AlertmanagerChannel(receivers.url, client, clock),
                ]
                state = AlertStateStore(store.client, clock)
                metrics = AlertMetrics()
                delivery = Delivery(
                    state.outbox_store,
                    Notifier(channels, metrics, attempts=1),
                    state.open_incidents,
                    DeliveryOptions(),
                    clock,
                    metrics,
                )
                return state, delivery

            state, first = replica()
            commit(state, namespace, change(namespace), ["webhook", "alertmanager"])

            def crash(*_: object) -> None:
                raise Crash

            monkeypatch.setattr(state.outbox_store, "remove", crash)
            with pytest.raises(Crash):
                first.deliver(namespace)
                assert sorted(receivers.paths()) == ["/api/v2/alerts", "/hook"]
            state2, restarted = replica()
            assert len(state2.outbox(namespace)) == 1  # the update was lost with the process
            shown = CliRunner().invoke(app, ["outbox", "--namespace", namespace])
            assert shown.exit_code == 0, shown.output
            assert "delivered=alertmanager,webhook pending=-" in shown.output
            assert restarted.deliver(namespace) == 0
            assert state2.outbox(namespace) == []
        assert sorted(receivers.paths()) == ["/api/v2/alerts", "/hook"]  # nothing re-sent
        _, headers, body = receivers.got[receivers.paths().index("/hook")]
        assert Webhook(secret).verify(body, headers)["state"] == "firing"
    finally:
        store.drop_namespace(namespace)
        store.close()


class SlowReceiver:
    """A channel whose every send takes `delay_s`; counts what it got."""

    def __init__(self, name: str, delay_s: float, started: threading.Event) -> None:
        self.name, self.delay_s, self.started = name, delay_s, started
        self.got: list[str] = []
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        self.started.set()
        time.sleep(self.delay_s)
        with self._lock:
            self.got.append(alert.series.value)


def test_two_replicas_deliver_each_page_once_on_real_redis(
    settings: FinsentSettings, namespace: str
) -> None:
    store = open_store(settings, "core")
    started = threading.Event()
    # Two channels in parallel threads renewing one lease; the pass (6 × 0.5 s) outlives
    # the 2 s lease, which Redis itself expires unless renewed.
    channels: list[Channel] = [
        SlowReceiver("slack", 0.5, started),
        SlowReceiver("webhook", 0.5, started),
    ]

    def replica() -> tuple[AlertStateStore, Delivery]:
        clock = lambda: datetime.now(UTC)  # noqa: E731
        state = AlertStateStore(store.client, clock)
        metrics = AlertMetrics()
        delivery = Delivery(
            state.outbox_store,
            Notifier(channels, metrics, attempts=1),
            state.open_incidents,
            DeliveryOptions(lease_s=2),
            clock,
            metrics,
        )
        return state, delivery

    try:
        (state, a), (_, b) = replica(), replica()
        tickers = [f"T{i}" for i in range(6)]
        for ticker in tickers:
            alert = change(namespace).model_copy(
                update={
                    "incident_id": f"{namespace}.r.ticker.{ticker}.1",
                    "series": SeriesRef(kind="ticker", value=ticker),
                }
            )
            commit(state, namespace, alert, ["slack", "webhook"])
        results: list[int] = []
        first = threading.Thread(target=lambda: results.append(a.deliver(namespace)))
        first.start()
        assert started.wait(30)
        tries = []
        while first.is_alive():
            tries.append(b.deliver(namespace))
            time.sleep(0.05)
        first.join()
        assert results == [0] and set(tries) == {-1}
        for channel in channels:
            assert isinstance(channel, SlowReceiver) and sorted(channel.got) == tickers
        assert state.outbox(namespace) == []
    finally:
        store.drop_namespace(namespace)
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REDIS_PASSWORD = "redis-pass-ce71b0f9a4"


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis of our own that requires a password (the stack's has none)."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is needed (finsent stack up uses it too)"
    port = free_port()
    proc = subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1"),
            *("--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no"),
            *("--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password=REDIS_PASSWORD)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)


def test_alerts_run_logs_no_secret_at_debug(
    password_redis: int, namespace: str, receivers: HttpReceiver
) -> None:
    webhook_secret = new_secret()
    slack_token = "XsLaCkSeCrEt9876543210"
    slack_url = f"{receivers.url}/services/T000/B000/{slack_token}"
    am_password, grafana_token = "am-pass-77d1e3a0b2", "glsa_token_5c0fa8e21"
    client = redis.Redis(port=password_redis, password=REDIS_PASSWORD)
    state = AlertStateStore(client)
    commit(state, namespace, change(namespace), ["webhook", "slack", "alertmanager", "grafana"])
    env = {
        **os.environ,
        "FINSENT_LOG_LEVEL": "DEBUG",
        "FINSENT_REDIS__PORT": str(password_redis),
        "FINSENT_REDIS__PASSWORD": REDIS_PASSWORD,
        "FINSENT_GRAFANA_URL": receivers.url,
        "FINSENT_GRAFANA_TOKEN": grafana_token,
        "FINSENT_ALERTS_WEBHOOK_URL": receivers.url + "/hook",
        "FINSENT_ALERTS_WEBHOOK_SECRET": webhook_secret,
        "FINSENT_ALERTS_SLACK_WEBHOOK_URL": slack_url,
        "FINSENT_ALERTS_ALERTMANAGER_URL": receivers.url,
        "FINSENT_ALERTS_ALERTMANAGER_USERNAME": "finsent",
        "FINSENT_ALERTS_ALERTMANAGER_PASSWORD": am_password,
        "FINSENT_ALERTS_PUBLISH_KAFKA": "false",
        "FINSENT_ALERTS_STORE_BACKEND": "core",
        "FINSENT_ALERTS_POLL_INTERVAL_S": "0.5",
        "FINSENT_ALERTS_METRICS_PORT": "0",
    }
    proc = subprocess.Popen(
        [FINSENT, "alerts", "run", "--namespace", namespace],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        wanted = {"/hook", f"/services/T000/B000/{slack_token}", "/api/v2/alerts"}
        while not (wanted <= set(receivers.paths()) and not state.outbox(namespace)):
            assert proc.poll() is None, "alerts run exited early"
            assert time.monotonic() < deadline, receivers.paths()
            time.sleep(0.2)
        time.sleep(2)  # a few more passes of the loop
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        client.close()
    assert proc.returncode == 0, stderr[-3000:]
    lines = stderr.splitlines()
    assert any('"level": "debug"' in line for line in lines)  # DEBUG really was on
    assert any("HTTP Request: POST" in line for line in lines)  # httpx's URL line, masked
    assert sum('"msg": "page delivered"' in line for line in lines) == 4
    assert any(p == "/api/annotations" for p in receivers.paths())
    secrets = [
        slack_url,
        slack_token,
        webhook_secret,
        webhook_secret.removeprefix("whsec_"),
        am_password,
        REDIS_PASSWORD,
        grafana_token,
    ]
    assert [s for s in secrets if s in stderr] == []
    json.loads(lines[-1])  # still one JSON object per line
