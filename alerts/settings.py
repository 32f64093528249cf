"""Settings of the alerts service, read once in `finsent alerts` and passed down."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.rules import DEFAULT_RULES, Rule
from finsent.schemas import LIVE_NAMESPACE

PAGE_MARGIN_S = 60
"""Slack for a slow evaluation pass between a decision and the paging check."""


class AlertsSettings(BaseSettings):
    """`FINSENT_ALERTS_*`; nested fields use `__`, rules are JSON:
    `FINSENT_ALERTS_RULES='[{"name": "x", "window_s": 3600, "kinds": ["ticker"]}]'`.
    """

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_ALERTS_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    rules: tuple[Rule, ...] = DEFAULT_RULES
    namespaces: tuple[str, ...] = (LIVE_NAMESPACE,)
    """Namespaces `alerts run` evaluates (replays are usually driven in-process)."""
    page_namespaces: tuple[str, ...] = (LIVE_NAMESPACE,)
    """Only these namespaces may page on-call; every other one is logged with notify=False."""
    poll_interval_s: Annotated[float, Field(gt=0)] = 10.0
    max_event_lag_s: Annotated[int, Field(ge=0)] = 3600
    """Windows ending longer ago than this (wall clock) are logged but never paged."""
    evidence_count: Annotated[int, Field(ge=0, le=50)] = 5
    max_steps_per_pass: Annotated[int, Field(ge=1)] = 2_000
    """Bound on decision steps one pass covers per rule; `evaluate` repeats passes."""

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key for the `X-Finsent-Signature` header of the generic webhook."""
    slack_webhook_url: SecretStr | None = None
    alertmanager_url: str | None = None
    """Base URL, e.g. `http://alertmanager:9093`; alerts go to `/api/v2/alerts`."""
    alertmanager_hold_s: Annotated[int, Field(ge=60)] = 86_400
    """`endsAt` of a firing alert: Alertmanager keeps it active this long unless resolved."""
    publish_kafka: bool = True
    """Publish every state change to `alerts.fired.v1`."""

    notify_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    notify_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    notify_backoff_s: Annotated[float, Field(ge=0)] = 0.5
    """First retry delay; doubles per attempt."""
    notify_max_rounds: Annotated[int, Field(ge=1)] = 20
    """Delivery passes (one per poll) before a notification to a dead channel is dropped."""

    metrics_port: int | None = 9102
    store_backend: Literal["auto", "core", "timeseries"] = "auto"

    @model_validator(mode="after")
    def _every_rule_can_page(self) -> AlertsSettings:
        # Live, a window ending at t is decided when the clock reaches t + lateness and seen
        # by the next poll; it may page only if it ended within max_event_lag_s. A rule that
        # waits longer than that could never page: refuse it here, not in an incident.
        for rule in self.rules:
            needed = rule.lateness_s + self.poll_interval_s + PAGE_MARGIN_S
            if needed > self.max_event_lag_s:
                raise ValueError(
                    f"rule {rule.name!r} could never page: its windows are decided "
                    f"lateness_s={rule.lateness_s}s after they end (+ poll_interval_s="
                    f"{self.poll_interval_s:g}s + {PAGE_MARGIN_S}s margin), but only windows "
                    f"that ended within max_event_lag_s={self.max_event_lag_s}s may page; "
                    "raise FINSENT_ALERTS_MAX_EVENT_LAG_S or lower the rule's lateness_s"
                )
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique: {names}")
        return self
