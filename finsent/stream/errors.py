"""Why a stream runner stops by itself: faults that are ours, never the input's."""

from __future__ import annotations

from finsent.errors import FinsentError


class ComputeFault(FinsentError):
    """Every item of a batch failed to compute, alone too: the code or the machine is at
    fault (a bug, the wrong device, out of memory), not the input. Nothing of the batch is
    dead-lettered or committed; the consumer stops so an operator can fix it."""


class NotInGroup(FinsentError):
    """The consumer has held no partition for too long while its topic has unconsumed
    records: it is outside its group (or the group never assigned it anything)."""
