"""The short live soak (`finsent soak --short`), as `make test` runs it.

Real `ingest serve`, `infer` (shipped model) and `alerts run` processes on a private
Kafka broker and Redis, an accelerated clock, real StockNet hours re-timed to now, local
channel receivers, and every scheduled fault. Its failure message is the soak's own report,
criterion by criterion.

It gates the criteria that hold live today: nothing dropped, no false page, no window judged
early, a future-dated document refused, channel conventions, services surviving the faults.
The paging criteria (the planted WMT burst paged once per channel and resolved, and the
faults timed on that incident) do not hold yet: the short scenario starts with a detector
that has no history, and WMT's burst is judged against the market's prior (z 1.2 where 3.5
fires; docs/soak.md, "Why the short soak does not page"). `make soak` judges every
criterion and says so; issue 12 stays open until it passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finsent.settings import FinsentSettings
from finsent.soak.run import SoakOptions, run_soak
from finsent.soak.scenario import DEFAULT_DATA
from finsent.soak.verdict import render

LIVE_SAFETY = (
    "no page for calm periods",
    "no window judged before it happened",
    "future-dated document rejected at ingest",
    "nothing dropped (documents accepted == documents counted in the store)",
    "channels follow their conventions",
    "services survived the faults",
)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_short_soak_loses_nothing_and_never_pages_falsely(settings: FinsentSettings) -> None:
    data = Path(os.environ.get("FINSENT_DATA_DIR", DEFAULT_DATA))
    if not (data / "stocknet-dataset" / "tweet" / "raw").is_dir():
        pytest.skip(f"StockNet data not found under {data} (set FINSENT_DATA_DIR)")
    lines: list[str] = []
    result = run_soak(SoakOptions(short=True, data=data), settings, lines.append)
    report = render(result.verdict)
    judged = {c.name: c.passed for c in result.verdict.criteria}
    assert set(LIVE_SAFETY) <= judged.keys(), sorted(judged)
    assert all(judged[name] for name in LIVE_SAFETY), "\n".join(lines) + report
