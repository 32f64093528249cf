"""RequestGroups: concurrent push requests share ingest calls, and each is answered alone."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from finsent.errors import TransientError
from ingest.ingestor import Handled
from ingest.models import Candidate, RawItem
from ingest.sources.push_groups import RequestGroups


def item(n: int) -> RawItem:
    return RawItem(
        source="push:desk",
        source_id=f"push:desk:{n}",
        text=f"story {n}",
        published_at=datetime(2026, 1, 5, 12, tzinfo=UTC),
    )


class Handler:
    """Records each call's groups; holds every call until `release` is set."""

    def __init__(self) -> None:
        self.calls: list[list[list[str]]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail: set[str] = set()
        self.error: Exception | None = None

    def __call__(
        self, groups: Sequence[Sequence[Candidate]]
    ) -> list[list[Handled] | TransientError]:
        ids = [[str(c.source_id) for c in g if isinstance(c, RawItem)] for g in groups]
        self.calls.append(ids)
        self.entered.set()
        assert self.release.wait(10)
        if self.error is not None:
            raise self.error
        return [
            TransientError(f"{g[0]} not acknowledged")
            if g[0] in self.fail
            else [Handled("produced", doc_id=i) for i in g]
            for g in ids
        ]


def test_an_idle_server_sends_a_request_at_once_in_a_group_of_its_own() -> None:
    handler = Handler()

    async def main() -> list[Handled]:
        return await RequestGroups(handler, in_flight=2).submit([item(1)])

    assert [h.doc_id for h in asyncio.run(main())] == ["push:desk:1"]
    assert handler.calls == [[["push:desk:1"]]]


def test_requests_arriving_while_the_groups_are_out_share_the_next_call() -> None:
    handler = Handler()
    handler.release.clear()

    sizes: list[int] = []

    async def main() -> list[list[Handled]]:
        groups = RequestGroups(handler, in_flight=1, observe=sizes.append)
        first = asyncio.ensure_future(groups.submit([item(0)]))
        await asyncio.to_thread(handler.entered.wait, 10)  # the first group is out
        rest = [asyncio.ensure_future(groups.submit([item(n), item(n + 10)])) for n in (1, 2, 3)]
        await asyncio.sleep(0.05)  # they gather: nothing else may leave meanwhile
        assert len(handler.calls) == 1
        handler.release.set()
        return await asyncio.gather(first, *rest)

    answers = asyncio.run(main())
    assert handler.calls == [
        [["push:desk:0"]],
        [["push:desk:1", "push:desk:11"], ["push:desk:2", "push:desk:12"], ["push:desk:3", "push:desk:13"]],
    ]  # fmt: skip
    assert sizes == [1, 3]  # the metric: requests per group
    # Each request gets its own answers, in its own order.
    assert [[h.doc_id for h in a] for a in answers] == [
        ["push:desk:0"],
        ["push:desk:1", "push:desk:11"],
        ["push:desk:2", "push:desk:12"],
        ["push:desk:3", "push:desk:13"],
    ]


def test_a_request_whose_records_failed_fails_alone() -> None:
    handler = Handler()
    handler.release.clear()
    handler.fail = {"push:desk:2"}

    async def main() -> list[list[Handled] | BaseException]:
        groups = RequestGroups(handler, in_flight=1)
        first = asyncio.ensure_future(groups.submit([item(0)]))
        await asyncio.to_thread(handler.entered.wait, 10)
        rest = [asyncio.ensure_future(groups.submit([item(n)])) for n in (1, 2, 3)]
        await asyncio.sleep(0.01)
        handler.release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    answers = asyncio.run(main())
    assert len(handler.calls) == 2  # 1, 2 and 3 shared a call
    assert isinstance(answers[2], TransientError)
    assert "push:desk:2" in str(answers[2])
    assert [a[0].doc_id for a in answers if isinstance(a, list)] == [
        "push:desk:0",
        "push:desk:1",
        "push:desk:3",
    ]


def test_an_error_of_the_call_reaches_every_request_of_its_group_and_the_next_call_runs() -> None:
    handler = Handler()
    handler.error = ConnectionError("redis went away")

    async def main() -> tuple[list[BaseException | list[Handled]], list[Handled]]:
        groups = RequestGroups(handler, in_flight=1)
        failed = list(
            await asyncio.gather(
                groups.submit([item(1)]), groups.submit([item(2)]), return_exceptions=True
            )
        )
        handler.error = None
        return failed, await groups.submit([item(3)])

    failed, after = asyncio.run(main())
    assert handler.calls[0] == [["push:desk:1"], ["push:desk:2"]]
    assert all(isinstance(e, ConnectionError) for e in failed)
    assert [h.doc_id for h in after] == ["push:desk:3"]


def test_a_request_whose_client_went_away_does_not_disturb_the_others() -> None:
    handler = Handler()
    handler.release.clear()

    async def main() -> list[Handled]:
        groups = RequestGroups(handler, in_flight=1)
        first = asyncio.ensure_future(groups.submit([item(0)]))
        await asyncio.to_thread(handler.entered.wait, 10)
        gone = asyncio.ensure_future(groups.submit([item(1)]))
        kept = asyncio.ensure_future(groups.submit([item(2)]))
        await asyncio.sleep(0.01)
        gone.cancel()
        handler.release.set()
        await first
        return await kept

    assert [h.doc_id for h in asyncio.run(main())] == ["push:desk:2"]
    # The request was already gathered: its documents are still handled (accounted).
    assert handler.calls[1] == [["push:desk:1"], ["push:desk:2"]]


def test_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="in_flight"):
        RequestGroups(Handler(), in_flight=0)
