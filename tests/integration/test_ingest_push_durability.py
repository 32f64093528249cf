"""The push path under a broker outage, on a private stack (its own broker and Redis).

A 2xx means the document is on the topic: concurrent one-document requests run while the
broker is stopped and started again; every id that got a 202 must be read back. Requests
that could not be acknowledged get 503 and are retried by the client until they land, so
nothing is lost either; their dedupe claims are released or confirmed as Kafka settles.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import httpx
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from devstack.stack import Stack
from finsent.settings import FinsentSettings
from finsent.topics import DOCUMENTS
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.sources.push import create_app
from ingest.wiring import open_ingestor
from tests.integration.conftest import own_words, read_topic
from tests.integration.test_ingest_push import serving_app

TOKEN = "durable-" + uuid.uuid4().hex


def test_a_stopped_broker_never_acknowledges_a_lost_document(
    private_stack: tuple[Stack, FinsentSettings],
) -> None:
    stack, settings = private_stack
    topic = f"durable-{uuid.uuid4().hex[:8]}"
    ingest = IngestSettings(
        push_token=SecretStr(TOKEN),
        push_rate_per_s=1e6,
        push_burst=10**6,
        push_ack_timeout_s=5,
    )
    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    stop = threading.Event()
    lock = threading.Lock()
    with open_ingestor(
        settings, ingest, namespace=f"durable-{uuid.uuid4().hex[:6]}", topic=topic,
        max_consecutive_invalid=None,
    ) as ingestor:  # fmt: skip
        app = create_app(ingestor, ingest, IngestMetrics(CollectorRegistry()))
        with serving_app(app) as url:

            def client(n: int) -> None:
                i = 0
                with httpx.Client(base_url=url, timeout=60) as http:
                    while not stop.is_set():
                        doc = {
                            "id": f"c{n}-{i}",
                            "text": f"Apple shares move {n} {i} {own_words(uuid.uuid4().hex, 2)}",
                            "published_at": "2026-01-05T12:00:00Z",
                        }
                        try:
                            reply = http.post(
                                "/v1/documents",
                                json=doc,
                                headers={"Authorization": f"Bearer {TOKEN}"},
                            )
                        except httpx.TransportError:
                            continue
                        with lock:
                            statuses[reply.status_code] += 1
                            if reply.status_code == 202:
                                accepted.extend(
                                    r["id"]
                                    for r in reply.json()["results"]
                                    if r["status"] == "accepted"
                                )
                        if reply.status_code == 202:
                            i += 1  # else: retry the same document
                        else:
                            time.sleep(0.2)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            time.sleep(4)
            before = len(accepted)
            stack.down(("kafka",))
            time.sleep(8)
            during = statuses[503]
            stack.up(("kafka",))
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and len(accepted) < before + 50:
                time.sleep(0.5)
            stop.set()
            for t in threads:
                t.join(timeout=120)

    assert before > 0, "nothing was accepted before the outage"
    assert during > 0, f"the outage answered no 503: {statuses}"
    assert len(accepted) >= before + 50, "pushing did not resume after the broker came back"
    assert not [s for s in statuses if s >= 500 and s != 503], statuses
    on_topic = {DOCUMENTS.decode(r.value).id for r in read_topic(settings, topic)}
    lost = set(accepted) - on_topic
    assert not lost, f"{len(lost)} acknowledged documents are not on the topic"
