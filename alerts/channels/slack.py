"""Slack incoming webhook: Block Kit with a plain-text fallback, every outside text escaped.

Slack parses `<...>` in message text as links and mentions: a tweet containing
`<!channel>` would ping the whole channel. Every text that does not come from us
(tickers, topics, document ids, snippets, URLs) goes through `escape`, as Slack's
"Formatting text" guide asks: `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;`.
Slack has no dedupe key: the per-channel delivered markers (alerts/delivery.py) are
what keeps a page from being sent twice.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from alerts.channels.base import describe, post, web_view_url
from finsent.schemas import Alert

SNIPPET_CHARS = 200
EVIDENCE_SHOWN = 3


def escape(text: str) -> str:
    """Slack's three control characters as entities (and nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str | None, label: str) -> str:
    """A `<url|label>` link for http(s) URLs only; other schemes are shown as plain text."""
    if url is None or not url.startswith(("https://", "http://")):
        return escape(label)
    # `|` and `>` would end the link early; percent-encoding keeps the URL equivalent.
    safe_url = escape(url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C"))
    return f"<{safe_url}|{escape(label)}>"


def message(alert: Alert, web_url: str | None = None) -> dict[str, Any]:
    """The Slack payload: `text` (notifications, clients without blocks) and `blocks`.

    With `web_url` (FINSENT_ALERTS_WEB_URL), a link opens finsent's web view at the incident.
    """
    summary = escape(describe(alert))
    evidence = [
        f"• {ev.score:+.2f} {_link(ev.url, ev.document_id)}: {escape(ev.snippet[:SNIPPET_CHARS])}"
        for ev in alert.evidence[:EVIDENCE_SHOWN]
    ]
    verb = "FIRING" if alert.state == "firing" else "RESOLVED"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            # plain_text is never parsed for mentions; Slack caps headers at 150 characters.
            "text": {
                "type": "plain_text",
                "text": f"{verb}: negative sentiment on {alert.series.kind} {alert.series.value}"[
                    :150
                ],
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
    ]
    if evidence:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(evidence)[:3000]}}
        )
    context = f"incident `{escape(alert.incident_id)}`"
    view = web_view_url(web_url, alert)
    if view is not None:
        context += " · " + _link(view, "open in finsent")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    lines = [summary, *evidence, *([_link(view, "open in finsent")] if view else [])]
    return {"text": "\n".join(lines), "blocks": blocks}


class SlackChannel:
    """Posts `message(alert)` to an incoming-webhook URL (the URL is the secret)."""

    name = "slack"

    def __init__(self, url: str, client: httpx.Client, web_url: str | None = None) -> None:
        self._url, self._client, self._web_url = url, client, web_url

    def send(self, alert: Alert) -> None:
        body = json.dumps(message(alert, self._web_url)).encode()
        post(self._client, self._url, body, {"Content-Type": "application/json"})
