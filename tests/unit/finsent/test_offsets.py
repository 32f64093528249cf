"""OffsetTracker: the commit point is the lowest offset not yet done, whatever the order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from finsent.stream.offsets import OffsetTracker


def test_commit_point_waits_for_the_lowest_pending_offset() -> None:
    tracker = OffsetTracker()
    for offset in range(10, 15):
        tracker.consumed(0, offset)
    assert tracker.committable() == {}  # nothing done: nothing to say
    tracker.done(0, 12)  # a dead letter, done before the batch of 10 and 11
    assert tracker.committable() == {}
    assert tracker.lowest_unwritten(0) == 10
    tracker.done(0, 10)
    tracker.done(0, 11)
    assert tracker.committable() == {0: 13}
    tracker.committed({0: 13})
    assert tracker.committable() == {}
    tracker.done(0, 13)
    tracker.done(0, 14)
    assert tracker.committable() == {0: 15}
    assert tracker.lowest_unwritten(0) is None


def test_partitions_are_independent_and_forgotten_on_revocation() -> None:
    tracker = OffsetTracker()
    tracker.consumed(0, 0)
    tracker.consumed(1, 5)
    tracker.done(1, 5)
    assert tracker.committable() == {1: 6}
    tracker.forget([1])
    assert tracker.committable() == {}
    assert tracker.pending() == 1


def test_a_record_read_again_after_a_rewind_does_not_move_the_point_back() -> None:
    tracker = OffsetTracker()
    tracker.consumed(0, 0)
    tracker.consumed(0, 1)
    tracker.done(0, 0)
    tracker.consumed(0, 1)  # read again: its first copy still holds the point
    assert tracker.committable() == {0: 1}


@given(
    st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
)
def test_the_point_never_passes_an_offset_not_done(gaps: list[int], rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    tracker = OffsetTracker()
    offsets, offset = [], 0
    for gap in gaps:  # offsets may have gaps (transaction markers, compaction)
        offset += gap
        offsets.append(offset)
        tracker.consumed(0, offset)
    order = offsets[:]
    rnd.shuffle(order)
    done: set[int] = set()
    for o in order:
        tracker.done(0, o)
        done.add(o)
        point = tracker.committable().get(0)
        if point is not None:
            assert all(x in done for x in offsets if x < point)
            tracker.committed({0: point})
    assert tracker.committable() == {} and tracker.lowest_unwritten(0) is None
