"""RetryingWriter: a transient failure pauses, backs off and retries; it can be given up."""

from __future__ import annotations

from typing import Any

from finsent.stream.base import Envelope, NullObserver, RetryPolicy
from finsent.stream.writer import RetryingWriter
from tests.unit.finsent.conftest import FakeHandler


class Hold:
    def __init__(self, give_up_after: int | None = None) -> None:
        self.events: list[str] = []
        self.waits: list[float] = []
        self._give_up_after = give_up_after

    def pause(self) -> None:
        self.events.append("pause")

    def hold(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return self._give_up_after is not None and len(self.waits) >= self._give_up_after

    def resume(self) -> None:
        self.events.append("resume")


class Observer(NullObserver):
    def __init__(self) -> None:
        self.retries: list[str] = []
        self.readiness: list[bool] = []

    def write_retried(self, reason: str) -> None:
        self.retries.append(reason)

    def ready(self, ready: bool) -> None:
        self.readiness.append(ready)


BATCH: list[Envelope[Any]] = [Envelope(0, i, 0, f"doc {i}", None) for i in range(3)]


def test_backs_off_exponentially_then_writes_and_resumes() -> None:
    handler = FakeHandler()
    handler.write_failures = 5
    hold, observer = Hold(), Observer()
    writer = RetryingWriter(
        handler, RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.5), observer, hold
    )
    assert writer.write(BATCH, [1, 2, 3]) == []
    assert hold.events == ["pause", "resume"]
    assert hold.waits == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert observer.retries == ["redis unavailable"] * 5
    assert observer.readiness[-1] is True and False in observer.readiness
    assert handler.written == [(0, 0), (0, 1), (0, 2)]


def test_gives_up_when_told_and_resumes_fetching() -> None:
    handler = FakeHandler()
    handler.write_failures = 100
    hold = Hold(give_up_after=2)
    writer = RetryingWriter(handler, RetryPolicy(), Observer(), hold)
    assert writer.write(BATCH, [1, 2, 3]) is None
    assert hold.events == ["pause", "resume"]
    assert handler.written == []
