"""Settings of the dashboards package: the Grafana connection and the built-in web view.

Built once in the CLI entry (`dashboards/cli.py`) and passed down; nothing here reads the
environment by itself.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from finsent.settings import GrafanaSettings

__all__ = ["GrafanaSettings", "WebSettings"]


class WebSettings(BaseSettings):
    """The built-in web view (`finsent web`). Variables: `FINSENT_WEB_HOST`, `FINSENT_WEB_PORT`, ..."""

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_WEB_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        frozen=True,
        extra="ignore",
    )

    host: str = "127.0.0.1"
    """Loopback by default: the page is read-only but shows internal data."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8050
    token: SecretStr | None = None
    """If set, every `/api/` call needs `Authorization: Bearer <token>` (the page asks once)."""
    refresh_s: Annotated[float, Field(ge=2)] = 15.0
    """How often the page refreshes itself."""
    default_window_h: Annotated[float, Field(gt=0)] = 24.0
    """Default time range, ending at the namespace's watermark (latest event time)."""
    metrics_urls: tuple[str, ...] = ()
    """Prometheus `/metrics` endpoints of the services (JSON list in the environment)."""
    metrics_timeout_s: Annotated[float, Field(gt=0)] = 2.0
    store_backend: Literal["auto", "core", "timeseries"] = "auto"
    """`timeseries` requires RedisTimeSeries (compose sets it); `auto` probes the server."""
