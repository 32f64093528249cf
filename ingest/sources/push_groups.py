"""Group commit for the push API: concurrent requests share one ingest call.

Each request used to cost its own thread hand-off, dedupe round trip, acknowledgement
wait and claim confirmation. Here the requests that arrive while the server is busy
share them: an idle server still answers each request at once, and a busy one answers
dozens per round trip. Each request is still answered only once its own documents are
durable, and fails alone (`Ingestor.handle_groups_and_wait`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from starlette.concurrency import run_in_threadpool

from finsent.errors import TransientError
from ingest.ingestor import Handled
from ingest.models import Candidate

HandleGroups = Callable[[Sequence[Sequence[Candidate]]], list[list[Handled] | TransientError]]
"""Handles several requests' candidates at once, a result (or error) per request."""

_Waiting = tuple[Sequence[Candidate], "asyncio.Future[list[Handled]]"]


class RequestGroups:
    """Gathers concurrent requests into groups, at most `in_flight` groups out at a time.

    A request joins the group being gathered. The group leaves for a worker thread on the
    event loop's next turn (so requests that arrived together go together) if fewer than
    `in_flight` groups are out; otherwise it keeps gathering until one comes back. Under
    load, groups therefore grow to what arrives during one group's round trip, with no
    timer to tune and no wait added when the server is idle.
    """

    def __init__(
        self,
        handle: HandleGroups,
        *,
        in_flight: int,
        observe: Callable[[int], object] | None = None,
    ) -> None:
        """`observe` is given each group's number of requests as it leaves (a metric)."""
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self._handle = handle
        self._observe = observe
        self._in_flight = in_flight
        self._out = 0
        self._gathering: list[_Waiting] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, candidates: Sequence[Candidate]) -> list[Handled]:
        """The request's answers once its documents are durable.

        Raises:
            TransientError: what `Ingestor.handle_and_wait` raises for these candidates.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Handled]] = loop.create_future()
        self._gathering.append((candidates, future))
        if not self._scheduled and self._out < self._in_flight:
            self._scheduled = True
            loop.call_soon(self._launch)
        return await future

    def _launch(self) -> None:
        self._scheduled = False
        if not self._gathering or self._out >= self._in_flight:
            return
        group, self._gathering = self._gathering, []
        if self._observe is not None:
            self._observe(len(group))
        self._out += 1
        task = asyncio.get_running_loop().create_task(self._run(group))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _run(self, group: list[_Waiting]) -> None:
        try:
            results = await run_in_threadpool(self._handle, [c for c, _ in group])
        except Exception as exc:  # noqa: BLE001 -- handed on: every request of the group raises it
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # shutdown
            for _, future in group:
                future.cancel()
            raise
        finally:
            self._out -= 1
            self._launch()
        for (_, future), result in zip(group, results, strict=True):
            if future.done():  # the client went away meanwhile
                continue
            if isinstance(result, TransientError):
                future.set_exception(result)
            else:
                future.set_result(result)
