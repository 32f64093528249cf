"""Alerts as Grafana annotations, so every dashboard shows them on its time axis.

The alerts service calls `post_annotation` for each alert state change when a Grafana URL
is configured. The text names the rule, series and statistics only, never article text.
"""

from __future__ import annotations

import logging
from typing import Final

from pydantic import BaseModel, ConfigDict

from dashboards.definitions import ALERT_TAG
from dashboards.grafana_api import make_api
from dashboards.settings import GrafanaSettings
from finsent.schemas import Alert

log = logging.getLogger(__name__)

ANNOTATION_TEXT_MAX: Final = 500


class AnnotationRequest(BaseModel):
    """The body of `POST /api/annotations` for one alert state change."""

    model_config = ConfigDict(frozen=True)

    time_ms: int
    time_end_ms: int
    tags: tuple[str, ...]
    text: str


def annotation_for(alert: Alert) -> AnnotationRequest:
    """Build the annotation of an alert: spans its window; tags let dashboards filter it.

    Tags are `finsent-alert`, `namespace:<ns>`, `<kind>:<value>` (e.g. `ticker:AAPL`),
    `rule:<rule>`, `state:<state>` and `severity:<severity>`.
    """
    series = f"{alert.series.kind}:{alert.series.value}"
    text = (
        f"{alert.state.upper()} {alert.severity}: {alert.rule} on {series} "
        f"(observed {alert.observed:.3f}, baseline {alert.baseline:.3f}, "
        f"z {alert.z_score:.1f}, {alert.doc_count} docs) incident {alert.incident_id}"
    )
    return AnnotationRequest(
        time_ms=int(alert.window_start.timestamp() * 1000),
        time_end_ms=int(alert.window_end.timestamp() * 1000),
        tags=(
            ALERT_TAG,
            f"namespace:{alert.namespace}",
            series,
            f"rule:{alert.rule}",
            f"state:{alert.state}",
            f"severity:{alert.severity}",
        ),
        text=text[:ANNOTATION_TEXT_MAX],
    )


def post_annotation(settings: GrafanaSettings, alert: Alert) -> int | None:
    """Post one alert state change to Grafana as an organisation-wide annotation.

    Args:
        settings: Grafana connection; nothing is posted when `settings.url` is unset.
        alert: the alert state change.

    Returns:
        The id Grafana gave the annotation, or None when no Grafana is configured.

    Raises:
        grafana_client.client.GrafanaException: Grafana answered with an error; the caller
            decides whether to retry (the alert itself is already in the alert log).
    """
    if settings.url is None:
        return None
    request = annotation_for(alert)
    response = make_api(settings).annotations.add_annotation(
        time_from=request.time_ms,
        time_to=request.time_end_ms,
        tags=list(request.tags),
        text=request.text,
    )
    annotation_id = response.get("id") if isinstance(response, dict) else None
    log.info(
        "posted grafana annotation",
        extra={
            "incident_id": alert.incident_id,
            "state": alert.state,
            "annotation_id": annotation_id,
        },
    )
    return int(annotation_id) if annotation_id is not None else None
