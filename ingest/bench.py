"""`finsent ingest bench-push`: push API throughput over loopback HTTP, into a scratch topic.

The figures in docs/ingest.md come from this. It writes to its own namespace and topic,
and drops both afterwards.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr

from finsent.kafka_io import make_admin
from finsent.settings import FinsentSettings
from finsent.topics import dlq_of
from ingest.metrics import IngestMetrics
from ingest.replay import drop_replay
from ingest.settings import IngestSettings
from ingest.sources.push import create_app
from ingest.wiring import open_pipeline


class PushBench(BaseModel):
    single_requests: int
    single_requests_per_s: float
    single_ms_per_request: float
    concurrency: int
    concurrent_requests: int
    concurrent_requests_per_s: float
    """One-document requests/s from `concurrency` clients, acknowledgements grouped."""
    concurrent_p99_ms: float
    baseline_requests_per_s: float
    """The same load on the old path: a producer flush per request."""
    baseline_p99_ms: float
    batch_size: int
    batches: int
    batch_docs_per_s: float
    batch_ms_per_request: float
    accepted: int


def _text() -> str:
    # Distinct random words: the bench measures throughput, not deduplication.
    return "Apple " + " ".join(secrets.token_hex(3) for _ in range(8))


async def _concurrent(
    url: str, token: str, published: str, requests: int, clients: int
) -> tuple[float, float, int]:
    """requests/s, p99 ms and accepted count for `requests` one-document POSTs."""
    latencies: list[float] = []
    accepted = 0
    remaining = requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=60, limits=limits
    ) as http:

        async def client() -> None:
            nonlocal remaining, accepted
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                doc = {"text": _text(), "published_at": published}
                try:
                    reply = await http.post(url, json=doc)
                except httpx.TransportError:  # a keep-alive connection closed under us
                    reply = await http.post(url, json=doc)
                latencies.append(time.perf_counter() - started)
                accepted += int(reply.json().get("accepted", 0))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return requests / elapsed, 1000 * p99, accepted


def _load_in_child(
    url: str, token: str, published: str, requests: int, clients: int
) -> tuple[float, float, int]:
    """`_concurrent` in a process of its own: the load generator's Python (httpx, asyncio)
    must not share the server's GIL, or the bench measures the client as much as the API.
    It still shares the machine's cores, as a client on the same host would."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: tuple[float, float, int] = pool.apply(
            _run_concurrent, (url, token, published, requests, clients)
        )
    return result


def _run_concurrent(
    url: str, token: str, published: str, requests: int, clients: int
) -> tuple[float, float, int]:
    return asyncio.run(_concurrent(url, token, published, requests, clients))


def bench_push(
    settings: FinsentSettings,
    ingest: IngestSettings,
    singles: int = 300,
    batches: int = 20,
    concurrent: int = 3000,
    clients: int = 32,
) -> PushBench:
    """Time `singles` sequential one-document requests, `concurrent` one-document requests
    from `clients` concurrent clients (grouped acks, then the per-request-flush baseline on
    the same load), then `batches` requests of 100 documents."""
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
            grouped = _serve(create_app(pipe, config, IngestMetrics(CollectorRegistry())))
            flushing = _serve(
                create_app(pipe, config, IngestMetrics(CollectorRegistry()), group_acks=False)
            )
            url = f"{grouped.url}/v1/documents"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                started = time.perf_counter()
                for _ in range(singles):
                    reply = http.post(url, json={"text": _text(), "published_at": published})
                    accepted += int(reply.json().get("accepted", 0))
                single_s = time.perf_counter() - started
                rate, p99, n = _load_in_child(url, token, published, concurrent, clients)
                accepted += n
                base_rate, base_p99, n = _load_in_child(
                    f"{flushing.url}/v1/documents", token, published, concurrent, clients
                )
                accepted += n
                started = time.perf_counter()
                for _ in range(batches):
                    docs = [{"text": _text(), "published_at": published} for _ in range(100)]
                    accepted += int(http.post(url, json=docs).json().get("accepted", 0))
                batch_s = time.perf_counter() - started
            grouped.stop()
            flushing.stop()
    finally:
        drop_replay(settings, namespace)
        admin = make_admin(settings.kafka)
        try:
            admin.delete_topics([topic, dlq_of(topic)])
        finally:
            admin.close()
    return PushBench(
        single_requests=singles,
        single_requests_per_s=round(singles / single_s, 1),
        single_ms_per_request=round(1000 * single_s / singles, 1),
        concurrency=clients,
        concurrent_requests=concurrent,
        concurrent_requests_per_s=round(rate, 1),
        concurrent_p99_ms=round(p99, 1),
        baseline_requests_per_s=round(base_rate, 1),
        baseline_p99_ms=round(base_p99, 1),
        batch_size=100,
        batches=batches,
        batch_docs_per_s=round(100 * batches / batch_s, 1),
        batch_ms_per_request=round(1000 * batch_s / batches, 1),
        accepted=accepted,
    )


class _Served:
    """A uvicorn server on a free loopback port, in a thread."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _serve(app: FastAPI) -> _Served:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            timeout_keep_alive=60,  # idle gaps between runs must not close client connections
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return _Served(server, thread)
