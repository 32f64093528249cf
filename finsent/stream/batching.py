"""Batch closing rules: a token budget, an item cap, a maximum wait and a latency target."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
    target_batch_s: float | None = Field(default=None, gt=0)
    """Close a batch once its predicted compute time reaches this many seconds.

    Counts and tokens alone do not bound latency: the same 128 tweets take 0.1 s on one
    CPU and over a second on another. The prediction comes from ``ComputeCostModel``,
    fitted online on the batches this process has computed, so it follows the machine
    and the load it is under. ``None`` (or no batch computed yet) leaves it out.
    """
    backlog_at: int | None = Field(default=None, ge=1)
    """Records waiting in Kafka beyond those taken at which the consumer is *behind*.

    While behind (until fewer than half this many wait), batches close on the backlog
    limits below and ignore ``target_batch_s``: every waiting record already waits for
    the whole queue, so throughput is what shortens its wait (``backlog.Backlog``).
    ``None`` never switches.
    """
    backlog_max_count: int = Field(default=256, ge=1)
    backlog_max_tokens: int = Field(default=16_384, ge=1)


class ComputeCostModel:
    """Predicts a batch's compute seconds from its size in tokens, learned online.

    A linear fit ``seconds = overhead + per_token * tokens`` over exponentially weighted
    sums of past batches (recent batches count most, ``decay`` per batch), so the
    estimate follows a machine whose speed changes with its neighbours' load. The
    intercept matters: a forward pass costs milliseconds before its first token, and a
    per-token rate fitted on small batches alone would over-predict large ones.

    Args:
        decay: Weight kept by the past at each new observation (0 < decay < 1).
    """

    def __init__(self, decay: float = 0.9) -> None:
        self._decay = decay
        self._n = self._sx = self._sy = self._sxx = self._sxy = 0.0

    def observe(self, tokens: int, seconds: float) -> None:
        """Add one computed batch: its summed item costs and its compute time."""
        if tokens <= 0 or seconds <= 0:
            return
        d, x = self._decay, float(tokens)
        self._n = d * self._n + 1
        self._sx = d * self._sx + x
        self._sy = d * self._sy + seconds
        self._sxx = d * self._sxx + x * x
        self._sxy = d * self._sxy + x * seconds

    def coefficients(self) -> tuple[float, float] | None:
        """``(overhead_s, per_token_s)``, or ``None`` before the first observation."""
        if self._n == 0:
            return None
        mean_x, mean_y = self._sx / self._n, self._sy / self._n
        var_x = self._sxx / self._n - mean_x * mean_x
        slope = (self._sxy / self._n - mean_x * mean_y) / var_x if var_x > 1e-9 else 0.0
        if slope <= 0 or mean_y - slope * mean_x < 0:
            # Too little spread in batch sizes (or noise) for an intercept: the cost is
            # all per token, which over-predicts larger batches, the safe side.
            return 0.0, mean_y / mean_x
        return mean_y - slope * mean_x, slope

    def predict_s(self, tokens: int) -> float | None:
        """Predicted compute seconds for a batch of ``tokens``; ``None`` until trained."""
        fit = self.coefficients()
        return None if fit is None else fit[0] + fit[1] * tokens


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
        self._tokens = 0
        self._opened_at: float | None = None
        self._costs = ComputeCostModel()
        self.backlogged = False
        """Set by the runner (``backlog.Backlog``): close on the backlog limits."""

    def __len__(self) -> int:
        return len(self._items)

    @property
    def policy(self) -> BatchPolicy:
        """The limits this builder closes batches by."""
        return self._policy

    @property
    def cost_model(self) -> ComputeCostModel:
        """The learned compute-time model behind ``target_batch_s``."""
        return self._costs

    def fits(self, item_cost: int) -> bool:
        """Whether one more item of this cost stays within the budget."""
        if not self._items:
            return True
        longest = max(self._longest, item_cost)
        max_count, max_tokens = self._limits()
        return (
            len(self._items) < max_count
            and longest * (len(self._items) + 1) <= max_tokens
            and not self._over_target(self._tokens + item_cost, strictly=True)
        )

    def _limits(self) -> tuple[int, int]:
        """``(max_count, max_tokens)`` of the current mode."""
        if self.backlogged:
            return self._policy.backlog_max_count, self._policy.backlog_max_tokens
        return self._policy.max_count, self._policy.max_tokens

    def record(self, item_costs: Sequence[int], compute_s: float) -> None:
        """Learn from a computed batch: the items' costs and how long the compute took.

        The runner calls this for every batch whose compute finished; it is what
        ``target_batch_s`` predicts from.
        """
        self._costs.observe(sum(item_costs), compute_s)

    def add(self, item: T, item_cost: int | None = None) -> None:
        cost = self._cost(item) if item_cost is None else item_cost
        if not self._items:
            self._opened_at = self._clock()
        self._items.append(item)
        self._longest = max(self._longest, cost)
        self._tokens += cost

    def full(self) -> bool:
        max_count, max_tokens = self._limits()
        return (
            len(self._items) >= max_count
            or self._longest * len(self._items) >= max_tokens
            or self._over_target(self._tokens, strictly=False)
        )

    def predicted_s(self) -> float | None:
        """Predicted compute seconds of the open batch (``None`` until trained)."""
        return self._costs.predict_s(self._tokens)

    def _over_target(self, tokens: int, *, strictly: bool) -> bool:
        target = self._policy.target_batch_s
        if target is None or self.backlogged:
            return False
        predicted = self._costs.predict_s(tokens)
        if predicted is None:
            return False
        return predicted > target if strictly else predicted >= target

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
        self._tokens = 0
        self._opened_at = None
        return items
