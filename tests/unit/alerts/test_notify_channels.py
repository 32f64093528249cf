"""Each channel follows its convention: Standard Webhooks, escaped Slack Block Kit, Alertmanager."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from alerts.channels.alertmanager import AlertmanagerChannel
from alerts.channels.base import BearerAuth, NotifyError, retry_after
from alerts.channels.slack import SlackChannel, escape, message
from alerts.channels.webhook import WebhookChannel, new_secret, parse_secret, webhook_id
from alerts.notify import Notifier
from finsent.schemas import Alert, AlertState, Evidence
from tests.http_receiver import Reply, http_receiver
from tests.sample_alerts import sample_alert

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def alert(state: AlertState = "firing", snippet: str = "s", ticker: str = "WMT") -> Alert:
    return sample_alert(
        ticker,
        state,
        at=NOW,
        evidence=(
            Evidence(
                document_id="d1",
                published_at=NOW,
                snippet=snippet,
                url="https://x.test/1?a=1&b=2",
                score=-0.9,
            ),
        ),
    )


def recording_client(*responses: httpx.Response) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if queue else httpx.Response(200)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


# -- webhook ---------------------------------------------------------------------------


def test_webhook_is_signed_to_the_standard_webhooks_spec() -> None:
    client, seen = recording_client()
    WebhookChannel("https://hook.test/x", SECRET, client, lambda: datetime.now(UTC)).send(alert())
    request = seen[0]
    headers = dict(request.headers)
    assert headers["webhook-id"] == webhook_id(alert())
    assert headers["webhook-signature"].startswith("v1,")
    # The reference library verifies it (signature over "id.timestamp.body", fresh timestamp).
    assert Webhook(SECRET).verify(request.content, headers) == json.loads(request.content)
    assert Alert.model_validate_json(request.content) == alert()
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.content, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.content.replace(b"WMT", b"XOM"), headers)


def test_webhook_id_is_the_dedupe_key_stable_across_retries() -> None:
    client, seen = recording_client(httpx.Response(503))
    clock = iter([NOW, NOW + timedelta(seconds=2)])
    channel = WebhookChannel("https://hook.test/x", SECRET, client, lambda: next(clock))
    notifier = Notifier([channel], attempts=2, backoff_s=0, sleep=lambda _: None)
    assert notifier.send("webhook", alert()) == "sent"
    first, second = (dict(r.headers) for r in seen)
    assert first["webhook-id"] == second["webhook-id"]
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 2
    assert webhook_id(alert("firing")) != webhook_id(alert("resolved"))


def test_webhook_secret_must_be_whsec_base64() -> None:
    assert parse_secret(SECRET) == b"0123456789abcdef0123456789abcdef"
    assert len(parse_secret(new_secret())) == 32
    with pytest.raises(ValueError, match="whsec_"):
        parse_secret("whsec_not base64!")
    with pytest.raises(ValueError, match="16 bytes"):
        parse_secret("whsec_" + base64.b64encode(b"short").decode())


@dataclass
class VerifyingReceiver:
    """The receiver check docs/alerts.md documents: verify, bound the age, dedupe on id."""

    secret: str
    url: str = ""
    processed: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    statuses: list[int] = field(default_factory=list)

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        try:
            # Signature over "id.timestamp.body" and |now - timestamp| <= 5 minutes.
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return 401
        msg_id = headers["webhook-id"]
        if msg_id not in self.seen_ids:  # a retry or a replay inside the window: no-op
            self.seen_ids.add(msg_id)
            self.processed.append(payload)
        return 204


@pytest.fixture
def receiver() -> Iterator[VerifyingReceiver]:
    box = VerifyingReceiver(SECRET)

    def respond(_path: str, headers: dict[str, str], body: bytes) -> Reply:
        status = box.handle({k.lower(): v for k, v in headers.items()}, body)
        box.statuses.append(status)
        return Reply(status)

    with http_receiver(respond) as server:
        box.url = server.url + "/hook"
        yield box


def test_a_receiver_verifies_pages_and_rejects_replays(receiver: VerifyingReceiver) -> None:
    captured: list[httpx.Request] = []

    def capture(request: httpx.Request) -> None:
        captured.append(request)

    with httpx.Client(timeout=5, event_hooks={"request": [capture]}) as client:
        live = WebhookChannel(receiver.url, SECRET, client, lambda: datetime.now(UTC))
        live.send(alert())
        live.send(alert())  # our retry after a lost 2xx: same webhook-id
        # An attacker replays the captured request byte for byte, 10 minutes later: its
        # timestamp (signed, so not editable) is stale.
        stale = WebhookChannel(
            receiver.url, SECRET, client, lambda: datetime.now(UTC) - timedelta(minutes=10)
        )
        with pytest.raises(NotifyError, match="http_401"):
            stale.send(alert())
        # A forged page (wrong key) is refused; so is a captured request with a new body.
        with pytest.raises(NotifyError, match="http_401"):
            WebhookChannel(receiver.url, new_secret(), client, lambda: datetime.now(UTC)).send(
                alert()
            )
        tampered = captured[0]
        response = client.post(
            receiver.url,
            content=tampered.content.replace(b'"firing"', b'"resolved"'),
            headers={k: v for k, v in tampered.headers.items() if k.startswith("webhook-")},
        )
        assert response.status_code == 401
        # Without a secret nothing verifies.
        with pytest.raises(NotifyError, match="http_401"):
            WebhookChannel(receiver.url, None, client, lambda: datetime.now(UTC)).send(alert())
    assert receiver.statuses == [204, 204, 401, 401, 401, 401]
    assert [Alert.model_validate(p) for p in receiver.processed] == [alert()]


# -- Slack -----------------------------------------------------------------------------


def test_slack_escapes_every_outside_text() -> None:
    hostile = "<!channel> buy & sell <@U123> <https://evil.test|click>"
    payload = message(alert(snippet=hostile, ticker="A<B"))
    header, *parsed = payload["blocks"]
    # plain_text is shown as is and never parsed for mentions; everything else is mrkdwn.
    assert header["text"]["type"] == "plain_text"
    everything = json.dumps([payload["text"], parsed])
    for raw in ("<!channel>", "<@U123>", "<https://evil.test", "A<B"):
        assert raw not in everything
    assert "&lt;!channel&gt; buy &amp; sell &lt;@U123&gt;" in payload["text"]
    mrkdwn = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert any("&lt;!channel&gt;" in t for t in mrkdwn)
    # Our own link survives, with its URL's `&` escaped the way Slack expects.
    assert "<https://x.test/1?a=1&amp;b=2|d1>" in payload["text"]
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"


def test_slack_sends_block_kit_with_a_text_fallback() -> None:
    client, seen = recording_client()
    SlackChannel("https://hooks.slack.test/T/B/X", client).send(alert())
    body = json.loads(seen[0].content)
    assert "FIRING" in body["text"] and "ticker=WMT" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"]["type"] == "plain_text"


def test_slack_pages_open_the_web_view_at_the_incident() -> None:
    page = alert()
    payload = message(page, web_url="https://finsent.example.com/")
    context = payload["blocks"][-1]["elements"][0]["text"]
    # The same view as Alertmanager's generatorURL; `&` escaped as Slack expects in a link.
    expected = AlertmanagerChannel(
        "http://am.test", httpx.Client(), lambda: NOW, web_url="https://finsent.example.com"
    ).generator_url(page)
    assert expected is not None and expected.startswith("https://finsent.example.com/?ns=live")
    link = f"<{escape(expected)}|open in finsent>"
    assert link in context and link in payload["text"]
    assert "open in finsent" not in json.dumps(message(page))  # no web URL configured


def test_slack_links_only_http_urls() -> None:
    bad = alert().model_copy(
        update={
            "evidence": (
                Evidence(
                    document_id="d2",
                    published_at=NOW,
                    snippet="x",
                    url="javascript:alert(1)",
                    score=-0.5,
                ),
            )
        }
    )
    assert "<javascript" not in message(bad)["text"]


def test_slack_429_retry_after_is_honoured() -> None:
    client, seen = recording_client(httpx.Response(429, headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    notifier = Notifier(
        [SlackChannel("https://hooks.slack.test/T/B/X", client)],
        attempts=3,
        backoff_s=0.5,
        sleep=sleeps.append,
    )
    assert notifier.send("slack", alert()) == "sent"
    assert len(seen) == 2 and sleeps == [2.0]


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert retry_after("30", NOW) == 30
    assert retry_after("Mon, 02 Mar 2026 10:01:00 GMT", NOW) == 60
    assert retry_after(None, NOW) is None and retry_after("soon", NOW) is None


# -- Alertmanager ----------------------------------------------------------------------


def test_alertmanager_short_ends_at_generator_url_and_runbook() -> None:
    client, seen = recording_client()
    now = {"t": NOW}
    channel = AlertmanagerChannel(
        "http://am.test:9093/",
        client,
        lambda: now["t"],
        resend_s=60,
        web_url="https://finsent.example.com/",
        runbook_url="https://wiki.example.com/finsent",
    )
    channel.send(alert("firing"))
    now["t"] = NOW + timedelta(minutes=1)
    channel.send(alert("firing"))  # the re-send of an active alert
    channel.send(alert("resolved"))
    fired, again, resolved = (json.loads(r.content)[0] for r in seen)
    assert str(seen[0].url) == "http://am.test:9093/api/v2/alerts"
    assert fired["labels"] == again["labels"] == resolved["labels"]  # the dedupe key
    assert fired["endsAt"] == "2026-03-02T10:04:00Z"  # now + 4 × resend_s
    assert again["endsAt"] == "2026-03-02T10:05:00Z" and again["startsAt"] == fired["startsAt"]
    assert resolved["endsAt"] == "2026-03-02T10:01:00Z"  # resolved: endsAt = now
    # The web view at this incident: its ticker, its window with one window of context
    # either side, the alert opened (the query the page itself writes for a shared view).
    generator = urlsplit(fired["generatorURL"])
    assert generator.netloc == "finsent.example.com" and generator.path == "/"
    assert parse_qs(generator.query) == {
        "ns": ["live"],
        "ticker": ["WMT"],
        "from": ["2026-03-02T09:30:00Z"],
        "to": ["2026-03-02T10:15:00Z"],
        "alert": [alert("firing").incident_id],
    }
    assert fired["annotations"]["runbook_url"] == "https://wiki.example.com/finsent"
    assert fired["annotations"]["drilldown_api"] == (
        "https://finsent.example.com/api/v1/namespaces/live/tickers/WMT"
        "?hours=1&end=2026-03-02T10%3A00%3A00Z"
    )
    assert channel.resend_s == 60


def test_alertmanager_hold_sets_how_far_ahead_ends_at_lies() -> None:
    client, seen = recording_client()
    channel = AlertmanagerChannel("http://am.test", client, lambda: NOW, resend_s=60, hold_s=900)
    channel.send(alert("firing"))
    channel.send(alert("resolved"))
    fired, resolved = (json.loads(r.content)[0] for r in seen)
    assert fired["endsAt"] == "2026-03-02T10:15:00Z"  # now + hold_s
    assert resolved["endsAt"] == "2026-03-02T10:00:00Z"  # a resolution is never held


def test_alertmanager_basic_and_bearer_auth() -> None:
    client, seen = recording_client()
    AlertmanagerChannel(
        "http://am.test", client, lambda: NOW, auth=httpx.BasicAuth("finsent", "pw")
    ).send(alert())
    AlertmanagerChannel("http://am.test", client, lambda: NOW, auth=BearerAuth("tok")).send(alert())
    basic = base64.b64encode(b"finsent:pw").decode()
    assert seen[0].headers["Authorization"] == f"Basic {basic}"
    assert seen[1].headers["Authorization"] == "Bearer tok"
    assert "generatorURL" not in json.loads(seen[0].content)[0]  # no web_url configured


def test_http_errors_become_notify_errors_without_the_url() -> None:
    client, _ = recording_client(httpx.Response(500))
    with pytest.raises(NotifyError) as caught:
        SlackChannel("https://hooks.slack.test/T/B/SECRET", client).send(alert())
    assert caught.value.reason == "http_500" and "SECRET" not in str(caught.value)
