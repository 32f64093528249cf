"""`finsent run --replay` of two years of history over four partitions, on each store
backend for real: every document scored and counted exactly once, nothing refused.

Before the store kept replay history whole and fenced writes on offsets, partitions consumed
unevenly moved the namespace watermark ahead, and everything 62 days behind it was
dead-lettered as "store refused: older than max_lateness behind the watermark".
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finsent.schemas import SeriesRef
from finsent.settings import REPO_ROOT, FinsentSettings
from finsent.store import ALL_SERIES, open_store
from ingest.replay import drop_replay

FINSENT = str(Path(sys.executable).parent / "finsent")
START = datetime(2014, 1, 1, tzinfo=UTC)
TICKERS = ("AAPL", "MSFT", "WMT", "XOM")
WORDS = [
    "shares",
    "rally",
    "slump",
    "guidance",
    "earnings",
    "revenue",
    "beat",
    "miss",
    "outlook",
    "cut",
    "raise",
    "dividend",
    "buyback",
    "merger",
    "lawsuit",
    "recall",
    "upgrade",
    "downgrade",
    "analyst",
    "quarter",
    "margin",
    "growth",
    "weak",
    "strong",
    "record",
    "loss",
    "profit",
    "forecast",
    "demand",
    "supply",
    "chain",
    "retail",
    "energy",
    "oil",
    "bank",
    "fed",
    "rate",
    "inflation",
    "jobs",
    "market",
    "futures",
    "index",
    "volatile",
    "surge",
    "plunge",
    "steady",
    "investors",
    "hedge",
    "fund",
]


def two_years(path: Path, count: int) -> dict[str, int]:
    """A StockNet-style tweet file over 2014-2015; returns the documents per ticker."""
    rng = random.Random(2014)
    per_ticker: dict[str, int] = {}
    with path.open("w") as out:
        for i in range(count):
            ticker = TICKERS[i % len(TICKERS)]
            at = START + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            words = " ".join(rng.sample(WORDS, 14))
            tweet = {
                "id_str": str(10_000_000 + i),
                "created_at": at.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                "text": f"${ticker} {words} #{i}",
                "lang": "en",
                "entities": {"symbols": [{"text": ticker}]},
            }
            out.write(json.dumps(tweet) + "\n")
            per_ticker[ticker] = per_ticker.get(ticker, 0) + 1
    return per_ticker


@pytest.mark.parametrize("backend", ["core", "timeseries"])
def test_a_two_year_replay_scores_and_counts_every_document(
    backend: str,
    settings: FinsentSettings,
    namespace: str,
    tiny_model_dir: Path,
    tmp_path: Path,
) -> None:
    count = 600
    per_ticker = two_years(tmp_path / "tweets.jsonl", count)
    assert settings.kafka.documents_partitions == 4
    env = {
        **os.environ,
        "FINSENT_INFERENCE_MODEL_PATH": str(tiny_model_dir),
        "FINSENT_INFERENCE_TORCH_THREADS": "1",
        "FINSENT_STORE__BACKEND": backend,
    }
    report_path = tmp_path / "report.json"
    try:
        done = subprocess.run(
            [FINSENT, "run", "--replay", str(tmp_path / "tweets.jsonl"), "--namespace", namespace,
             "--exit-when-done", "--report", str(report_path), "--no-progress"],
            capture_output=True, text=True, timeout=900, cwd=REPO_ROOT, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        report = json.loads(report_path.read_text())
        assert (report["documents_in"], report["duplicates"]) == (count, 0)
        assert (report["scored"], report["dead_lettered"]) == (count, 0), report["ingest"]
        store = open_store(settings, backend)  # type: ignore[arg-type]
        assert store.backend == backend
        assert store.refusals(namespace) == {}
        assert report["refused_by_store"] == {}
        assert store.document_count(namespace) == count
        span = (START - timedelta(days=1), START + timedelta(days=2 * 366))
        assert store.total(ALL_SERIES, namespace, *span, resolution="1h").count == count
        assert store.total(ALL_SERIES, namespace, *span).count == count
        for ticker, n in per_ticker.items():
            ref = SeriesRef(kind="ticker", value=ticker)
            assert store.total(ref, namespace, *span, resolution="1h").count == n, ticker
            assert report["per_ticker"][ticker]["documents"] == n, ticker
    finally:
        drop_replay(settings, namespace)
