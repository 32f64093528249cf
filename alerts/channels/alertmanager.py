"""Prometheus Alertmanager, `POST /api/v2/alerts`, the way Prometheus itself sends.

A firing incident is re-sent every `resend_s` while it is open, each time with
`endsAt = now + hold_s` (by default 4 × resend_s, Prometheus' own rule), so Alertmanager
keeps it active as long as finsent says so and lets it lapse if finsent stops talking.
A resolution sends `endsAt = now`. Alertmanager deduplicates on the label set, which is
identical on every send of one incident (including `incident_id`): re-sends and retries
never page twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from alerts.channels.base import describe, post, rfc3339, web_view_url
from finsent.schemas import Alert

ALERTNAME = "FinsentNegativeSentiment"
ENDS_AFTER_RESENDS = 4


class AlertmanagerChannel:
    """One Alertmanager (or a load balancer in front of an HA pair).

    Args:
        base_url: e.g. `http://alertmanager:9093`; alerts go to `/api/v2/alerts`.
        client: shared HTTP client (timeouts).
        clock: wall clock for `startsAt`/`endsAt`.
        resend_s: re-send interval of active alerts (30 s–3 min by convention).
        hold_s: `endsAt` horizon of a firing alert; None: 4 × `resend_s`.
        web_url: public base URL of finsent's web view, for `generatorURL`; None omits it.
        runbook_url: added as the `runbook_url` annotation when set.
        auth: basic or bearer auth for an Alertmanager behind a proxy.
    """

    name = "alertmanager"

    def __init__(
        self,
        base_url: str,
        client: httpx.Client,
        clock: Callable[[], datetime],
        *,
        resend_s: float = 60.0,
        hold_s: float | None = None,
        web_url: str | None = None,
        runbook_url: str | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/api/v2/alerts"
        self._client, self._clock, self._auth = client, clock, auth
        self.resend_s = resend_s
        self.hold_s = hold_s if hold_s is not None else ENDS_AFTER_RESENDS * resend_s
        self._web_url = web_url.rstrip("/") if web_url else None
        self._runbook_url = runbook_url

    def generator_url(self, alert: Alert) -> str | None:
        """The web view at the incident (`web_view_url`)."""
        return web_view_url(self._web_url, alert)

    def _window_api(self, alert: Alert) -> str | None:
        """The drill-down API for exactly the incident's window (the page shows the latest)."""
        if self._web_url is None or alert.series.kind != "ticker":
            return None
        hours = max(1, -(-int((alert.window_end - alert.window_start).total_seconds()) // 3600))
        return (
            f"{self._web_url}/api/v1/namespaces/{quote(alert.namespace, safe='')}/tickers/"
            f"{quote(alert.series.value, safe='')}?hours={hours}&end={quote(rfc3339(alert.window_end))}"
        )

    def payload(self, alert: Alert) -> list[dict[str, Any]]:
        now = self._clock()
        firing = alert.state == "firing"
        annotations = {
            "summary": describe(alert),
            "observed": f"{alert.observed:.4f}",
            "baseline": f"{alert.baseline:.4f}",
            "z_score": f"{alert.z_score:.2f}",
            "doc_count": str(alert.doc_count),
            "window_start": rfc3339(alert.window_start),
            "window_end": rfc3339(alert.window_end),
            "evidence": " | ".join(e.url or e.document_id for e in alert.evidence),
        }
        if self._runbook_url:
            annotations["runbook_url"] = self._runbook_url
        if (window_api := self._window_api(alert)) is not None:
            annotations["drilldown_api"] = window_api
        item: dict[str, Any] = {
            # Same labels on every send of an incident: Alertmanager's dedupe key.
            "labels": {
                "alertname": ALERTNAME,
                "rule": alert.rule,
                "namespace": alert.namespace,
                "kind": alert.series.kind,
                "series": alert.series.value,
                "severity": alert.severity,
                "incident_id": alert.incident_id,
            },
            "annotations": annotations,
            "startsAt": rfc3339(alert.window_end if firing else now),
            "endsAt": rfc3339(now + timedelta(seconds=self.hold_s) if firing else now),
        }
        if (generator := self.generator_url(alert)) is not None:
            item["generatorURL"] = generator
        return [item]

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert)).encode()
        post(self._client, self._url, body, {"Content-Type": "application/json"}, self._auth)
