"""Generic webhook signed to the Standard Webhooks spec (https://www.standardwebhooks.com).

Headers: `webhook-id` (stable per incident state change: the receiver's dedupe key, the
same on every retry), `webhook-timestamp` (Unix seconds when this attempt was signed) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. The key is a
`whsec_<base64>` secret. A receiver verifies with the `standardwebhooks` library, rejects
timestamps more than 5 minutes off, and ignores an id it has already processed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from alerts.channels.base import post
from finsent.schemas import Alert

SECRET_PREFIX = "whsec_"


def parse_secret(text: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional).

    Raises:
        ValueError: not base64, or shorter than 16 bytes (the message never echoes it).
    """
    body = text.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "webhook secret must be 'whsec_' + base64 (make one: finsent alerts webhook-secret)"
        ) from None
    if len(key) < 16:
        raise ValueError("webhook secret must decode to at least 16 bytes")
    return key


def new_secret() -> str:
    """A fresh `whsec_` secret of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_id(alert: Alert) -> str:
    """`msg_<hash of incident id and state>`: one id per state change, header-safe."""
    digest = hashlib.sha256(f"{alert.incident_id}|{alert.state}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


class WebhookChannel:
    """POSTs the `Alert` JSON with Standard Webhooks headers.

    Args:
        url: the receiver.
        secret: the `whsec_` secret, or None to send unsigned (only when the settings
            allow it explicitly).
        client: shared HTTP client (timeouts).
        clock: the real wall clock for `webhook-timestamp`. Signing is a transport
            matter: it stays on real time even when a soak accelerates the service clock,
            so receivers can verify with any Standard Webhooks library.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None,
        client: httpx.Client,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._url, self._client, self._clock = url, client, clock
        self._signer = Webhook(parse_secret(secret)) if secret is not None else None

    def headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        msg_id, now = webhook_id(alert), self._clock().astimezone(UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if self._signer is not None:
            headers["webhook-signature"] = self._signer.sign(msg_id, now, body.decode())
        return headers

    def send(self, alert: Alert) -> None:
        body = alert.model_dump_json().encode()
        post(self._client, self._url, body, self.headers(alert, body))
