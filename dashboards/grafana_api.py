"""The one place that builds a grafana-client `GrafanaApi` from settings."""

from __future__ import annotations

from typing import Any

from grafana_client.api import GrafanaApi

from dashboards.settings import GrafanaSettings
from finsent.errors import ConfigurationError


def make_api(settings: GrafanaSettings) -> Any:
    """A Grafana HTTP API client authenticated with the service-account token.

    Raises:
        ConfigurationError: no Grafana URL is configured.
    """
    if settings.url is None:
        raise ConfigurationError("FINSENT_GRAFANA_URL is not set")
    token = settings.token.get_secret_value() if settings.token else None
    return GrafanaApi.from_url(str(settings.url), credential=token, timeout=settings.timeout_s)
