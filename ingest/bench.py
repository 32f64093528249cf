"""`finsent ingest bench-push`: push API throughput over loopback HTTP, into a scratch topic.

The figures in docs/ingest.md come from this. It writes to its own namespace and topic,
and drops both afterwards.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import secrets
import string
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
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
from ingest.wiring import open_ingestor


class PushBench(BaseModel):
    single_requests: int
    single_requests_per_s: float
    single_ms_per_request: float
    concurrency: int
    client_processes: int
    """Processes the `concurrency` clients are spread over (loopback, same machine)."""
    concurrent_requests: int
    concurrent_requests_per_s: float
    """One-document requests/s from `concurrency` clients, acknowledgements grouped."""
    concurrent_p99_ms: float
    concurrent_requests_per_group: float
    """Requests per ingest call in that phase (`finsent_ingest_push_group_requests`)."""
    baseline_requests_per_s: float
    """The same load on the old path: a producer flush per request."""
    baseline_p99_ms: float
    batch_size: int
    batches: int
    batch_docs_per_s: float
    batch_ms_per_request: float
    accepted: int


def _text() -> str:
    # Distinct random words: the bench measures throughput, not deduplication. Letters
    # only: the near-duplicate check treats every word holding a digit as one feature.
    return "Apple " + " ".join(
        "".join(secrets.choice(string.ascii_lowercase) for _ in range(6)) for _ in range(8)
    )


class _Load(BaseModel):
    """What one load-generating process saw: per-request latencies and its wall span."""

    latencies_s: list[float]
    started_at: float
    ended_at: float
    accepted: int


async def _concurrent(url: str, token: str, published: str, requests: int, clients: int) -> _Load:
    """`requests` one-document POSTs from `clients` concurrent clients.

    aiohttp, not httpx: its C parser costs the shared cores about a third of httpx's
    pure-Python HTTP/1.1 per request, so the figure is less the load generator's own.
    """
    latencies: list[float] = []
    accepted = 0
    remaining = requests
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as http:

        async def post(body: bytes) -> dict[str, Any]:
            async with http.post(url, data=body) as reply:
                answer: dict[str, Any] = await reply.json()
                return answer

        async def client() -> None:
            nonlocal remaining, accepted
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                body = json.dumps({"text": _text(), "published_at": published}).encode()
                try:
                    answer = await post(body)
                except aiohttp.ClientConnectionError:  # a keep-alive connection closed under us
                    answer = await post(body)
                latencies.append(time.perf_counter() - started)
                accepted += int(answer.get("accepted", 0))

        started_at = time.time()
        await asyncio.gather(*(client() for _ in range(clients)))
        ended_at = time.time()
    return _Load(latencies_s=latencies, started_at=started_at, ended_at=ended_at, accepted=accepted)


def _load_in_children(
    url: str, token: str, published: str, requests: int, clients: int, procs: int
) -> tuple[float, float, int]:
    """requests/s, p99 ms and accepted count, the load spread over `procs` processes.

    The load generator's Python (httpx, asyncio) must not share the server's GIL, or the
    bench measures the client as much as the API; one client process also tops out
    before the server does. The processes still share the machine's cores, as clients on
    the same host would. Requests/s is all requests over the union of the wall spans.
    """
    shares = [(requests * (i + 1)) // procs - (requests * i) // procs for i in range(procs)]
    per_proc = [(clients * (i + 1)) // procs - (clients * i) // procs for i in range(procs)]
    jobs = [(url, token, published, n, c) for n, c in zip(shares, per_proc, strict=True)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        loads: list[_Load] = pool.starmap(_run_concurrent, jobs)
    span = max(x.ended_at for x in loads) - min(x.started_at for x in loads)
    latencies = sorted(t for x in loads for t in x.latencies_s)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return requests / span, 1000 * p99, sum(x.accepted for x in loads)


def _groups(metrics: IngestMetrics) -> float:
    """Groups of requests handled so far (the histogram's count)."""
    return sum(
        sample.value
        for metric in metrics.push_group_requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    )


def _run_concurrent(url: str, token: str, published: str, requests: int, clients: int) -> _Load:
    return asyncio.run(_concurrent(url, token, published, requests, clients))


def bench_push(
    settings: FinsentSettings,
    ingest: IngestSettings,
    singles: int = 300,
    batches: int = 20,
    concurrent: int = 3000,
    clients: int = 32,
    client_procs: int = 2,
) -> PushBench:
    """Time `singles` sequential one-document requests, `concurrent` one-document requests
    from `clients` concurrent clients (grouped acks, then the per-request-flush baseline on
    the same load), then `batches` requests of 100 documents."""
    token = secrets.token_hex(16)
    config = ingest.model_copy(
        update={
            "push_token": SecretStr(token),
            "push_clients": {},  # the bench's own token only: it is one client
            "push_rate_per_s": 1e9,
            "push_burst": 10**9,
        }
    )
    topic = f"bench.push-{uuid.uuid4().hex[:8]}.v1"
    namespace = "bench-push-" + uuid.uuid4().hex[:8]
    published = datetime(2015, 10, 14, 12, tzinfo=UTC).isoformat()
    accepted = 0
    try:
        with open_ingestor(
            settings, config, namespace=namespace, topic=topic, max_consecutive_invalid=None
        ) as ingestor:
            metrics = IngestMetrics(CollectorRegistry())
            grouped = _serve(create_app(ingestor, config, metrics))
            flushing = _serve(
                create_app(ingestor, config, IngestMetrics(CollectorRegistry()), group_acks=False)
            )
            url = f"{grouped.url}/v1/documents"
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                started = time.perf_counter()
                for _ in range(singles):
                    reply = http.post(url, json={"text": _text(), "published_at": published})
                    accepted += int(reply.json().get("accepted", 0))
                single_s = time.perf_counter() - started
                groups_before = _groups(metrics)
                rate, p99, n = _load_in_children(
                    url, token, published, concurrent, clients, client_procs
                )
                accepted += n
                groups = _groups(metrics) - groups_before
                base_rate, base_p99, n = _load_in_children(
                    f"{flushing.url}/v1/documents",
                    token,
                    published,
                    concurrent,
                    clients,
                    client_procs,
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
        client_processes=client_procs,
        concurrent_requests=concurrent,
        concurrent_requests_per_s=round(rate, 1),
        concurrent_p99_ms=round(p99, 1),
        concurrent_requests_per_group=round(concurrent / max(1.0, groups), 1),
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
