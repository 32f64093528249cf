"""RSS 2.0 / Atom feeds, each polled on its own interval in its own thread.

Per feed: conditional GET (`If-None-Match` / `If-Modified-Since`), a timeout, a size cap,
exponential backoff on failures (with a little deterministic jitter), and health metrics.
One feed failing, hanging or serving garbage never stops the others.
"""

from __future__ import annotations

import calendar
import io
import json
import logging
import random
import threading
import time
import tomllib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import feedparser
import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finsent.errors import ConfigurationError, DlqLimitExceeded, TransientError
from ingest.ingestor import utc_now
from ingest.metrics import IngestMetrics
from ingest.models import Candidate, RawItem

log = logging.getLogger(__name__)

PollResult = Literal[
    "ok", "not_modified", "timeout", "http_error", "network_error", "too_large", "malformed",
    "pipeline_error",
]  # fmt: skip
Sink = Callable[[Candidate], object]


class FeedConfig(BaseModel):
    """One feed in `feeds.toml`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,59}$")]
    """Short slug; documents get `source = "rss:<name>"`."""
    url: Annotated[str, Field(pattern=r"^https?://")]
    interval_s: Annotated[float, Field(gt=0)] = 300.0
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    language: str | None = None
    """Set when every item of the feed is in one known language (skips detection)."""
    enabled: bool = True


class FeedsFile(BaseModel):
    """`feeds.toml`: optional `[defaults]` applied to every `[[feeds]]` entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: dict[str, Any] = {}
    feeds: list[dict[str, Any]]


def load_feeds(path: Path) -> list[FeedConfig]:
    """Parse a feeds file; a mistake is a `ConfigurationError` that names it."""
    try:
        data = FeedsFile.model_validate(tomllib.loads(path.read_text("utf-8")))
        feeds = [FeedConfig.model_validate({**data.defaults, **f}) for f in data.feeds]
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigurationError(f"bad feeds file {path}: {exc}") from exc
    names = [f.name for f in feeds]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"bad feeds file {path}: duplicate feed names")
    return [f for f in feeds if f.enabled]


class MalformedFeed(Exception):
    """The body is not a feed feedparser can read any entry from."""


def parse_feed(body: bytes, feed: FeedConfig, fetched_at: datetime) -> list[RawItem]:
    """Entries of an RSS 2.0 or Atom document as `RawItem`s.

    An entry without a date gets `fetched_at` (feeds that omit dates are rare; the id
    still dedupes later polls).

    Raises:
        MalformedFeed: not XML or no entries could be read from a broken document.
    """
    # A BytesIO, never the bytes: feedparser treats a str/bytes that looks like a path or
    # URL as one to open (a body of "/dev/zero" read the local file until memory ran out).
    parsed = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    if parsed.get("bozo") and not parsed.get("entries"):
        exc = parsed.get("bozo_exception")
        raise MalformedFeed(type(exc).__name__ if exc else "unreadable feed")
    if not parsed.get("version") and not parsed.get("entries"):
        raise MalformedFeed("not an RSS or Atom document")
    return [_entry_item(e, feed, fetched_at) for e in parsed.get("entries", [])]


def _entry_item(entry: Any, feed: FeedConfig, fetched_at: datetime) -> RawItem:
    content = entry.get("content") or []
    body = content[0].get("value") if content else entry.get("summary")
    when = entry.get("published_parsed") or entry.get("updated_parsed")
    published = datetime.fromtimestamp(calendar.timegm(when), UTC) if when else fetched_at
    guid = entry.get("id") or entry.get("link")
    kept = {
        "id": guid,
        "title": entry.get("title"),
        "link": entry.get("link"),
        "summary": body,
        "published": entry.get("published") or entry.get("updated"),
    }
    return RawItem(
        source=f"rss:{feed.name}",
        source_id=f"rss:{guid}" if guid else None,
        title=entry.get("title"),
        text=body,
        url=entry.get("link"),
        published_at=published,
        language=feed.language,
        raw=json.dumps(kept, ensure_ascii=False).encode("utf-8", "backslashreplace"),
    )


@dataclass
class FeedState:
    """Conditional-GET validators and failure count of one feed."""

    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    last_result: PollResult | None = None
    rng: random.Random = field(default_factory=random.Random)


