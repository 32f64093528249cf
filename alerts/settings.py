"""Settings of the alerts service, read once in `finsent alerts` and passed down."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from alerts.channels.webhook import parse_secret
from alerts.rules import DEFAULT_RULES, Rule
from finsent.schemas import LIVE_NAMESPACE
from finsent.settings import PagingSettings

PAGE_MARGIN_S = 60
"""Slack for a slow evaluation pass between a decision and the paging check."""


class AlertsSettings(PagingSettings):
    """`FINSENT_ALERTS_*`; nested fields use `__`, rules are JSON:
    `FINSENT_ALERTS_RULES='[{"name": "x", "window_s": 3600, "kinds": ["ticker"]}]'`.
    """

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_ALERTS_",
        env_nested_delimiter="__",
        # Compose passes unset channels as empty strings: empty means unset, not "".
        env_ignore_empty=True,
        frozen=True,
        extra="ignore",
    )

    rules: tuple[Rule, ...] = DEFAULT_RULES
    namespaces: tuple[str, ...] = (LIVE_NAMESPACE,)
    """Namespaces `alerts run` evaluates (replays are usually driven in-process)."""
    poll_interval_s: Annotated[float, Field(gt=0)] = 10.0
    max_event_lag_s: Annotated[int, Field(ge=0)] = 3600
    """Windows ending longer ago than this (wall clock) are logged but never paged."""
    evidence_count: Annotated[int, Field(ge=0, le=50)] = 5
    max_steps_per_pass: Annotated[int, Field(ge=1)] = 2_000
    """Bound on decision steps one pass covers per rule; `evaluate` repeats passes."""

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    """`whsec_<base64>` key of the Standard Webhooks signature (`finsent alerts webhook-secret`)."""
    webhook_allow_unsigned: bool = False
    """Send the webhook unsigned when no secret is set; otherwise start-up refuses."""
    slack_webhook_url: SecretStr | None = None
    """Incoming-webhook URL; the URL itself is the credential, so it is a secret."""
    alertmanager_url: str | None = None
    """Base URL, e.g. `http://alertmanager:9093`; alerts go to `/api/v2/alerts`."""
    alertmanager_resend_s: Annotated[float, Field(ge=30, le=180)] = 60.0
    """Active incidents are re-sent this often, with `endsAt` `alertmanager_hold_s` ahead."""
    alertmanager_hold_s: Annotated[float, Field(gt=0)] | None = None
    """How long Alertmanager keeps an incident active without hearing from finsent (its
    `endsAt` horizon). Unset: four re-send intervals, Prometheus' rule. Raise it where
    `alerts run` can be down longer (slow restarts), at the cost of a stale alert
    staying up that much longer if finsent dies for good."""
    alertmanager_username: str | None = None
    alertmanager_password: SecretStr | None = None
    """Basic auth (with `alertmanager_username`) for an Alertmanager behind a proxy."""
    alertmanager_bearer_token: SecretStr | None = None
    alertmanager_runbook_url: str | None = None
    """Sent as the `runbook_url` annotation of every alert."""
    web_url: str | None = None
    """Public base URL of the web view (e.g. `https://finsent.example.com`), for links."""
    publish_kafka: bool = True
    """Publish every state change to `alerts.fired.v1`."""

    notify_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    notify_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    notify_backoff_s: Annotated[float, Field(ge=0)] = 0.5
    """First retry delay; doubles per attempt."""
    notify_max_retry_after_s: Annotated[float, Field(ge=0)] = 5.0
    """A longer `Retry-After` is not waited out in place: the channel is retried after it."""
    notify_overdue_s: Annotated[float, Field(gt=0)] = 300.0
    """A page still undelivered this long after its decision is overdue: logged and counted."""
    notify_retention_h: Annotated[float, Field(gt=0)] = 24.0
    """An undelivered page is retried this long, then dropped with an error log and metric."""
    delivery_lease_s: Annotated[float, Field(gt=0)] = 15.0
    """Lease of the process delivering a namespace, renewed before every send attempt;
    after a crash another process takes over within this time."""

    metrics_port: int | None = 9102
    store_backend: Literal["auto", "core", "timeseries"] | None = None
    """Unset: `FINSENT_STORE__BACKEND`, shared by every service (default `auto`)."""

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

    @model_validator(mode="after")
    def _channels_are_safe(self) -> AlertsSettings:
        # Messages name settings, never values: they are printed at start-up.
        if self.webhook_secret is not None:
            parse_secret(self.webhook_secret.get_secret_value())
        elif self.webhook_url and not self.webhook_allow_unsigned:
            raise ValueError(
                "FINSENT_ALERTS_WEBHOOK_URL is set without FINSENT_ALERTS_WEBHOOK_SECRET: "
                "receivers could not tell our pages from forged ones. Set a secret (make one "
                "with `finsent alerts webhook-secret`) or FINSENT_ALERTS_WEBHOOK_ALLOW_UNSIGNED=true"
            )
        if self.alertmanager_url and self.poll_interval_s > self.alertmanager_resend_s:
            # Re-sends happen once per poll; endsAt is 4 intervals ahead, so a slower poll
            # would let Alertmanager resolve an incident that is still open.
            raise ValueError("FINSENT_ALERTS_POLL_INTERVAL_S must not exceed ALERTMANAGER_RESEND_S")
        if self.alertmanager_hold_s is not None and (
            self.alertmanager_hold_s < 2 * self.alertmanager_resend_s
        ):
            # One late re-send must never let Alertmanager resolve an open incident.
            raise ValueError(
                "FINSENT_ALERTS_ALERTMANAGER_HOLD_S must be at least twice ALERTMANAGER_RESEND_S"
            )
        if (self.alertmanager_username is None) != (self.alertmanager_password is None):
            raise ValueError("set both FINSENT_ALERTS_ALERTMANAGER_USERNAME and _PASSWORD")
        if self.alertmanager_password is not None and self.alertmanager_bearer_token is not None:
            raise ValueError("Alertmanager takes basic auth or a bearer token, not both")
        # A send attempt and the wait before the next must fit in one lease period: the
        # lease is renewed before each attempt, so nobody else can deliver meanwhile.
        longest_wait = max(
            self.notify_max_retry_after_s,
            self.notify_backoff_s * 2 ** max(0, self.notify_attempts - 2),
        )
        if self.delivery_lease_s <= self.notify_timeout_s + longest_wait:
            raise ValueError(
                "FINSENT_ALERTS_DELIVERY_LEASE_S must exceed NOTIFY_TIMEOUT_S plus the longest "
                f"wait between attempts ({self.notify_timeout_s + longest_wait:g} s)"
            )
        return self
