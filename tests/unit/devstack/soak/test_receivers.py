"""Receivers verify and count pages as on-call would, independently of the sender."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx

from devstack.soak.receivers import (
    Received,
    Receiver,
    alertmanager_deliveries,
    new_webhook_secret,
    slack_deliveries,
    verify_standard_webhook,
    webhook_deliveries,
)
from finsent.clock import Clock

T0 = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)


def _signed(secret: str, msg_id: str, stamp: int, body: bytes) -> dict[str, str]:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1,bogus v1," + base64.b64encode(mac).decode(),
    }


def _alert(state: str, incident: str = "live.r.ticker.WMT.1") -> bytes:
    body = {"incident_id": incident, "state": state, "series": {"kind": "ticker", "value": "WMT"}}
    return json.dumps(body).encode()


def _req(channel: str, body: bytes, at: datetime, headers: dict[str, str] | None = None,
         status: int = 200) -> Received:  # fmt: skip
    return Received(channel=channel, real_s=at.timestamp(), at=at, status=status,
                    headers=headers or {}, body=body)  # fmt: skip


def test_standard_webhook_signature_is_verified_per_spec() -> None:
    secret = new_webhook_secret()
    body = _alert("firing")
    headers = _signed(secret, "msg_1", 1_700_000_000, body)
    assert verify_standard_webhook(secret, headers, body, 1_700_000_010) is None
    assert verify_standard_webhook(secret, headers, body + b" ", 1_700_000_010) is not None
    assert "from now" in str(verify_standard_webhook(secret, headers, body, 1_700_001_000))
    other = new_webhook_secret()
    assert verify_standard_webhook(other, headers, body, 1_700_000_010) == "no v1 signature matches"


def test_webhook_counts_a_resend_with_the_same_id_once_and_flags_legacy_signing() -> None:
    secret = new_webhook_secret()
    body = _alert("firing")
    stamp = int(T0.timestamp())
    signed = _signed(secret, "msg_1", stamp, body)
    requests = [
        _req("webhook", body, T0, signed, status=503),
        _req("webhook", body, T0, signed),
        _req("webhook", body, T0, signed),
        _req("webhook", _alert("resolved"), T0, {"x-finsent-signature": "sha256=00"}),
    ]
    deliveries, problems = webhook_deliveries(requests, secret, Clock())
    assert [d.state for d in deliveries] == ["firing", "firing", "resolved"]
    assert {d.key for d in deliveries if d.state == "firing"} == {"msg_1"}
    assert len(problems) == 1 and "legacy" in problems[0]


def test_alertmanager_fire_refresh_resolve_and_lapse() -> None:
    def post(at: datetime, ends: datetime, url: str = "http://web/x") -> Received:
        alert = {"labels": {"alertname": "A", "kind": "ticker", "series": "WMT", "incident_id": "i1"},
                 "endsAt": ends.isoformat().replace("+00:00", "Z"), "generatorURL": url}  # fmt: skip
        return _req("alertmanager", json.dumps([alert]).encode(), at)

    m = timedelta(minutes=1)
    requests = [
        post(T0, T0 + 4 * m),  # fires
        post(T0 + 2 * m, T0 + 6 * m),  # refresh: still one page
        post(T0 + 4 * m, T0 + 4 * m),  # resolves
        post(T0 + 10 * m, T0 + 14 * m),  # fires again: a second page
        post(T0 + 20 * m, T0 + 24 * m),  # endsAt lapsed at +14: auto-resolved, then fires again
    ]
    deliveries, problems = alertmanager_deliveries(requests)
    assert [d.state for d in deliveries] == ["firing", "resolved", "firing", "resolved", "firing"]
    assert any("lapsed" in p for p in problems)


def test_alertmanager_long_hold_and_missing_generator_url_are_reported() -> None:
    alert = {"labels": {"kind": "ticker", "series": "WMT"},
             "endsAt": (T0 + timedelta(hours=24)).isoformat()}  # fmt: skip
    _, problems = alertmanager_deliveries([_req("alertmanager", json.dumps([alert]).encode(), T0)])
    assert any("generatorURL" in p for p in problems)
    assert any("24h ahead" in p for p in problems)
    # A sender configured to hold 6 h (the soak's accelerated clock) may; 24 h still fails.
    body = json.dumps([{**alert, "endsAt": (T0 + timedelta(hours=6)).isoformat()}]).encode()
    _, problems = alertmanager_deliveries([_req("alertmanager", body, T0)], timedelta(hours=6))
    assert not any("ahead" in p for p in problems)
    _, problems = alertmanager_deliveries(
        [_req("alertmanager", json.dumps([alert]).encode(), T0)], timedelta(hours=6)
    )
    assert any("24h ahead" in p for p in problems)


def test_slack_text_and_blocks_are_parsed_and_raw_mentions_flagged() -> None:
    text = "[FIRING warning] negative-spike ticker=WMT (live): negative share 40%"
    blocks = {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "<!channel> x"}}],
    }
    deliveries, problems = slack_deliveries([
        _req("slack", json.dumps({"text": text}).encode(), T0),
        _req("slack", json.dumps(blocks).encode(), T0),
        _req("slack", json.dumps({"text": "[RESOLVED warning] r ticker=WMT (live)"}).encode(), T0),
    ])  # fmt: skip
    assert [(d.state, d.series) for d in deliveries] == [
        ("firing", "ticker=WMT"), ("firing", "ticker=WMT"), ("resolved", "ticker=WMT")
    ]  # fmt: skip
    assert any("@channel" in p for p in problems)


def test_receiver_outage_starts_on_the_matching_request_and_ends_after_its_duration() -> None:
    real = [T0.timestamp()]
    clock = Clock(speed=60, epoch=T0, real=lambda: real[0])
    receiver = Receiver("webhook", clock)
    try:
        receiver.arm_outage(lambda body: b"WMT" in body, duration_s=300)
        with httpx.Client() as client:
            assert client.post(receiver.url, content=b"AAPL").status_code == 200
            assert client.post(receiver.url, content=b"WMT").status_code == 503
            real[0] += 4  # four real seconds = four service minutes: still down
            assert client.post(receiver.url, content=b"AAPL").status_code == 503
            real[0] += 2
            assert client.post(receiver.url, content=b"WMT").status_code == 200
        assert [r.status for r in receiver.requests] == [200, 503, 503, 200]
        assert receiver.outage_started == T0
    finally:
        receiver.close()
