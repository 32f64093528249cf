"""The short live soak (`finsent soak --short`), as `make test` runs it.

Real `ingest serve`, `infer` (shipped model) and `alerts run` processes on a private
Kafka broker and Redis, an accelerated clock, real StockNet hours re-timed to now, local
channel receivers, and every scheduled fault. It passes only when every criterion holds;
its failure message is the soak's own report, criterion by criterion.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from finsent.settings import FinsentSettings
from finsent.soak.run import SoakOptions, run_soak
from finsent.soak.scenario import DEFAULT_DATA
from finsent.soak.verdict import render


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_short_soak_passes_every_criterion(settings: FinsentSettings) -> None:
    data = Path(os.environ.get("FINSENT_DATA_DIR", DEFAULT_DATA))
    if not (data / "stocknet-dataset" / "tweet" / "raw").is_dir():
        pytest.skip(f"StockNet data not found under {data} (set FINSENT_DATA_DIR)")
    lines: list[str] = []
    result = run_soak(SoakOptions(short=True, data=data), settings, lines.append)
    report = render(result.verdict)
    assert result.verdict.passed, "\n".join(lines) + report
