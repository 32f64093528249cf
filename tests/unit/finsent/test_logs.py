"""configure_logging: JSON lines, and no per-request noise from the HTTP and Kafka clients."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from finsent.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "kafka")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def test_an_http_request_logs_nothing_at_info(capsys: pytest.CaptureFixture[str]) -> None:
    # `finsent ingest bench-push` printed one line per request, `feeds` one per poll.
    configure_logging("INFO")
    transport = httpx.MockTransport(lambda request: httpx.Response(202))
    with httpx.Client(transport=transport) as client:
        client.post("http://127.0.0.1:1/v1/documents?token=not-for-logs")
    logging.getLogger("finsent.test").info("kept", extra={"n": 1})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["msg"], line["n"]) for line in lines] == [
        ("finsent.test", "kept", 1)
    ]


def test_client_warnings_still_reach_the_log() -> None:
    configure_logging("INFO")
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    assert logging.getLogger("kafka").isEnabledFor(logging.WARNING)


def test_at_debug_the_request_lines_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    # What an operator debugging a feed or a channel asks for (secrets are masked by
    # alerts.redact, tested in tests/unit/alerts/test_notify_secrets.py).
    configure_logging("DEBUG")
    transport = httpx.MockTransport(lambda request: httpx.Response(202))
    with httpx.Client(transport=transport) as client:
        client.post("http://127.0.0.1:1/v1/documents")
    assert any(
        json.loads(line)["logger"] == "httpx" for line in capsys.readouterr().err.splitlines()
    )