class FeedPoller:
    """Polls one feed and hands its entries to `sink` (normally `Ingestor.handle`).

    Args:
        feed: the feed.
        client: a shared httpx client.
        sink: receives every entry; may raise `TransientError` (then the poll is a failure
            and its validators are not kept, so the next poll fetches the entries again).
        metrics: health metrics.
        max_backoff_s: cap on the delay after repeated failures.
        max_bytes: bodies larger than this are refused.
        clock: wall clock for entries without a date.
    """

    def __init__(
        self,
        feed: FeedConfig,
        client: httpx.Client,
        sink: Sink,
        metrics: IngestMetrics,
        *,
        max_backoff_s: float = 3600.0,
        max_bytes: int = 10 * 1024 * 1024,
        user_agent: str = "finsent-ingest",
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.feed = feed
        self.state = FeedState(rng=random.Random(feed.name))
        self._client = client
        self._sink = sink
        self._metrics = metrics
        self._max_backoff_s = max_backoff_s
        self._max_bytes = max_bytes
        self._user_agent = user_agent
        self._clock = clock

    def poll_once(self) -> PollResult:
        """Fetch and process the feed once; never raises for feed or network trouble."""
        result, validators = self._poll()
        state = self.state
        state.last_result = result
        name = self.feed.name
        self._metrics.feed_polls.labels(name, result).inc()
        if result in ("ok", "not_modified"):
            state.failures = 0
            if validators is not None:
                state.etag, state.last_modified = validators
            self._metrics.feed_up.labels(name).set(1)
            self._metrics.feed_last_success.labels(name).set(time.time())
        else:
            state.failures += 1
            self._metrics.feed_up.labels(name).set(0)
            log.warning("feed poll failed", extra={"feed": name, "result": result})
        self._metrics.feed_failures.labels(name).set(state.failures)
        return result

    def next_delay_s(self) -> float:
        """The interval when healthy; interval × 2^failures (capped) after failures; ±10%."""
        base = self.feed.interval_s
        if self.state.failures:
            base = min(base * 2**self.state.failures, max(self._max_backoff_s, base))
        return base * self.state.rng.uniform(0.9, 1.1)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set."""
        while not stop.is_set():
            self.poll_once()
            stop.wait(self.next_delay_s())

    def _poll(self) -> tuple[PollResult, tuple[str | None, str | None] | None]:
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "gzip"}
        if self.state.etag:
            headers["If-None-Match"] = self.state.etag
        if self.state.last_modified:
            headers["If-Modified-Since"] = self.state.last_modified
        url = httpx.URL(self.feed.url)
        # httpx's timeout is per read; a server trickling bytes needs a total bound.
        deadline = time.monotonic() + 2 * self.feed.timeout_s
        try:
            for _ in range(MAX_REDIRECTS + 1):
                with self._client.stream(
                    "GET", url, headers=headers, timeout=self.feed.timeout_s
                ) as response:
                    if response.status_code in (301, 302, 303, 307, 308):
                        target = safe_redirect(url, response.headers.get("location", ""))
                        if target is None:
                            return "http_error", None
                        url = target
                        continue
                    if response.status_code == 304:
                        return "not_modified", None
                    if response.status_code != 200:
                        return "http_error", None
                    body = read_capped(response, self._max_bytes, deadline)
                    if isinstance(body, str):
                        return body, None
                    etag = response.headers.get("etag")
                    validators = (etag, response.headers.get("last-modified"))
                    break
            else:
                return "http_error", None
        except httpx.TimeoutException:
            return "timeout", None
        except httpx.HTTPError:
            return "network_error", None
        try:
            items = parse_feed(bytes(body), self.feed, self._clock())
        except MalformedFeed:
            return "malformed", None
        try:
            for item in items:
                self._sink(item)
        except (TransientError, DlqLimitExceeded):
            return "pipeline_error", None
        return "ok", validators


MAX_REDIRECTS = 3


def safe_redirect(current: httpx.URL, location: str) -> httpx.URL | None:
    """Follow only to https on the same host: a feed must not bounce us to an internal
    address (SSRF) or downgrade to plain http."""
    if not location:
        return None
    target = current.join(location)
    if target.scheme != "https" or target.host != current.host:
        return None
    return target


def read_capped(
    response: httpx.Response, max_bytes: int, deadline: float
) -> bytes | Literal["too_large", "timeout", "malformed"]:
    """The body, inflated (gzip) at most to `max_bytes`: a small gzip bomb stays small."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    body = bytearray()
    try:
        for chunk in response.iter_raw():
            while chunk:
                if inflate is None:
                    body += chunk
                    chunk = b""
                else:
                    body += inflate.decompress(chunk, max_bytes + 1 - len(body))
                    chunk = inflate.unconsumed_tail
                if len(body) > max_bytes:
                    return "too_large"
            if time.monotonic() > deadline:
                return "timeout"
    except zlib.error:
        return "malformed"
    return bytes(body)


def start_feeds(
    feeds: Sequence[FeedConfig],
    sink: Sink,
    metrics: IngestMetrics,
    stop: threading.Event,
    *,
    client: httpx.Client | None = None,
    max_backoff_s: float = 3600.0,
    max_bytes: int = 10 * 1024 * 1024,
    user_agent: str = "finsent-ingest",
) -> list[threading.Thread]:
    """One daemon thread per feed, polling until `stop` is set; returns the threads."""
    shared = client or httpx.Client(follow_redirects=False)  # see safe_redirect
    threads = []
    for feed in feeds:
        poller = FeedPoller(
            feed,
            shared,
            sink,
            metrics,
            max_backoff_s=max_backoff_s,
            max_bytes=max_bytes,
            user_agent=user_agent,
        )
        thread = threading.Thread(target=poller.run, args=(stop,), name=f"feed-{feed.name}")
        thread.daemon = True
        thread.start()
        threads.append(thread)
    return threads
