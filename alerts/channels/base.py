"""What every channel shares: the `Channel` protocol, `NotifyError` and one HTTP POST helper."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlencode

import httpx

from finsent.schemas import Alert


class NotifyError(Exception):
    """A channel could not deliver.

    Args:
        reason: short label for the failure metric (`timeout`, `http_503`, ...); never a URL.
        retry_after_s: the receiver's `Retry-After`, when it sent one.
    """

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    """Somewhere an alert is sent.

    A channel that wants active alerts repeated (Alertmanager) also has a `resend_s`
    attribute (seconds): it gets an open incident's firing alert again that often.
    Channels without it get each state change once.
    """

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one alert or raise `NotifyError`."""


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), None if absent."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def post(
    client: httpx.Client,
    url: str,
    content: bytes,
    headers: dict[str, str],
    auth: httpx.Auth | None = None,
) -> None:
    """POST and raise `NotifyError` on anything but 2xx.

    Errors carry a reason label only: httpx messages may contain the URL, which for Slack
    is the secret itself.
    """
    try:
        response = client.post(
            url,
            content=content,
            headers=headers,
            auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.TimeoutException:
        raise NotifyError("timeout") from None
    except httpx.HTTPError:
        raise NotifyError("connection") from None
    if not 200 <= response.status_code < 300:
        wait = retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        raise NotifyError(f"http_{response.status_code}", wait)


def describe(alert: Alert) -> str:
    """One line for humans (no document text)."""
    verb = "FIRING" if alert.state == "firing" else "RESOLVED"
    return (
        f"[{verb} {alert.severity}] {alert.rule} {alert.series.kind}={alert.series.value} "
        f"({alert.namespace}): negative share {alert.observed:.0%} vs baseline "
        f"{alert.baseline:.0%}, z={alert.z_score:.1f}, {alert.doc_count} docs, "
        f"window {alert.window_start:%Y-%m-%d %H:%M}–{alert.window_end:%H:%M} UTC"
    )


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>` on every request (httpx ships only basic/digest)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def web_view_url(web_url: str | None, alert: Alert) -> str | None:
    """finsent's web view at this incident: its series, its window with one window of
    context either side, and the alert opened with its evidence (`?ns=&ticker=&from=&to=
    &alert=`, the query the page writes for a shared view). None without a web URL."""
    if not web_url:
        return None
    span = alert.window_end - alert.window_start
    params = {"ns": alert.namespace}
    if alert.series.kind == "ticker":
        params["ticker"] = alert.series.value
    params |= {
        "from": rfc3339(alert.window_start - span),
        "to": rfc3339(alert.window_end + span),
        "alert": alert.incident_id,
    }
    return f"{web_url.rstrip('/')}/?{urlencode(params)}"
