"""Shared fixtures. Integration tests use the real Kafka broker and Redis server that
`finsent stack up` started (the Makefile starts it before pytest); nothing here fakes them.

Each integration test gets its own uuid topics (deleted afterwards), a fresh consumer group
and its own Redis namespace, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from finsent.kafka_io import ensure_topics, make_admin
from finsent.settings import FinsentSettings

TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/integration/ as `integration` (run fast: -m 'not integration')."""
    for item in items:
        if (TESTS_DIR / "integration") in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """In CI a skipped integration test is a failure: the stack must be there."""
    if (
        call.when == "setup"
        and call.excinfo is not None
        and call.excinfo.errisinstance(pytest.skip.Exception)
        and item.get_closest_marker("integration") is not None
        and os.environ.get("CI")
    ):
        raise AssertionError(f"integration test {item.nodeid} was skipped in CI")


@pytest.fixture(scope="session")
def settings() -> FinsentSettings:
    return FinsentSettings()


@pytest.fixture(scope="session")
def redis_client(settings: FinsentSettings) -> redis.Redis:
    client = settings.redis.client()
    client.ping()
    return client


@pytest.fixture
def namespace() -> str:
    """A Redis/replay namespace unique to this test."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def topic_factory(settings: FinsentSettings) -> Iterator[Callable[..., str]]:
    """Creates uuid-named topics and deletes them (and their .dlq) after the test."""
    created: list[str] = []

    def make(prefix: str = "test", partitions: int = 1, with_dlq: bool = True) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:10]}.v1"
        names = [name, name + ".dlq"] if with_dlq else [name]
        ensure_topics(settings.kafka, names, partitions=partitions)
        created.extend(names)
        return name

    yield make
    if created:
        admin = make_admin(settings.kafka)
        try:
            admin.delete_topics(created)
        except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
            pass
        finally:
            admin.close()


@pytest.fixture
def consumer_group() -> str:
    return "test-" + uuid.uuid4().hex[:10]


STORE_BACKENDS = ("core", "timeseries")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many store tests passed on each backend (parametrised `[core]` / `[timeseries]`),
    so a run that silently lost one backend shows it."""
    passed = terminalreporter.stats.get("passed", [])
    counts = {
        backend: sum(1 for r in passed if f"[{backend}" in r.nodeid) for backend in STORE_BACKENDS
    }
    if any(counts.values()):
        terminalreporter.write_line(
            "store backends: " + ", ".join(f"{n} tests passed on {b}" for b, n in counts.items())
        )
