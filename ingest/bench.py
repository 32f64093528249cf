"""`finsent ingest bench-push`: push API throughput over loopback HTTP, into a scratch topic.

The figures in docs/ingest.md come from this. It writes to its own namespace and topic,
and drops both afterwards.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr

from finsent.kafka_io import make_admin
from finsent.settings import FinsentSettings
from ingest.metrics import IngestMetrics
from ingest.replay import drop_replay
from ingest.settings import IngestSettings
from ingest.sources.push import create_app
from ingest.wiring import open_pipeline


class PushBench(BaseModel):
    single_requests: int
    single_requests_per_s: float
    single_ms_per_request: float
    batch_size: int
    batches: int
    batch_docs_per_s: float
    batch_ms_per_request: float
    accepted: int


def _text() -> str:
    # Distinct random words: the bench measures throughput, not deduplication.
    return "Apple " + " ".join(secrets.token_hex(3) for _ in range(8))


def bench_push(
    settings: FinsentSettings, ingest: IngestSettings, singles: int = 300, batches: int = 20
) -> PushBench:
    """Time `singles` one-document requests, then `batches` requests of 100 documents."""
    token = secrets.token_hex(16)
    config = ingest.model_copy(
        update={"push_token": SecretStr(token), "push_rate_per_s": 1e9, "push_burst": 10**9}
    )
    topic = f"bench.push-{uuid.uuid4().hex[:8]}.v1"
    namespace = "bench-push-" + uuid.uuid4().hex[:8]
    published = datetime(2015, 10, 14, 12, tzinfo=UTC).isoformat()
    accepted = 0
    try:
        with open_pipeline(
            settings, config, namespace=namespace, topic=topic, max_consecutive_invalid=None
        ) as pipe:
            app = create_app(pipe, config, IngestMetrics(CollectorRegistry()))
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}/v1/documents"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                started = time.perf_counter()
                for _ in range(singles):
                    reply = http.post(url, json={"text": _text(), "published_at": published})
                    accepted += int(reply.json().get("accepted", 0))
                single_s = time.perf_counter() - started
                started = time.perf_counter()
                for _ in range(batches):
                    docs = [{"text": _text(), "published_at": published} for _ in range(100)]
                    accepted += int(http.post(url, json=docs).json().get("accepted", 0))
                batch_s = time.perf_counter() - started
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        drop_replay(settings, namespace)
        admin = make_admin(settings.kafka)
        try:
            admin.delete_topics([topic, topic + ".dlq"])
        finally:
            admin.close()
    return PushBench(
        single_requests=singles,
        single_requests_per_s=round(singles / single_s, 1),
        single_ms_per_request=round(1000 * single_s / singles, 1),
        batch_size=100,
        batches=batches,
        batch_docs_per_s=round(100 * batches / batch_s, 1),
        batch_ms_per_request=round(1000 * batch_s / batches, 1),
        accepted=accepted,
    )
