"""The consumer waits for a (re)starting broker instead of crashing, up to a deadline."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from finsent.settings import FinsentSettings
from inference import service
from inference.settings import InferenceSettings


def flaky_topics(monkeypatch: pytest.MonkeyPatch, failures: int) -> list[int]:
    calls: list[int] = []

    def ensure(*_: Any) -> None:
        calls.append(1)
        if len(calls) <= failures:
            raise KafkaTimeoutError()

    monkeypatch.setattr(service, "ensure_pipeline_topics", ensure)
    return calls


def test_waits_for_the_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, sleeps = flaky_topics(monkeypatch, failures=2), list[float]()
    service._wait_for_broker(FinsentSettings(), InferenceSettings(), sleep=sleeps.append)
    assert (len(calls), sleeps) == (3, [2.0, 2.0])


def test_gives_up_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    calls, sleeps = flaky_topics(monkeypatch, failures=10), list[float]()
    with pytest.raises(KafkaTimeoutError):
        service._wait_for_broker(
            FinsentSettings(), InferenceSettings(), timeout_s=0, sleep=sleeps.append
        )
    assert (len(calls), sleeps) == (1, [])
