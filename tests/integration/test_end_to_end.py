"""The StockNet month through ingest -> inference -> store -> alerts, with the shipped model.

October 2015 holds Walmart's guidance cut on 2015-10-14 (the stock fell 10%); the
pipeline must page a WMT negative spike for that day. The report and a readable summary
of every alert stay in `reports/` for a person to read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from finsent.settings import REPO_ROOT
from ingest.settings import IngestSettings

REPORTS = REPO_ROOT / "reports"
FINSENT = str(Path(sys.executable).parent / "finsent")


def _unique_tweet_lines(root: Path) -> tuple[int, int]:
    """An independent count over the raw files: (lines, unique tweet ids)."""
    lines, ids = 0, set()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    lines += 1
                    ids.add(json.loads(line)["id_str"])
    return lines, len(ids)


def test_stocknet_month_pages_the_walmart_incident() -> None:
    tweets = IngestSettings().data_dir / "stocknet-dataset" / "tweet" / "raw"
    namespace = "e2e-" + uuid.uuid4().hex[:8]
    REPORTS.mkdir(exist_ok=True)
    report_path = REPORTS / "e2e-stocknet-report.json"
    done = subprocess.run(
        [
            FINSENT,
            "run",
            "--replay",
            str(tweets),
            "--namespace",
            namespace,
            "--exit-when-done",
            "--report",
            str(report_path),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(report_path.read_text())

    lines, unique_ids = _unique_tweet_lines(tweets)
    assert report["documents_in"] == lines
    assert (
        report["documents_in"] == report["duplicates"] + report["dead_lettered"] + report["scored"]
    )
    assert report["ingest"]["duplicates_by_kind"].get("id", 0) == lines - unique_ids

    fired = [a for a in report["alerts"] if a["state"] == "firing"]
    day_start = datetime(2015, 10, 14, tzinfo=UTC)
    day_end = day_start + timedelta(days=1)
    walmart = [
        a
        for a in fired
        if (a["kind"], a["value"]) == ("ticker", "WMT")
        and datetime.fromisoformat(a["window_start"]) < day_end
        and datetime.fromisoformat(a["window_end"]) > day_start
    ]
    summary = [f"# Alerts fired replaying StockNet 2015-10 ({namespace})", ""]
    for a in fired:
        summary.append(
            f"- {a['rule']} {a['kind']}={a['value']} {a['window_start']} .. {a['window_end']} "
            f"{a['severity']}: observed {a['observed']:.3f} vs baseline {a['baseline']:.3f} "
            f"(z={a['z_score']:.1f}, {a['doc_count']} docs)"
        )
        for e in a["evidence"][:3]:
            summary.append(f"    - {e['score']:+.2f} {e['snippet'][:120]!r}")
    (REPORTS / "e2e-stocknet-alerts.md").write_text("\n".join(summary) + "\n")
    assert walmart, "no WMT alert for 2015-10-14; fired: " + json.dumps(
        [(a["value"], a["window_start"]) for a in fired]
    )
    assert all(a["doc_count"] >= 1 for a in walmart)
    assert any(a["evidence"] for a in walmart), "an alert must say why (evidence)"
