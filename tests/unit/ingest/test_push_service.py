"""`PushService` under `run_service`: SIGTERM drains in-flight requests, then exits 0.

The ingestor is a stand-in (the real one over Kafka and Redis is exercised by
tests/integration/test_ingest_hostile.py); here only the serving and stopping are tested.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import cast

import httpx
import pytest
from pydantic import SecretStr

from finsent.errors import ConfigurationError
from finsent.service import run_service
from finsent.settings import FinsentSettings
from ingest.ingestor import Handled, Ingestor
from ingest.metrics import IngestMetrics
from ingest.models import Candidate
from ingest.push_service import PushService
from ingest.settings import IngestSettings

TOKEN = "unit-token"
VENDOR = "unit-vendor-token"
DOC = {"text": "Apple falls", "published_at": "2015-10-14T12:00:00Z"}


class SlowIngestor:
    """Holds each push until `release` is set; records whether it was flushed and closed."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = False

    def handle_groups_and_wait(
        self, groups: Sequence[Sequence[Candidate]], timeout_s: float = 30.0
    ) -> list[list[Handled]]:
        self.entered.set()
        assert self.release.wait(10)
        return [[Handled("produced", doc_id=f"d{i}") for i, _ in enumerate(g)] for g in groups]

    def readiness(self) -> dict[str, bool]:
        return {"kafka": True}

    @contextlib.contextmanager
    def opened(self, metrics: IngestMetrics) -> Iterator[Ingestor]:
        yield cast(Ingestor, self)
        self.closed = True  # `open_ingestor` flushes the producer here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_answers_the_request_in_flight_then_exits_0(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ingestor = SlowIngestor()
    port = _free_port()
    service = PushService(
        FinsentSettings(),
        IngestSettings(push_token=SecretStr(TOKEN), push_clients={"vendor": SecretStr(VENDOR)}),
        host="127.0.0.1",
        port=port,
        open_ingestor=ingestor.opened,
    )
    answers: dict[str, int] = {}

    def client() -> None:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # until uvicorn listens
            with contextlib.suppress(httpx.TransportError):
                answers["readyz"] = httpx.get(f"{url}/readyz", timeout=5).status_code
                break
            threading.Event().wait(0.1)
        answers["ready"] = service.health.ready
        headers = {"Authorization": f"Bearer {TOKEN}"}
        answers["push"] = httpx.post(
            f"{url}/v1/documents", json=DOC, headers=headers, timeout=20
        ).status_code

    def terminate_mid_request() -> None:
        assert ingestor.entered.wait(20)
        os.kill(os.getpid(), signal.SIGTERM)  # what `docker stop` sends
        threading.Event().wait(0.5)  # the server is draining, the request still held
        answers["ready_while_draining"] = service.health.ready
        ingestor.release.set()

    threads = [threading.Thread(target=f) for f in (client, terminate_mid_request)]
    for t in threads:
        t.start()
    assert run_service(service, None, command="finsent ingest serve") == 0
    for t in threads:
        t.join(timeout=20)
    assert answers == {"readyz": 200, "ready": True, "push": 202, "ready_while_draining": False}
    assert ingestor.closed
    # The start-up log names the clients, and no log line carries a token.
    (started,) = [r for r in caplog.records if r.getMessage() == "push clients configured"]
    assert started.__dict__["clients"] == ["default", "vendor"]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert TOKEN not in logged and VENDOR not in logged


def test_no_token_is_refused_before_anything_opens() -> None:
    with pytest.raises(ConfigurationError, match="FINSENT_INGEST_PUSH_TOKEN"):
        PushService(FinsentSettings(), IngestSettings(push_token=None))
