"""The push API over real HTTP (uvicorn on 127.0.0.1), with the real broker and Redis."""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.dedupe import drop_namespace_keys
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.sources.push import create_app
from ingest.wiring import open_ingestor
from tests.integration.conftest import read_topic

TOKEN = "test-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def serving(
    settings: FinsentSettings, topic: str, namespace: str, **overrides: Any
) -> Iterator[str]:
    ingest = IngestSettings(push_token=SecretStr(TOKEN), **overrides)
    metrics = IngestMetrics(CollectorRegistry())
    with (
        open_ingestor(
            settings,
            ingest,
            namespace=namespace,
            topic=topic,
            metrics=metrics,
            max_consecutive_invalid=None,
        ) as ingestor,
        serving_app(create_app(ingestor, ingest, metrics)) as url,
    ):
        yield url


@contextmanager
def serving_app(app: FastAPI) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def ns(redis_client: redis.Redis, namespace: str) -> Iterator[str]:
    yield namespace
    drop_namespace_keys(redis_client, namespace)


def doc(text: str, **kw: Any) -> dict[str, Any]:
    return {"text": text, "published_at": "2015-10-14T12:00:00Z", **kw}


def test_accepts_documents_and_answers_per_item(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    topic = topic_factory("push")
    with serving(settings, topic, ns) as url, httpx.Client(base_url=url) as http:
        one = http.post("/v1/documents", json=doc("Apple shares fall", id="a1"), headers=AUTH)
        assert one.status_code == 202
        assert one.json()["results"] == [
            {"index": 0, "status": "accepted", "id": "push:default:a1", "reason": None}
        ]
        batch = [
            doc("Apple shares fall", id="a1"),  # same id again
            doc("<p>Microsoft beats estimates</p>", source="desk", tickers=["MSFT"]),
            {"text": "no time"},
            doc("Oil steadies", published_at="1980-01-01T00:00:00Z"),
        ]
        many = http.post("/v1/documents", json={"documents": batch}, headers=AUTH)
        assert many.status_code == 202
        body = many.json()
        assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 2)
        statuses = [(r["status"], (r["reason"] or "").split(":")[0]) for r in body["results"]]
        assert statuses == [
            ("duplicate", "id"),
            ("accepted", ""),
            ("rejected", "missing_time"),
            ("rejected", "time_too_old"),
        ]
        none = http.post("/v1/documents", json=[{"text": "x"}, 5], headers=AUTH)
        assert none.status_code == 422
        assert none.json()["rejected"] == 2
        metrics = http.get("/metrics").text
        # Labels use the source kind only: push clients must not mint label values.
        assert 'finsent_ingest_documents_total{outcome="produced",source="push"} 2.0' in metrics
        assert "push:desk" not in metrics

    docs = [DOCUMENTS.decode(r.value) for r in read_topic(settings, topic)]
    assert sorted((d.source, d.text, d.tickers) for d in docs) == [
        ("push:default", "Apple shares fall", ("AAPL",)),
        ("push:desk", "Microsoft beats estimates", ("MSFT",)),
    ]
    assert len(read_topic(settings, topic + ".dlq")) == 4


@pytest.mark.parametrize(
    ("headers", "content", "status", "detail"),
    [
        ({}, json.dumps(doc("x")), 401, "bearer token"),
        ({"Authorization": "Bearer wrong"}, json.dumps(doc("x")), 401, "bearer token"),
        ({**AUTH, "Content-Type": "text/plain"}, "hello", 415, "content type"),
        ({**AUTH, "Content-Type": "application/json"}, "{nope", 400, "malformed"),
        ({**AUTH, "Content-Type": "application/json"}, "x" * 5000, 413, "over 4096 bytes"),
        ({**AUTH, "Content-Type": "application/json"}, json.dumps([doc("x")] * 4), 413, "batch"),
        ({**AUTH, "Content-Type": "application/json"}, "[]", 400, "empty_batch"),
    ],
)
def test_whole_request_errors_are_clear_4xx(
    settings: FinsentSettings,
    topic_factory: Callable[..., str],
    ns: str,
    headers: dict[str, str],
    content: str,
    status: int,
    detail: str,
) -> None:
    topic = topic_factory("push")
    with serving(settings, topic, ns, push_max_request_bytes=4096, push_max_batch=3) as url:
        reply = httpx.post(f"{url}/v1/documents", content=content, headers=headers)
    assert reply.status_code == status
    assert detail in reply.json()["detail"]
    if status == 401:
        assert reply.headers["www-authenticate"] == "Bearer"
    assert read_topic(settings, topic) == []


