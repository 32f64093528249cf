"""compute_guarded: poison items are isolated; a broken model or machine is a ComputeFault."""

from __future__ import annotations

import pytest

from finsent.stream.base import Rejected
from finsent.stream.compute import Computer, compute_guarded
from finsent.stream.errors import ComputeFault
from tests.unit.finsent.conftest import FakeHandler


def test_a_good_batch_computes_once() -> None:
    results, seconds = compute_guarded(FakeHandler(), ["ab", "c"], ["ab", "c"])
    assert results == [2, 1] and seconds >= 0


def test_only_the_item_that_fails_alone_is_rejected() -> None:
    handler = FakeHandler()
    handler.poison = {"bad"}
    results, _ = compute_guarded(handler, ["ok", "bad", "fine"], ["ok", "bad", "fine"])
    assert results[0] == 2 and results[2] == 4
    assert isinstance(results[1], Rejected) and "cannot score" in results[1].reason


def test_every_item_failing_alone_is_our_fault_not_the_input() -> None:
    handler = FakeHandler()
    handler.broken = True
    with pytest.raises(ComputeFault, match="every one of 2 items") as info:
        compute_guarded(handler, ["a", "b"], ["a", "b"])
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_lone_item_is_judged_by_the_canary() -> None:
    handler = FakeHandler()
    handler.poison = {"bad"}
    results, _ = compute_guarded(handler, ["bad"], ["bad"])  # the canary computes: poison
    assert isinstance(results[0], Rejected)
    handler.broken = handler.canary_broken = True
    with pytest.raises(ComputeFault, match="canary"):
        compute_guarded(handler, ["x"], ["x"])


def test_a_wrong_result_count_is_a_fault() -> None:
    class Short(FakeHandler):
        def compute(self, prepared: list[str]) -> list[int]:
            return [1]

    with pytest.raises(ComputeFault, match="1 results for 2"):
        compute_guarded(Short(), ["a", "b"], ["a", "b"])


def test_the_computer_runs_off_the_calling_thread() -> None:
    import threading

    seen: list[str] = []

    class Where(FakeHandler):
        def compute(self, prepared: list[str]) -> list[int]:
            seen.append(threading.current_thread().name)
            return super().compute(prepared)

    computer = Computer(Where())
    try:
        assert computer.submit(["a"], ["a"]).result(timeout=10)[0] == [1]
    finally:
        computer.close()
    assert seen and seen[0].startswith("compute")
