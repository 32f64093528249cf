"""Settings, read from the environment once, in each entry point, and passed down.

Every variable starts with `FINSENT_`; nested fields use `__`, e.g.
`FINSENT_KAFKA__BOOTSTRAP_SERVERS=broker:9092` or `FINSENT_REDIS__PASSWORD=...`.
Nothing else in finsent reads `os.environ`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import redis
from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from finsent.clock import Clock
from finsent.errors import ConfigurationError
from finsent.schemas import LIVE_NAMESPACE
from finsent.store.models import StoreOptions

REPO_ROOT = Path(__file__).resolve().parent.parent


class KafkaSettings(BaseModel):
    """Kafka client options; SASL/TLS fields let production secure the broker."""

    model_config = ConfigDict(frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "finsent"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    documents_partitions: int = Field(default=4, ge=1)
    """Partitions for topics finsent creates; consumers in one group scale up to this."""

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by kafka-python's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism is not None:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = str(value)
        return kwargs


class RedisSettings(BaseModel):
    """Redis connection; password and TLS let production secure it."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    tls_ca_file: Path | None = None
    socket_timeout_s: float = 5.0
    retries: int = Field(default=2, ge=0)
    """Retries of a command after a connection error or timeout, 0.2 s, 0.4 s, ... apart
    (at most 2 s); what still fails reaches the caller (a `TransientError` in finsent)."""

    def client(self, **overrides: Any) -> redis.Redis:
        """A client with these settings; `decode_responses` stays off (bytes in, bytes out).

        Reconnecting is redis-py's own `Retry`, so no caller writes a retry loop of its own;
        a caller that must outlast a longer outage (the scorer's writer) holds and retries
        on the `TransientError` that remains.
        """
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password.get_secret_value() if self.password else None,
            "ssl": self.tls,
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.socket_timeout_s,
            "retry": Retry(ExponentialBackoff(cap=2.0, base=0.1), self.retries),
            "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        }
        if self.tls and self.tls_ca_file is not None:
            kwargs["ssl_ca_certs"] = str(self.tls_ca_file)
        kwargs.update(overrides)
        return redis.Redis(**kwargs)

    def connect(self) -> redis.Redis:
        """A client that has answered PING, or a `ConfigurationError` that says what to fix."""
        client = self.client()
        where = f"Redis at {self.host}:{self.port}"
        try:
            client.ping()
        except redis.AuthenticationError as exc:
            if self.password is None:
                raise ConfigurationError(
                    f"{where} requires a password; set FINSENT_REDIS__PASSWORD"
                ) from None
            raise ConfigurationError(
                f"{where} rejected our credentials ({exc}); check FINSENT_REDIS__USERNAME "
                "and FINSENT_REDIS__PASSWORD"
            ) from None
        except redis.ConnectionError as exc:
            raise ConfigurationError(
                f"{where} is unreachable ({exc}); is it running (`finsent stack up`)?"
            ) from None
        except redis.ResponseError as exc:
            if "NOAUTH" in str(exc):
                raise ConfigurationError(
                    f"{where} requires a password; set FINSENT_REDIS__PASSWORD"
                ) from None
            raise
        return client


class StackSettings(BaseModel):
    """Where `finsent stack` keeps the local broker and Redis, and on which ports."""

    model_config = ConfigDict(frozen=True)

    home: Path = REPO_ROOT / ".stack"
    kafka_libs: Path | None = None
    """Where the broker's jars go; unset means `<home>/kafka/libs`. Stacks may share one."""
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379
    redis_modules: Path = REPO_ROOT / ".stack" / "modules"
    """Where `make setup` puts `redistimeseries.so` (and the OpenSSL 1.1 it needs, in
    `lib/`); `stack up` loads it when present. Point elsewhere to run core Redis only."""
    start_timeout_s: float = 90.0


class GrafanaSettings(BaseSettings):
    """Where Grafana is, and what it should use to reach Redis and Prometheus.

    Variables: `FINSENT_GRAFANA_URL`, `FINSENT_GRAFANA_TOKEN`, ...
    """

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_GRAFANA_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        frozen=True,
        extra="ignore",
    )

    url: AnyHttpUrl | None = None
    """Grafana base URL; unset means alerts post no annotations."""
    token: SecretStr | None = None
    """Service-account token (Editor role) for the HTTP API."""
    timeout_s: Annotated[float, Field(gt=0)] = 5.0
    redis_url: str = "redis://redis:6379"
    """Redis address as Grafana (not this process) reaches it, for the data source."""
    prometheus_url: str = "http://prometheus:9090"
    """Prometheus address as Grafana reaches it, for the data source."""
    folder_uid: str = "finsent"
    folder_title: str = "finsent"


class PagingSettings(BaseSettings):
    """Which namespaces page on-call: `FINSENT_ALERTS_PAGE_NAMESPACES` (JSON list).

    Shared because two sides must agree on it: the alerts service pages only for these,
    and every replay (`finsent replay`, `finsent run`) refuses to write into one.
    """

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_ALERTS_", env_ignore_empty=True, frozen=True, extra="ignore"
    )

    page_namespaces: tuple[str, ...] = (LIVE_NAMESPACE,)
    """Only these namespaces may page on-call; every other one is logged with notify=False."""


class FinsentSettings(BaseSettings):
    """Settings every service shares."""

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    stack: StackSettings = StackSettings()
    store: StoreOptions = StoreOptions()
    """Retention and evidence sizing (`FINSENT_STORE__MINUTE_RETENTION_S`, ...). Shared:
    the writer (inference) trims by it and readers (alerts, web) must agree with it."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    clock_speed: Annotated[float, Field(gt=0)] = 1.0
    """`FINSENT_CLOCK_SPEED`: service seconds per real second (soaks run at e.g. 120)."""
    clock_epoch: AwareDatetime | None = None
    """`FINSENT_CLOCK_EPOCH`: the real instant where service time equals real time; every
    process of one deployment must share it (see `finsent/clock.py`)."""

    @model_validator(mode="after")
    def _clock_has_epoch(self) -> FinsentSettings:
        if self.clock_speed != 1.0 and self.clock_epoch is None:
            raise ValueError(
                "FINSENT_CLOCK_SPEED needs FINSENT_CLOCK_EPOCH (ISO 8601, shared by every "
                "service) so that all processes agree on the accelerated time"
            )
        return self

    def clock(self) -> Clock:
        """The service clock these settings describe (real time unless sped up)."""
        return Clock(self.clock_speed, self.clock_epoch)
