"""What the stream runner's parts share: the envelope, the batch handler a consumer plugs in, and
the observer hooks for metrics and readiness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Envelope(Generic[T]):
    """A decoded message with where it came from (kept for commits and dead letters)."""

    partition: int
    offset: int
    timestamp_ms: int
    value: T
    raw: bytes | None
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """Item `index` of a batch, which will never succeed: it is dead-lettered with `reason`.

    What `compute` (an item that failed on its own while others computed) and `write` (an
    item the sink will never accept) return instead of raising `InvalidMessage`; `reason`
    is the same `reason_text`.
    """

    index: int
    reason: str


class BatchHandler(Protocol[T, P, R]):
    """What a consumer plugs into the runner. Only `compute` runs off the main thread."""

    def decode(self, raw: bytes | None) -> T:
        """Parse one message value; raise `InvalidMessage` for input that can never succeed."""
        ...

    def cost(self, item: T) -> int:
        """The item's size in tokens, for the batch token budget."""
        ...

    def canary(self) -> T:
        """A known-good item. When a lone item fails to compute, the canary is computed too:
        if it fails as well, the fault is the code's or the machine's, not the item's."""
        ...

    def prepare(self, items: Sequence[T]) -> P:
        """Main-thread work done while the previous batch computes (e.g. tokenisation)."""
        ...

    def compute(self, prepared: P) -> Sequence[R]:
        """The expensive step (the model): one result per item, in order."""
        ...

    def write(self, batch: Sequence[Envelope[T]], results: Sequence[R]) -> Sequence[Rejected]:
        """Persist results idempotently; raise `TransientError` when a dependency is down.

        Returns the items the sink refused for good (e.g. too late for retention): they
        are dead-lettered with the reason, and the batch is committed.
        """
        ...


class RunnerObserver(Protocol):
    """Hooks for metrics and readiness; every method must be cheap."""

    def batch_written(self, batch: Sequence[Envelope[Any]], compute_s: float) -> None: ...

    def dead_lettered(self, reason: str) -> None: ...

    def write_retried(self, reason: str) -> None: ...

    def lag(self, partition: int, messages: int, seconds: float) -> None: ...

    def partitions_revoked(self, partitions: Sequence[int]) -> None: ...

    def ready(self, ready: bool) -> None: ...


class NullObserver:
    """The default observer: records nothing."""

    def batch_written(self, batch: Sequence[Envelope[Any]], compute_s: float) -> None:
        pass

    def dead_lettered(self, reason: str) -> None:
        pass

    def write_retried(self, reason: str) -> None:
        pass

    def lag(self, partition: int, messages: int, seconds: float) -> None:
        pass

    def partitions_revoked(self, partitions: Sequence[int]) -> None:
        pass

    def ready(self, ready: bool) -> None:
        pass


class RetryPolicy(BaseModel):
    """Bounded exponential backoff for transient write failures."""

    model_config = ConfigDict(frozen=True)

    initial_backoff_s: float = Field(default=0.2, gt=0)
    max_backoff_s: float = Field(default=5.0, gt=0)


class RunStats(BaseModel):
    """Counters a run returns; tests and `finsent run` reports read them."""

    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    commits_deferred: int = 0
    """Commits the broker could not take (unreachable); their offsets went with a later one."""
    transient_failures: int = 0
