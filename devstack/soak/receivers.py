"""Local HTTP receivers for the webhook, Slack and Alertmanager channels.

Each receiver binds port 0, records every request with the real and service time it
arrived, answers 2xx (or 503 during a planned outage), and turns what it received into
`Delivery` records: one per page as on-call would see it. They verify independently of
the sender's code: Standard Webhooks signatures from the spec, Alertmanager's
active/resolved semantics from `endsAt`, Slack messages from their text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from finsent.clock import Clock

Channel = Literal["webhook", "slack", "alertmanager"]
SIGNATURE_TOLERANCE_S = 300
"""Standard Webhooks: reject timestamps further than 5 minutes from now (replays)."""
AM_LONG_HOLD = timedelta(hours=1)
"""A firing Alertmanager alert should carry a short `endsAt` and be re-sent."""


class Received(BaseModel):
    """One HTTP request as a receiver saw it."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    real_s: float
    at: datetime
    """Service time of arrival."""
    status: int
    headers: dict[str, str]
    body: bytes


class Delivery(BaseModel):
    """One page as on-call sees it on one channel."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    state: Literal["firing", "resolved"]
    incident: str | None
    """Incident id when the channel carries it (webhook, Alertmanager labels)."""
    series: str
    """`kind=value`, e.g. `ticker=WMT`."""
    at: datetime
    key: str | None = None
    """The channel's dedupe key (webhook-id / Idempotency-Key), if any."""


class Receiver:
    """An HTTP server on 127.0.0.1:<free port> that records what it is sent.

    Args:
        channel: which channel this receiver stands for.
        clock: the soak's service clock (stamps arrivals, times outages).
    """

    def __init__(self, channel: Channel, clock: Clock) -> None:
        self.channel = channel
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._outage_until: datetime | None = None
        self._armed: tuple[Callable[[bytes], bool], float] | None = None
        self.outage_started: datetime | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status = receiver._status_for(body)
                receiver._record(
                    Received(
                        channel=channel,
                        real_s=time.time(),
                        at=clock.now(),
                        status=status,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                    )
                )
                reply = b"{}" if status < 300 else b'{"error": "planned outage"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"receiver-{channel}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def arm_outage(self, matches: Callable[[bytes], bool], duration_s: float) -> None:
        """Start a `duration_s` (service seconds) outage at the first matching request."""
        with self._lock:
            self._armed = (matches, duration_s)

    def start_outage(self, duration_s: float) -> None:
        with self._lock:
            self._begin_outage(duration_s)

    def _begin_outage(self, duration_s: float) -> None:
        now = self._clock.now()
        self._outage_until = now + timedelta(seconds=duration_s)
        self.outage_started = now
        self._armed = None

    def _status_for(self, body: bytes) -> int:
        with self._lock:
            if self._armed is not None and self._armed[0](body):
                self._begin_outage(self._armed[1])
            if self._outage_until is not None and self._clock.now() < self._outage_until:
                return 503
        return 200

    def _record(self, request: Received) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- webhook ---------------------------------------------------------------------------


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def verify_standard_webhook(
    secret: str, headers: dict[str, str], body: bytes, now_s: float
) -> str | None:
    """None when `body` carries a valid Standard Webhooks signature, else why not.

    Signed content is `{webhook-id}.{webhook-timestamp}.{body}`, HMAC-SHA256 with the
    base64-decoded part of the `whsec_` secret; `webhook-signature` lists `v1,<base64>`.
    """
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        sent_s = int(stamp)
    except ValueError:
        return f"webhook-timestamp {stamp!r} is not Unix seconds"
    if abs(now_s - sent_s) > SIGNATURE_TOLERANCE_S:
        return f"webhook-timestamp {sent_s} is {now_s - sent_s:+.0f}s from now"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no v1 signature matches"


def _alert_of(payload: Any) -> dict[str, Any] | None:
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload = payload["data"]
    return payload if isinstance(payload, dict) else None


def _series(alert: dict[str, Any]) -> str:
    series = alert.get("series")
    if isinstance(series, dict):
        return f"{series.get('kind')}={series.get('value')}"
    return "?"


def webhook_deliveries(
    requests: list[Received], secret: str, clock: Clock
) -> tuple[list[Delivery], list[str]]:
    """Pages the webhook receiver accepted (2xx), and every verification problem."""
    out: list[Delivery] = []
    problems: list[str] = []
    for r in requests:
        service_s = r.at.timestamp()
        if "webhook-signature" in r.headers:
            # The sender may stamp real or service time; either is "now" for this receiver.
            why = verify_standard_webhook(secret, r.headers, r.body, r.real_s)
            if why is not None and clock.accelerated:
                why = verify_standard_webhook(secret, r.headers, r.body, service_s) and why
        elif "x-finsent-signature" in r.headers:
            why = "legacy X-Finsent-Signature (body only, replayable), not Standard Webhooks"
        else:
            why = "unsigned request"
        if why is not None:
            problems.append(f"webhook request at {r.at:%H:%M:%S}: {why}")
        if r.status >= 300:
            continue
        alert = _alert_of(_json(r.body))
        if alert is None or alert.get("state") not in ("firing", "resolved"):
            problems.append(f"webhook request at {r.at:%H:%M:%S}: body is not an alert")
            continue
        key = r.headers.get("webhook-id") or r.headers.get("idempotency-key")
        out.append(
            Delivery(
                channel="webhook",
                state=alert["state"],
                incident=str(alert.get("incident_id")),
                series=_series(alert),
                at=r.at,
                key=key,
            )
        )
    return out, problems