def test_rate_limit_answers_429_with_retry_after(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    topic = topic_factory("push")
    with serving(settings, topic, ns, push_rate_per_s=0.1, push_burst=2) as url:
        codes = [
            httpx.post(f"{url}/v1/documents", json=doc(f"Apple {i} falls"), headers=AUTH)
            for i in range(3)
        ]
    assert [c.status_code for c in codes] == [202, 202, 429]
    assert int(codes[2].headers["retry-after"]) >= 1


def test_each_client_has_its_own_rate_limit_and_metrics(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    """A runaway client is throttled alone; the default token's client still gets through."""
    topic = topic_factory("push")
    vendor = {"Authorization": "Bearer vendor-" + uuid.uuid4().hex}
    clients = {"vendor": SecretStr(vendor["Authorization"].removeprefix("Bearer "))}
    with serving(
        settings, topic, ns, push_clients=clients, push_rate_per_s=0.1, push_burst=2
    ) as url:
        post = functools.partial(httpx.post, f"{url}/v1/documents")
        runaway = [post(json=doc(f"Vendor {i} falls"), headers=vendor) for i in range(3)]
        default = post(json=doc("Apple falls after the vendor was throttled"), headers=AUTH)
        stranger = post(json=doc("Nobody"), headers={"Authorization": "Bearer nope"})
        metrics = httpx.get(f"{url}/metrics").text
    assert [r.status_code for r in runaway] == [202, 202, 429]
    assert (default.status_code, stranger.status_code) == (202, 401)
    for line in (
        'finsent_ingest_push_requests_total{client="vendor",status="202"} 2.0',
        'finsent_ingest_push_requests_total{client="vendor",status="429"} 1.0',
        'finsent_ingest_push_requests_total{client="default",status="202"} 1.0',
        'finsent_ingest_push_requests_total{client="unauthenticated",status="401"} 1.0',
    ):
        assert line in metrics
    assert len(read_topic(settings, topic)) == 3


def test_openapi_describes_the_endpoint(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    with serving(settings, topic_factory("push"), ns) as url:
        spec = httpx.get(f"{url}/openapi.json").json()
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        metrics = httpx.get(f"{url}/metrics").text
    post = spec["paths"]["/v1/documents"]["post"]
    assert {"202", "401", "413", "422", "429"} <= set(post["responses"])
    assert "oneOf" in post["requestBody"]["content"]["application/json"]["schema"]
    assert "published_at" in spec["components"]["schemas"]["DocumentIn"]["properties"]
    assert "finsent_ingest_push_requests_total" in metrics


hostile_items = st.one_of(
    st.builds(
        lambda t, i: doc(t, id=i),
        st.text(max_size=80),
        st.one_of(st.none(), st.text(min_size=1, max_size=30)),
    ),
    st.builds(lambda t: doc(f"Apple shares {t} after earnings report today"), st.uuids().map(str)),
    st.dictionaries(
        st.text(max_size=10), st.one_of(st.none(), st.integers(), st.text(max_size=20))
    ),
    st.builds(
        lambda t, ts: {"text": t, "published_at": ts},
        st.text(max_size=20),
        st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=True)),
    ),
    st.one_of(st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=3), st.none()),
)
bodies = st.one_of(
    hostile_items.map(lambda i: json.dumps(i).encode()),
    st.lists(hostile_items, max_size=6).map(lambda i: json.dumps(i).encode()),
    st.binary(max_size=100),
)


def test_fuzz_every_valid_item_arrives_once_and_every_reject_has_a_reason(
    settings: FinsentSettings, topic_factory: Callable[..., str], ns: str
) -> None:
    topic = topic_factory("push")
    accepted: list[str] = []
    rejected_items = 0
    sent_items = 0
    requests = 0
    with (
        serving(settings, topic, ns, push_rate_per_s=1e6, push_burst=10**6) as url,
        httpx.Client(base_url=url, headers=AUTH) as http,
    ):

        @hsettings(
            max_examples=1000,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(body=bodies)
        def send(body: bytes) -> None:
            nonlocal rejected_items, sent_items, requests
            requests += 1
            reply = http.post(
                "/v1/documents", content=body, headers={"Content-Type": "application/json"}
            )
            assert reply.status_code in (202, 400, 413, 422), reply.text
            payload = reply.json()
            if reply.status_code in (400, 413):
                assert payload["detail"]
                return
            results = payload["results"]
            sent_items += len(results)
            for r in results:
                if r["status"] == "rejected":
                    assert r["reason"]
                    rejected_items += 1
                else:
                    assert r["id"]
                if r["status"] == "accepted":
                    accepted.append(r["id"])

        send()
    assert requests >= 900 and sent_items > 500 and accepted and rejected_items
    on_topic = Counter(DOCUMENTS.decode(r.value).id for r in read_topic(settings, topic))
    assert on_topic == Counter(accepted)
    assert max(on_topic.values()) == 1
    assert len(read_topic(settings, topic + ".dlq")) == rejected_items
