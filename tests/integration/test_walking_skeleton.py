"""One message end to end: `finsent ingest file` -> Kafka -> `finsent infer` -> Redis."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from finsent.schemas import SeriesRef
from finsent.store import SeriesStore
from finsent.store.base import ALL_SERIES
from tests.integration.conftest import FINSENT, REPO, count_all, own_words, wait_for


def test_jsonl_file_to_per_minute_counts(
    tmp_path: Path,
    store: SeriesStore,
    topic_factory: Callable[..., str],
    consumer_group: str,
    namespace: str,
    consumer_factory: Callable[..., subprocess.Popen[bytes]],
) -> None:
    topic, scored = topic_factory("docs"), topic_factory("scored")
    start = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
    lines = [
        {
            "id": f"wire-{i}",
            "source": "wire",
            "title": f"Company {i} update",
            # Words of their own: texts that differ only in numbers are one document.
            "text": f"$MSFT shares {'fall' if i % 2 else 'rise'} after filing {own_words(i)}",
            "published_at": (start + timedelta(seconds=20 * i)).isoformat(),
        }
        for i in range(12)
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    ingest = subprocess.run(
        [FINSENT, "ingest", "file", str(path), "--namespace", namespace, "--topic", topic],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        check=False,
    )
    assert ingest.returncode == 0, ingest.stderr[-3000:]

    proc = consumer_factory(topic, consumer_group, scored)
    wait_for(lambda: count_all(store, namespace) >= 12, 120, "12 documents in Redis")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0

    # 20 s apart from 15:00: three per minute over four minutes, by event time.
    points = store.range(
        ALL_SERIES, namespace, start, start + timedelta(minutes=4), timedelta(minutes=1)
    )
    assert [p.totals.count for p in points] == [3, 3, 3, 3]
    msft = store.total(
        SeriesRef(kind="ticker", value="MSFT"), namespace, start, start + timedelta(hours=1)
    )
    assert msft.count == 12
    assert msft.negative + msft.neutral + msft.positive == 12