# -- Slack -----------------------------------------------------------------------------

_STATE = re.compile(r"\b(FIRING|RESOLVED)\b", re.IGNORECASE)
_SERIES = re.compile(r"\b(ticker|topic|source|all)\s*[=:]\s*\*?`?([A-Za-z0-9.\-|&_ ]+?)[`*]?[\s(,]")
_MENTIONS = ("<!channel>", "<!here>", "<!everyone>")


def _texts(value: Any) -> list[str]:
    """Every string under `value` (Block Kit nests text objects)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    return []


def slack_deliveries(requests: list[Received]) -> tuple[list[Delivery], list[str]]:
    out: list[Delivery] = []
    problems: list[str] = []
    for r in requests:
        payload = _json(r.body)
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            problems.append(f"slack request at {r.at:%H:%M:%S}: no `text` fallback")
            continue
        text = " ".join(_texts(payload))
        if any(m in text for m in _MENTIONS):
            problems.append(f"slack request at {r.at:%H:%M:%S}: unescaped @channel/@here")
        if r.status >= 300:
            continue
        state, series = _STATE.search(text), _SERIES.search(text + " ")
        if state is None or series is None:
            problems.append(f"slack request at {r.at:%H:%M:%S}: cannot tell state or series")
            continue
        out.append(
            Delivery(
                channel="slack",
                state="firing" if state.group(1).upper() == "FIRING" else "resolved",
                incident=None,
                series=f"{series.group(1)}={series.group(2).strip()}",
                at=r.at,
            )
        )
    return out, problems


# -- Alertmanager ----------------------------------------------------------------------


def alertmanager_deliveries(
    requests: list[Received], max_hold: timedelta = AM_LONG_HOLD
) -> tuple[list[Delivery], list[str]]:
    """Alertmanager semantics: an alert is active while `endsAt` is ahead of arrival.

    `max_hold` is the furthest ahead a firing post's `endsAt` may lie: the sender's
    configured hold, never a day-long one that stops Alertmanager noticing a dead sender.

    A post that makes an inactive alert active is a page (firing); a post that ends an
    active one is its resolution; re-sends of an active alert are refreshes. An alert
    whose `endsAt` lapsed before the next re-send was auto-resolved by Alertmanager, and
    its next firing post pages again: both are reported.
    """
    out: list[Delivery] = []
    problems: list[str] = []
    ends_by: dict[str, datetime] = {}  # fingerprint -> endsAt of the last firing post
    active: set[str] = set()
    for r in sorted(requests, key=lambda r: r.real_s):
        if r.status >= 300:
            continue
        payload = _json(r.body)
        if not isinstance(payload, list):
            problems.append(f"alertmanager request at {r.at:%H:%M:%S}: body is not a list")
            continue
        for alert in payload:
            labels = alert.get("labels") if isinstance(alert, dict) else None
            if not isinstance(labels, dict) or "endsAt" not in alert:
                problems.append(f"alertmanager request at {r.at:%H:%M:%S}: malformed alert")
                continue
            fingerprint = json.dumps(labels, sort_keys=True)
            ends = datetime.fromisoformat(str(alert["endsAt"]).replace("Z", "+00:00"))
            series = f"{labels.get('kind', '?')}={labels.get('series', '?')}"
            incident = str(labels.get("incident_id") or fingerprint)
            if fingerprint in active and ends_by[fingerprint] < r.at:
                problems.append(
                    f"alertmanager {series}: endsAt lapsed at {ends_by[fingerprint]:%H:%M:%S} "
                    "before a re-send (Alertmanager auto-resolved it)"
                )
                out.append(Delivery(channel="alertmanager", state="resolved", incident=incident,
                                    series=series, at=ends_by[fingerprint]))  # fmt: skip
                active.discard(fingerprint)
            if ends <= r.at:  # a resolution
                if fingerprint in active:
                    active.discard(fingerprint)
                    out.append(Delivery(channel="alertmanager", state="resolved",
                                        incident=incident, series=series, at=r.at))  # fmt: skip
                elif fingerprint not in ends_by:
                    out.append(Delivery(channel="alertmanager", state="resolved",
                                        incident=incident, series=series, at=r.at))  # fmt: skip
                    ends_by[fingerprint] = ends
                continue
            if not alert.get("generatorURL"):
                problems.append(f"alertmanager {series}: no generatorURL")
            if ends - r.at > max_hold:
                hours = (ends - r.at) / timedelta(hours=1)
                problems.append(f"alertmanager {series}: endsAt {hours:.0f}h ahead, not re-sent")
            if fingerprint not in active:
                active.add(fingerprint)
                out.append(Delivery(channel="alertmanager", state="firing", incident=incident,
                                    series=series, at=r.at))  # fmt: skip
            ends_by[fingerprint] = ends
    return out, sorted(set(problems))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
