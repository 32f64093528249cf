"""Feeds served over loopback HTTP, through the ingestor, onto the real broker."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.dedupe import drop_namespace_keys
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.sources.rss import FeedConfig, start_feeds
from ingest.wiring import open_ingestor
from tests.integration.conftest import read_topic

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "ingest" / "feeds"
ETAG = '"v1"'


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow.xml":
            time.sleep(2)
        if self.headers.get("If-None-Match") == ETAG:
            self.send_response(304)
            self.end_headers()
            return
        name = self.path.lstrip("/").replace("slow.xml", "rss2.xml")
        if not (FEEDS / name).is_file():
            self.send_response(404)
            self.end_headers()
            return
        body = (FEEDS / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if name == "rss2.xml":
            self.send_header("ETag", ETAG)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ns(redis_client: redis.Redis, namespace: str) -> Iterator[str]:
    yield namespace
    drop_namespace_keys(redis_client, namespace)


def test_feeds_to_kafka_with_304s_dedupe_and_failing_feeds(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str, server: str
) -> None:
    topic = topic_factory("rss", partitions=2)
    metrics = IngestMetrics(CollectorRegistry())
    value = metrics.registry.get_sample_value
    feeds = [
        FeedConfig(name="wire", url=f"{server}/rss2.xml", interval_s=0.2),
        FeedConfig(name="tech", url=f"{server}/atom.xml", interval_s=0.2),
        FeedConfig(name="broken", url=f"{server}/malformed.xml", interval_s=0.2),
        FeedConfig(name="gone", url=f"{server}/missing.xml", interval_s=0.2),
        FeedConfig(name="slow", url=f"{server}/slow.xml", interval_s=0.2, timeout_s=0.5),
    ]
    stop = threading.Event()
    with open_ingestor(
        settings, IngestSettings(), namespace=ns, topic=topic, max_consecutive_invalid=None
    ) as ingestor:
        threads = start_feeds(feeds, ingestor.handle, metrics, stop, max_backoff_s=0.5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            polls = [
                value(
                    "finsent_ingest_feed_polls_total", {"feed": "wire", "result": "not_modified"}
                ),
                value("finsent_ingest_feed_polls_total", {"feed": "tech", "result": "ok"}),
                value("finsent_ingest_feed_polls_total", {"feed": "slow", "result": "timeout"}),
            ]
            if all(p is not None and p >= 2 for p in polls):
                break
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        ingestor.flush()
        report = ingestor.report()

    assert report.balanced
    assert report.produced == 5  # 3 wire items with text + 2 atom entries
    assert report.dead_letter_reasons == {"missing_text": 1}  # the empty wire item, once
    assert report.duplicates == report.duplicates_by_kind["id"] >= 2  # atom re-polls (no ETag)

    docs = {d.id: d for d in (DOCUMENTS.decode(r.value) for r in read_topic(settings, topic))}
    assert len(docs) == 5
    apple = docs["rss:example-wire-1001"]
    assert apple.source == "rss:wire"
    assert apple.tickers == ("AAPL",)
    assert (
        apple.text
        == "Shares of Apple fell 2% & suppliers slid after a research firm cut its estimate."
    )
    assert apple.published_at == datetime(2015, 10, 14, 14, 5, tzinfo=UTC)
    assert docs["rss:example-wire-1003"].text == "Oil steadies as traders weigh supply data"
    assert len(read_topic(settings, topic + ".dlq")) == 1

    for feed, up in (("wire", 1), ("tech", 1), ("broken", 0), ("gone", 0), ("slow", 0)):
        assert value("finsent_ingest_feed_up", {"feed": feed}) == up
    assert value("finsent_ingest_feed_polls_total", {"feed": "broken", "result": "malformed"})
    assert value("finsent_ingest_feed_polls_total", {"feed": "gone", "result": "http_error"})


def test_the_rss_service_serves_health_and_metrics_and_stops_on_sigterm(
    settings: FinsentSettings, topic_factory: Callable[..., str], server: str, tmp_path: Path
) -> None:
    """`finsent ingest rss` as operators run it: /readyz once its ingestor is open, the
    feed gauges on /metrics (the same endpoint as every other service), exit 0 on SIGTERM."""
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    topic = topic_factory("rss-svc", partitions=1)
    config = tmp_path / "feeds.toml"
    config.write_text(f'[[feeds]]\nname = "local"\nurl = "{server}/rss2.xml"\ninterval_s = 60\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "FINSENT_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "FINSENT_REDIS__PORT": str(settings.redis.port),
    }
    finsent = str(Path(sys.executable).parent / "finsent")
    args = ["ingest", "rss", "--config", str(config), "--metrics-port", str(port), "--topic", topic]
    proc = subprocess.Popen([finsent, *args], env=env, stderr=subprocess.PIPE, text=True)
    try:

        def get(path: str) -> tuple[int, str]:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, ""
            except OSError:
                return 0, ""

        deadline = time.monotonic() + 120
        while get("/readyz")[0] != 200:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the rss service never became ready"
            time.sleep(0.3)
        while 'finsent_ingest_feed_up{feed="local"} 1.0' not in get("/metrics")[1]:
            assert time.monotonic() < deadline, get("/metrics")[1][-2000:]
            time.sleep(0.3)
        # The services' one observability endpoint, not a metrics-only server that answers
        # every path with metrics (as prometheus_client's did here).
        assert get("/readyz") == (200, "ready\n") and get("/healthz") == (200, "ok\n")
        assert get("/no-such-path")[0] == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        report = proc.stderr.read() if proc.stderr else ""
        assert "stopping on signal" in report or json.dumps("stopping on signal") in report
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
