"""`finsent alerts run --once` as real processes: restarted mid-incident, it pages once.

The on-call receiver is a local HTTP server on 127.0.0.1 that records what it gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from finsent.labels import SentimentLabel
from finsent.schemas import Alert, ScoredDocument
from finsent.settings import REPO_ROOT, FinsentSettings
from finsent.store import SeriesStore, open_store
from finsent.store.testing import scored_doc

FINSENT = str(Path(sys.executable).parent / "finsent")
T0 = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
RULES = [
    {
        "name": "cli-1h",
        "window_s": 3600,
        "step_s": 300,
        "kinds": ["ticker"],
        "lateness_s": 0,
        "params": {"min_count": 20, "min_negative": 10, "resolve_s": 0},
    }
]


@pytest.fixture
def received() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(settings: FinsentSettings, namespace: str) -> Iterator[SeriesStore]:
    made = open_store(settings, "core")
    yield made
    made.drop_namespace(namespace)
    made.close()


def hour(ns: str, index: int, count: int, negatives: int) -> list[ScoredDocument]:
    docs = []
    for i in range(count):
        label: SentimentLabel = "negative" if i < negatives else "neutral"
        docs.append(
            scored_doc(f"{index}-{i}", T0 + index * H + timedelta(seconds=i * 67), ns, label)
        )
    return docs


def alerts_cli(args: list[str], ns: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FINSENT_ALERTS_RULES": json.dumps(RULES),
        "FINSENT_ALERTS_PAGE_NAMESPACES": json.dumps([ns]),
        "FINSENT_ALERTS_WEBHOOK_URL": url,
        "FINSENT_ALERTS_WEBHOOK_ALLOW_UNSIGNED": "true",
        "FINSENT_ALERTS_PUBLISH_KAFKA": "false",
        # The test writes with the core backend; the stack's Redis also has RedisTimeSeries.
        "FINSENT_STORE__BACKEND": "core",
        "FINSENT_ALERTS_METRICS_PORT": "0",
        # The data is from March 2026; let the wall clock treat it as recent.
        "FINSENT_ALERTS_MAX_EVENT_LAG_S": str(10 * 365 * 86_400),
    }
    return subprocess.run(
        [FINSENT, "alerts", *args, "--namespace", ns],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )


def test_a_restarted_service_pages_each_incident_once(
    store: SeriesStore, namespace: str, received: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = received
    shape = [(50, 10)] * 8 + [(50, 40)]
    for i, (count, negatives) in enumerate(shape):
        store.write_batch(hour(namespace, i, count, negatives))
    store.write_batch([scored_doc("tick-9", T0 + 9 * H, namespace, tickers=("ZZZ",))])

    first = alerts_cli(["run", "--once"], namespace, url)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "FIRING" in first.stdout and "ticker=WMT" in first.stdout

    # The incident goes on (a second hot hour) while the service restarts.
    store.write_batch(hour(namespace, 9, 50, 42))
    store.write_batch([scored_doc("tick-10", T0 + 10 * H, namespace, tickers=("ZZZ",))])
    second = alerts_cli(["run", "--once"], namespace, url)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout == ""

    store.write_batch(hour(namespace, 10, 50, 10))
    store.write_batch([scored_doc("tick-11", T0 + 11 * H, namespace, tickers=("ZZZ",))])
    third = alerts_cli(["run", "--once"], namespace, url)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "RESOLVED" in third.stdout

    pages = [Alert.model_validate(p) for p in got]
    assert [(p.state, p.series.value) for p in pages] == [("firing", "WMT"), ("resolved", "WMT")]
    assert pages[0].incident_id == pages[1].incident_id
    assert T0 + 8 * H < pages[0].window_end <= T0 + 9 * H and pages[0].doc_count >= 20
    assert pages[0].decided_at == pages[0].window_end  # lateness 0

    listed = alerts_cli(["list", "--json"], namespace, url)
    assert listed.returncode == 0, listed.stderr[-2000:]
    logged = [Alert.model_validate_json(line) for line in listed.stdout.splitlines()]
    assert [(a.state, a.incident_id) for a in logged] == [(p.state, p.incident_id) for p in pages]
    assert "holds no data" not in listed.stderr

    # A mistyped namespace prints no alerts either, but says so on stderr.
    typo = alerts_cli(["list", "--json"], namespace + "-typo", url)
    assert typo.returncode == 0 and typo.stdout == ""
    assert f"namespace '{namespace}-typo' holds no data" in typo.stderr
    assert namespace in typo.stderr.split("namespaces with data: ")[1]
