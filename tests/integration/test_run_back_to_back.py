"""`finsent run --replay` back to back on one stack: every run finishes, every count exact.

Twenty short runs (tiny model, a few dozen documents each), one after another as fresh
processes on the same broker and Redis. A run that cannot finish must fail fast with its
cause (exit 3), never wait: the per-run timeout here is only a backstop.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finsent.kafka_io import make_admin
from finsent.settings import REPO_ROOT, FinsentSettings
from finsent.topics import replay_documents_topic, replay_group

FINSENT = str(Path(sys.executable).parent / "finsent")
WORDS = [
    "shares",
    "profit",
    "guidance",
    "cut",
    "beats",
    "misses",
    "record",
    "loss",
    "merger",
    "lawsuit",
    "dividend",
    "upgrade",
    "downgrade",
    "outlook",
    "recall",
    "strike",
    "layoffs",
    "buyback",
    "rally",
    "slump",
    "earnings",
    "revenue",
    "margin",
]
RUNS = 20
DOCS_PER_RUN = 30


def _history(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2015, 10, 1, tzinfo=UTC)
    tickers = ("AAPL", "MSFT", "WMT", "JPM", "XOM")
    with path.open("w") as out:
        for i in range(DOCS_PER_RUN):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
            doc = {
                "id": f"b2b-{seed}-{i}",
                "source": "desk",
                "text": f"{tickers[i % 5]} {text} #{seed}-{i}",
                "tickers": [tickers[i % 5]],
                "published_at": (start + timedelta(hours=seed, minutes=3 * i)).isoformat(),
            }
            out.write(json.dumps(doc) + "\n")


# `long` (`make test-long`): 20 process start-ups take 5-11 minutes on 2 cores.
@pytest.mark.long
@pytest.mark.timeout(2400)  # 20 process start-ups (torch imports) dominate
def test_twenty_short_runs_back_to_back_all_finish(
    settings: FinsentSettings, tiny_model_dir: Path, tmp_path: Path
) -> None:
    env_extra = {
        "FINSENT_INFERENCE_MODEL_PATH": str(tiny_model_dir),
        "FINSENT_INFERENCE_TORCH_THREADS": "1",
    }
    env = {**os.environ, **env_extra}
    tag = uuid.uuid4().hex[:6]
    namespaces = []
    for run in range(RUNS):
        history = tmp_path / f"run{run}.jsonl"
        _history(history, seed=run)
        ns = f"b2b-{tag}-{run}"
        namespaces.append(ns)
        report_path = tmp_path / f"report{run}.json"
        done = subprocess.run(
            [FINSENT, "run", "--replay", str(history), "--namespace", ns, "--exit-when-done",
             "--report", str(report_path), "--no-progress"],
            env=env, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"run {run}: {done.stderr[-3000:]}"
        report = json.loads(report_path.read_text())
        assert report["documents_in"] == DOCS_PER_RUN, run
        assert report["dead_lettered"] == 0, run
        assert report["duplicates"] + report["scored"] == DOCS_PER_RUN, run

    # Each run scored in its own lane and cleaned it up: no replay joined the live group,
    # and no run's topic or group is left behind.
    admin = make_admin(settings.kafka)
    try:
        topics = set(admin.list_topics())
        groups = {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()
    for ns in namespaces:
        assert replay_documents_topic(ns) not in topics
        assert replay_group(ns) not in groups
