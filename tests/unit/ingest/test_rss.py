"""The feed poller against real HTTP on 127.0.0.1, serving fixture files."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from finsent.errors import ConfigurationError, TransientError
from ingest.metrics import IngestMetrics
from ingest.models import Candidate, RawItem
from ingest.sources.rss import (
    FeedConfig,
    FeedPoller,
    MalformedFeed,
    load_feeds,
    parse_feed,
    start_feeds,
)

FEEDS = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "feeds"
ETAG = '"rss2-v1"'
LAST_MODIFIED = "Wed, 14 Oct 2015 19:00:00 GMT"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/trickle.xml":  # every read is quick; the whole body never ends
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(40):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            return
        if self.path == "/slow.xml":
            time.sleep(1.5)
        if self.path == "/rss2.xml" and self.headers.get("If-None-Match") == ETAG:
            self.send_response(304)
            self.end_headers()
            return
        name = {"/rss2.xml": "rss2.xml", "/atom.xml": "atom.xml", "/malformed.xml": "malformed.xml",
                "/slow.xml": "rss2.xml", "/html": None}.get(self.path)  # fmt: skip
        if self.path == "/html":
            body = b"<html><body>not a feed</body></html>"
        elif name is None:
            self.send_response(404)
            self.end_headers()
            return
        else:
            body = (FEEDS / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if self.path == "/rss2.xml":
            self.send_header("ETag", ETAG)
            self.send_header("Last-Modified", LAST_MODIFIED)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)  # the client may have timed out first

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def metrics() -> IngestMetrics:
    return IngestMetrics(CollectorRegistry())


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def poller(
    url: str, client: httpx.Client, metrics: IngestMetrics, sink: list[Candidate], **kw: float
) -> FeedPoller:
    feed = FeedConfig(name=url.rsplit("/", 1)[-1].replace(".xml", ""), url=url, **kw)
    return FeedPoller(feed, client, sink.append, metrics, max_backoff_s=60, clock=lambda: NOW)


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_rss2_items_then_304_with_conditional_get(
    server: str, client: httpx.Client, metrics: IngestMetrics
) -> None:
    got: list[Candidate] = []
    p = poller(f"{server}/rss2.xml", client, metrics, got, interval_s=30)
    assert p.poll_once() == "ok"
    items = [c for c in got if isinstance(c, RawItem)]
    assert len(items) == 4
    first = items[0]
    assert first.source == "rss:rss2"
    assert first.source_id == "rss:example-wire-1001"
    assert first.title == "Apple shares slip after iPhone shipments disappoint"
    assert first.url == "https://news.example.com/markets/apple-iphone-shipments"
    assert first.published_at == datetime(2015, 10, 14, 14, 5, tzinfo=UTC)
    assert p.state.etag == ETAG and p.state.last_modified == LAST_MODIFIED
    assert p.poll_once() == "not_modified"
    assert len(got) == 4
    value = metrics.registry.get_sample_value
    assert value("finsent_ingest_feed_polls_total", {"feed": "rss2", "result": "ok"}) == 1
    assert value("finsent_ingest_feed_polls_total", {"feed": "rss2", "result": "not_modified"}) == 1
    assert value("finsent_ingest_feed_up", {"feed": "rss2"}) == 1
    assert 27 <= p.next_delay_s() <= 33


def test_atom_entries_with_html_summaries_and_offsets(
    server: str, client: httpx.Client, metrics: IngestMetrics
) -> None:
    got: list[Candidate] = []
    assert poller(f"{server}/atom.xml", client, metrics, got).poll_once() == "ok"
    assert [c.source_id for c in got if isinstance(c, RawItem)] == [
        "rss:urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "rss:urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6b",
    ]
    second = got[1]
    assert isinstance(second, RawItem)
    assert second.published_at == datetime(2015, 10, 22, 20, 0, tzinfo=UTC)  # +01:00 -> UTC
    assert second.text is not None and "Alphabet" in second.text


@pytest.mark.parametrize(
    ("path", "result"),
    [("/malformed.xml", "malformed"), ("/html", "malformed"), ("/missing.xml", "http_error")],
)
def test_broken_feeds_fail_without_raising_and_back_off(
    server: str, client: httpx.Client, metrics: IngestMetrics, path: str, result: str
) -> None:
    got: list[Candidate] = []
    p = poller(f"{server}{path}", client, metrics, got, interval_s=10)
    assert p.poll_once() == result
    assert got == []
    assert p.state.failures == 1
    assert 18 <= p.next_delay_s() <= 22  # 10 * 2^1 ± 10%
    p.poll_once()
    assert 36 <= p.next_delay_s() <= 44
    for _ in range(5):
        p.poll_once()
    assert p.next_delay_s() <= 66  # capped at max_backoff_s (60) + jitter
    name = p.feed.name
    assert metrics.registry.get_sample_value("finsent_ingest_feed_up", {"feed": name}) == 0
    assert (
        metrics.registry.get_sample_value(
            "finsent_ingest_feed_consecutive_failures", {"feed": name}
        )
        == 7
    )


def test_a_feed_that_hangs_times_out(
    server: str, client: httpx.Client, metrics: IngestMetrics
) -> None:
    p = poller(f"{server}/slow.xml", client, metrics, [], timeout_s=0.3)
    started = time.monotonic()
    assert p.poll_once() == "timeout"
    assert time.monotonic() - started < 1.4


def test_a_feed_that_trickles_hits_the_total_deadline(
    server: str, client: httpx.Client, metrics: IngestMetrics
) -> None:
    p = poller(f"{server}/trickle.xml", client, metrics, [], timeout_s=0.3)
    started = time.monotonic()
    assert p.poll_once() == "timeout"
    assert time.monotonic() - started < 1.5


def test_a_pipeline_outage_keeps_the_validators_so_entries_are_fetched_again(
    server: str, client: httpx.Client, metrics: IngestMetrics
) -> None:
    def failing(_: Candidate) -> None:
        raise TransientError("redis unavailable")

    feed = FeedConfig(name="rss2", url=f"{server}/rss2.xml")
    p = FeedPoller(feed, client, failing, metrics)
    assert p.poll_once() == "pipeline_error"
    assert p.state.etag is None


def test_feeds_run_independently_while_one_hangs(server: str, metrics: IngestMetrics) -> None:
    got: list[Candidate] = []
    lock = threading.Lock()

    def sink(c: Candidate) -> None:
        with lock:
            got.append(c)

    feeds = [
        FeedConfig(name="slow", url=f"{server}/slow.xml", interval_s=5, timeout_s=1.0),
        FeedConfig(name="atom", url=f"{server}/atom.xml", interval_s=0.1),
        FeedConfig(name="bad", url=f"{server}/malformed.xml", interval_s=0.1),
    ]
    stop = threading.Event()
    threads = start_feeds(feeds, sink, metrics, stop)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ok = metrics.registry.get_sample_value(
            "finsent_ingest_feed_polls_total", {"feed": "atom", "result": "ok"}
        )
        if ok and ok >= 2:
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    # The atom feed was polled again while the slow one was still hanging on its first poll.
    assert sum(1 for c in got if isinstance(c, RawItem) and c.source == "rss:atom") >= 4


def test_feeds_file_defaults_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "feeds.toml"
    good.write_text(
        '[defaults]\ninterval_s = 60\n\n[[feeds]]\nname = "a"\nurl = "https://a.example/rss"\n\n'
        '[[feeds]]\nname = "b"\nurl = "https://b.example/rss"\ninterval_s = 5\nenabled = false\n'
    )
    (feed,) = load_feeds(good)
    assert feed.interval_s == 60 and feed.timeout_s == 10
    bad = tmp_path / "bad.toml"
    bad.write_text('[[feeds]]\nname = "A B"\nurl = "ftp://x"\n')
    with pytest.raises(ConfigurationError, match="bad feeds file"):
        load_feeds(bad)


def test_the_shipped_deploy_feeds_file_parses() -> None:
    deploy = Path(__file__).resolve().parents[3] / "deploy" / "feeds.toml"
    feeds = load_feeds(deploy)
    assert feeds and all(f.url.startswith("https://") for f in feeds)


def test_a_body_that_looks_like_a_path_is_parsed_as_a_document_not_opened(
    tmp_path: Path,
) -> None:
    # feedparser.parse(bytes) opened a body shaped like a path as a local file.
    secret = tmp_path / "feed.xml"
    secret.write_bytes(
        b"<rss version='2.0'><channel><item><title>leaked local file</title>"
        b"<guid>x</guid></item></channel></rss>"
    )
    feed = FeedConfig(name="evil", url="https://feeds.example/evil")
    with pytest.raises(MalformedFeed):
        parse_feed(str(secret).encode(), feed, NOW)


def _mock_poller(
    handler: Callable[[httpx.Request], httpx.Response], url: str, max_bytes: int = 1 << 20
) -> tuple[FeedPoller, list[Candidate]]:
    got: list[Candidate] = []
    client = httpx.Client(transport=httpx.MockTransport(handler))
    feed = FeedConfig(name="mock", url=url)
    return (
        FeedPoller(
            feed, client, got.append, IngestMetrics(CollectorRegistry()), max_bytes=max_bytes
        ),
        got,
    )


RSS_ONE = (
    b"<rss version='2.0'><channel><item><title>Apple falls</title><guid>g1</guid>"
    b"<pubDate>Thu, 01 Jan 2026 00:00:00 GMT</pubDate></item></channel></rss>"
)


@pytest.mark.parametrize(
    ("location", "followed"),
    [
        ("https://feeds.example/moved.xml", True),
        ("/moved.xml", True),
        ("http://feeds.example/moved.xml", False),  # downgrade
        ("https://169.254.169.254/latest/meta-data", False),  # another host
        ("file:///etc/passwd", False),
    ],
)
def test_redirects_are_followed_only_to_https_on_the_same_host(
    location: str, followed: bool
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/feed.xml":
            return httpx.Response(301, headers={"Location": location})
        return httpx.Response(200, stream=httpx.ByteStream(RSS_ONE))

    p, got = _mock_poller(handler, "https://feeds.example/feed.xml")
    assert p.poll_once() == ("ok" if followed else "http_error")
    assert len(seen) == (2 if followed else 1)
    assert len(got) == (1 if followed else 0)


def test_gzip_is_inflated_only_up_to_the_cap() -> None:
    bomb = gzip.compress(b"<rss>" + b" " * (50 * 1024 * 1024))  # 50 MiB from ~50 KiB

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, stream=httpx.ByteStream(bomb), headers={"Content-Encoding": "gzip"}
        )

    p, _ = _mock_poller(handler, "https://feeds.example/bomb.xml", max_bytes=1 << 20)
    assert p.poll_once() == "too_large"

    def small(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            stream=httpx.ByteStream(gzip.compress(RSS_ONE)),
            headers={"Content-Encoding": "gzip"},
        )

    p, got = _mock_poller(small, "https://feeds.example/small.xml")
    assert p.poll_once() == "ok" and len(got) == 1
