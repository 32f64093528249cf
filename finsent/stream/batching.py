"""Batch closing rules: a token budget, an item cap and a maximum wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class BatchPolicy(BaseModel):
    """When a batch closes. Whichever limit is reached first wins.

    The token budget bounds padded work (longest sequence x count), so a batch of
    headlines can be large while a batch of long articles stays small.
    """

    model_config = ConfigDict(frozen=True)

    max_count: int = Field(default=256, ge=1)
    max_tokens: int = Field(default=16_384, ge=1)
    """Budget on `count x longest item` in tokens: what a padded forward pass costs."""
    max_wait_s: float = Field(default=0.1, ge=0.0)
    """Longest time the first item of a batch waits for company while the model is busy."""
    launch_when_idle: bool = True
    """Close the open batch as soon as the model has nothing to do, without waiting.

    Waiting only pays while the model is busy: items that arrive meanwhile join the next
    batch for free. An idle model that waits adds the wait to every item's latency. Under
    load the model is never idle, so batches still fill up to the count and token limits.
    """


class BatchBuilder(Generic[T]):
    """Accumulates items until the policy says the batch is full or old enough."""

    def __init__(
        self,
        policy: BatchPolicy,
        cost: Callable[[T], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._cost = cost
        self._clock = clock
        self._items: list[T] = []
        self._longest = 0
        self._opened_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def policy(self) -> BatchPolicy:
        """The limits this builder closes batches by."""
        return self._policy

    def fits(self, item_cost: int) -> bool:
        """Whether one more item of this cost stays within the budget."""
        if not self._items:
            return True
        longest = max(self._longest, item_cost)
        return (
            len(self._items) < self._policy.max_count
            and longest * (len(self._items) + 1) <= self._policy.max_tokens
        )

    def add(self, item: T, item_cost: int | None = None) -> None:
        cost = self._cost(item) if item_cost is None else item_cost
        if not self._items:
            self._opened_at = self._clock()
        self._items.append(item)
        self._longest = max(self._longest, cost)

    def full(self) -> bool:
        return len(self._items) >= self._policy.max_count or (
            self._longest * len(self._items) >= self._policy.max_tokens
        )

    def expired(self) -> bool:
        return (
            self._opened_at is not None
            and self._clock() - self._opened_at >= self._policy.max_wait_s
        )

    def time_left_s(self) -> float:
        """Seconds until the open batch expires (the full wait when empty)."""
        if self._opened_at is None:
            return self._policy.max_wait_s
        return max(0.0, self._policy.max_wait_s - (self._clock() - self._opened_at))

    def take(self) -> list[T]:
        items, self._items = self._items, []
        self._longest = 0
        self._opened_at = None
        return items
