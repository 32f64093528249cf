"""Grafana: connection settings, the API client, and alerts as annotations.

Shared by `dashboards` (pushing dashboards and data sources) and `alerts` (posting each
alert state change as an annotation), which must not import each other.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from grafana_client.api import GrafanaApi
from pydantic import BaseModel, ConfigDict

from finsent.errors import ConfigurationError
from finsent.schemas import Alert
from finsent.settings import GrafanaSettings

log = logging.getLogger(__name__)

ALERT_TAG: Final = "finsent-alert"
"""Every alert annotation carries this tag; dashboards filter their annotations on it."""


def make_api(settings: GrafanaSettings) -> Any:
    """A Grafana HTTP API client authenticated with the service-account token.

    Raises:
        ConfigurationError: no Grafana URL is configured.
    """
    if settings.url is None:
        raise ConfigurationError("FINSENT_GRAFANA_URL is not set")
    token = settings.token.get_secret_value() if settings.token else None
    return GrafanaApi.from_url(str(settings.url), credential=token, timeout=settings.timeout_s)


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
