"""Ingest settings: one frozen class, built once in the CLI entry and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from finsent.settings import REPO_ROOT


class IngestSettings(BaseSettings):
    """Everything `finsent ingest` and `finsent replay` need besides Kafka and Redis.

    Environment variables start with `FINSENT_INGEST_`, e.g. `FINSENT_INGEST_PUSH_TOKEN`.
    """

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_INGEST_",
        env_nested_delimiter="__",
        env_ignore_empty=True,  # compose passes optional variables as empty strings
        frozen=True,
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data",
        validation_alias="FINSENT_DATA_DIR",
    )
    """Shared data sets (StockNet lives under `stocknet-dataset/`)."""

    # Validity of inputs.
    max_raw_bytes: int = Field(default=256 * 1024, ge=1024)
    """Inputs larger than this (bytes, before parsing) are dead-lettered as oversized."""
    max_future_s: float = Field(default=300.0, ge=0)
    """Publication times further ahead of the clock than this are rejected: a document
    dated tomorrow would move the event-time watermark and blind live alerting."""
    min_year: int = 1990
    """Publication times before January 1 of this year are rejected."""
    max_tickers: int = Field(default=10, ge=1)
    """Tickers kept per document (cashtag spam lists dozens)."""
    languages: tuple[str, ...] = ("en", "de", "es", "fr", "nl", "it", "pt", "id")
    """ISO 639-1 codes the language detector chooses among (fewer is faster)."""

    # Deduplication.
    dedupe_enabled: bool = True
    dedupe_ttl_s: int = Field(default=7 * 86_400, ge=60)
    """How long (wall clock) dedupe keys live in Redis."""
    dedupe_window_s: int = Field(default=86_400, ge=0)
    """Event-time window in which the same normalised content counts once."""
    near_dup_max_distance: int = Field(default=3, ge=0, le=3)
    """SimHash Hamming distance (of 64 bits) at or under which two posts are near-duplicates.

    At most 3: the index splits the hash into 4 bands, so any pair within 3 bits shares a band.
    """
    near_dup_min_tokens: int = Field(default=4, ge=1)
    """Shorter content keys only dedupe exactly (SimHash is noisy on a few words)."""
    near_dup_max_band_members: int = Field(default=2000, ge=10)
    """SimHash band sets keep at most this many members (the oldest go first)."""
    dedupe_hash_key: SecretStr | None = None
    """SimHash key. Unset: a random key made once and shared by every worker via Redis."""
    dedupe_pending_ttl_s: int = Field(default=300, ge=30)
    """How long an unacknowledged claim blocks its id if the process dies mid-produce."""

    # Push API.
    push_host: str = "127.0.0.1"
    push_port: int = 8081
    push_token: SecretStr | None = None
    """Bearer token of the push client `default`. The server refuses to start without this
    or `push_clients`."""
    push_clients: dict[str, SecretStr] = Field(default_factory=dict)
    """Named push clients, each with its own bearer token, rate limit and metrics label
    (`ingest.sources.push_clients`): `FINSENT_INGEST_PUSH_CLIENTS='{"vendor": "<token>"}'`."""
    push_max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    push_max_batch: int = Field(default=500, ge=1)
    push_rate_per_s: float = Field(default=1000.0, gt=0)
    """Sustained requests per second per client (token bucket), checked after the token.
    The default is what one server sustains (docs/benchmarks.md section 5), so one client
    alone cannot queue more than the server can take: it gets 429 instead. Lower it to keep
    one runaway client from crowding out the others."""
    push_burst: int = Field(default=2000, ge=1)
    push_ack_timeout_s: float = Field(default=30.0, gt=0)
    """How long a request waits for Kafka's acknowledgement before answering 503."""
    push_body_timeout_s: float = Field(default=10.0, gt=0)
    """A request body must arrive within this (slow senders get 408, not a held slot)."""
    push_groups_in_flight: int = Field(default=2, ge=1)
    """Groups of concurrent requests handled at once (`ingest.sources.push_groups`): while
    this many are out, new requests gather into the next group. Fewer means bigger groups
    (less CPU per request), more means less queueing behind a slow broker round trip."""

    # RSS.
    rss_max_backoff_s: float = Field(default=3600.0, gt=0)
    rss_user_agent: str = "finsent-ingest/0.1 (+https://github.com/finsent)"
    rss_max_feed_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
