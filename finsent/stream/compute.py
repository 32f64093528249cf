"""Compute on one worker thread, one batch ahead, with poison isolation.

A batch whose compute fails is retried once, then computed item by item, so that only an
item that fails on its own is dead-lettered. Failing alone is not enough to blame the
item: when no item of a batch computes alone (or a lone item fails and so does the
handler's known-good canary), the fault is the code's or the machine's, and
`ComputeFault` stops the consumer before anything of the batch is dead-lettered or
committed. A broken model must never drain the topic into the dead-letter queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from finsent.errors import Reason, reason_text
from finsent.stream.base import BatchHandler, Rejected
from finsent.stream.errors import ComputeFault

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")

Computed = tuple[list[R | Rejected], float]
"""One result (or rejection) per item, and the seconds the compute took."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def compute_guarded(handler: BatchHandler[T, P, R], items: Sequence[T], prepared: P) -> Computed[R]:
    """Compute a batch; retry once, then item by item; raise `ComputeFault` if it is ours.

    Raises:
        ComputeFault: no item computed alone (two or more items), or a lone item failed
            and so did the handler's canary.
    """
    started = time.monotonic()
    for attempt in (1, 2):
        try:
            results = list(handler.compute(prepared))
            if len(results) != len(items):
                raise ComputeFault(f"compute returned {len(results)} results for {len(items)}")
            return list[R | Rejected](results), time.monotonic() - started
        except ComputeFault:
            raise
        except Exception as exc:  # noqa: BLE001 - isolated below, or raised as ComputeFault
            log.warning(
                "batch compute failed",
                extra={"attempt": attempt, "size": len(items), "error": _describe(exc)},
            )
            if attempt == 1:
                prepared = handler.prepare(items)
    out: list[R | Rejected] = []
    failures: list[BaseException] = []
    for index, item in enumerate(items):
        try:
            out.append(handler.compute(handler.prepare([item]))[0])
        except Exception as exc:  # noqa: BLE001 - judged below: poison item or our fault
            failures.append(exc)
            out.append(Rejected(index, reason_text(Reason.COMPUTE_FAILED, _describe(exc))))
    if failures and len(failures) == len(items):
        if len(items) > 1:
            raise ComputeFault(
                f"every one of {len(items)} items failed to compute, alone too: this is a "
                f"fault of the code or the machine, not of the input ({_describe(failures[0])})"
            ) from failures[0]
        try:
            handler.compute(handler.prepare([handler.canary()]))
        except Exception as exc:
            raise ComputeFault(
                "a lone item and the known-good canary both failed to compute: this is a "
                f"fault of the code or the machine, not of the input ({_describe(exc)})"
            ) from exc
    return out, time.monotonic() - started


class Computer(Generic[T, P, R]):
    """Runs `compute_guarded` on one worker thread: the prefetch of exactly one batch."""

    def __init__(self, handler: BatchHandler[T, P, R]) -> None:
        self._handler = handler
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compute")

    def submit(self, items: Sequence[T], prepared: P) -> Future[Computed[R]]:
        return self._executor.submit(compute_guarded, self._handler, items, prepared)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
