"""`finsent run` fails fast with the cause: a dead scorer, or a stall, never an hour's wait."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from cli.run_lane import GroupProbe, RunFailed, check_scorer
from finsent.observability import HealthState
from finsent.service import ServiceThread
from finsent.stream.errors import NotInGroup


class _DyingService:
    registry = CollectorRegistry()
    health = HealthState()

    def run(self, stop: threading.Event) -> int:
        raise NotInGroup("no partition of replay.x.documents.v1 assigned for 60 s")


def test_a_dead_scorer_is_reported_with_its_error() -> None:
    scorer = ServiceThread(_DyingService(), None, threading.Event(), name="inference")
    scorer.start()
    scorer.join(timeout=10)
    with pytest.raises(RunFailed, match="NotInGroup: no partition"):
        check_scorer(scorer)


class _Consumer:
    def __init__(self, committed: int, end: int) -> None:
        self._committed, self._end = committed, end

    def committed(self, tp: TopicPartition) -> int:
        return self._committed

    def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, self._end)


def _probe(consumer: Any) -> GroupProbe:
    probe = GroupProbe.__new__(GroupProbe)
    probe._consumer = consumer
    probe._tps = [TopicPartition("replay.x.documents.v1", 0)]
    probe._group, probe._topic = "inference-replay-x", "replay.x.documents.v1"
    probe.describe_group = lambda: "state Empty, 0 members"  # type: ignore[method-assign]
    return probe


def test_waiting_checks_the_scorer_on_every_tick() -> None:
    def check() -> None:
        raise RunFailed("the scorer stopped before every document was scored (ComputeFault)")

    with pytest.raises(RunFailed, match="ComputeFault"):
        _probe(_Consumer(committed=0, end=10)).wait_caught_up(check)


def test_a_stall_fails_with_the_lag_and_the_brokers_view() -> None:
    with pytest.raises(RunFailed, match=r"stalled .* lag \{0: 10\} .*state Empty, 0 members"):
        _probe(_Consumer(committed=0, end=10)).wait_caught_up(lambda: None, stall_s=0.6)


def test_caught_up_returns() -> None:
    _probe(_Consumer(committed=10, end=10)).wait_caught_up(lambda: None)
