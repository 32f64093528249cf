"""The `finsent ingest` and `finsent replay` commands, run in-process on the real stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli import app, replay_app
from ingest.models import IngestReport

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
runner = CliRunner()


def report_of(output: str) -> IngestReport:
    return IngestReport.model_validate(json.loads(output[output.index("{") :]))


def test_replay_file_list_and_drop(topic_factory: Callable[..., str], namespace: str) -> None:
    topic = topic_factory("cli")
    args = ["file", str(FIXTURES / "documents.jsonl"), str(FIXTURES / "documents.csv")]
    result = runner.invoke(
        replay_app, [*args, "--namespace", namespace, "--topic", topic, "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    report = report_of(result.stdout)
    assert (report.documents_in, report.produced, report.balanced) == (11, 4, True)

    listed = runner.invoke(replay_app, ["list"])
    line = next(row for row in listed.stdout.splitlines() if row.startswith(namespace))
    assert "file" in line and "4 docs" in line
    as_json = json.loads(runner.invoke(replay_app, ["list", "--json"]).stdout)
    mine = next(info for info in as_json if info["namespace"] == namespace)
    assert mine["kind"] == "file" and mine["report"]["produced"] == 4

    # Without --yes it asks; "n" (or no answer at all) keeps the namespace.
    kept = runner.invoke(replay_app, ["drop", namespace], input="n\n")
    assert kept.exit_code == 1 and "Delete namespace" in kept.output
    assert namespace in runner.invoke(replay_app, ["list"]).stdout
    dropped = runner.invoke(replay_app, ["drop", namespace], input="y\n")
    assert dropped.exit_code == 0 and f"dropped {namespace}" in dropped.stdout
    assert not any(
        row.startswith(namespace) for row in runner.invoke(replay_app, ["list"]).stdout.splitlines()
    )


def test_replays_under_one_key_say_so_in_their_reports(
    topic_factory: Callable[..., str], namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replays count the same documents only under the same SimHash key: the report's
    `dedupe_key_id` says which one decided (set FINSENT_INGEST_DEDUPE_HASH_KEY to share it)."""
    topic = topic_factory("cli")
    ids = []
    args = ["file", str(FIXTURES / "documents.jsonl"), "--namespace", namespace]
    for key in ("one shared secret", "one shared secret", "another secret"):
        monkeypatch.setenv("FINSENT_INGEST_DEDUPE_HASH_KEY", key)
        result = runner.invoke(replay_app, [*args, "--topic", topic, "--no-progress"])
        assert result.exit_code == 0, result.output
        ids.append(report_of(result.stdout).dedupe_key_id)
        runner.invoke(replay_app, ["drop", namespace, "--yes"])
    assert ids[0] is not None and ids[0] == ids[1] != ids[2]
    assert "secret" not in str(ids)


def test_replay_refuses_live_and_missing_paths(namespace: str) -> None:
    live = runner.invoke(
        replay_app, ["file", str(FIXTURES / "documents.jsonl"), "--namespace", "live"]
    )
    assert live.exit_code == 1 and "live" in live.stderr
    assert runner.invoke(replay_app, ["drop", "live"]).exit_code == 1
    missing = runner.invoke(replay_app, ["file", "/nonexistent/x.jsonl", "--namespace", namespace])
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    speed = runner.invoke(replay_app, ["file", str(FIXTURES), "--speed", "fast"])
    assert speed.exit_code == 2
    when = runner.invoke(replay_app, ["kafka", "--from", "yesterday", "--to", "2026-01-01"])
    assert when.exit_code == 2 and "ISO 8601" in when.output


def test_ingest_file_prints_a_balanced_report(
    topic_factory: Callable[..., str], namespace: str
) -> None:
    topic = topic_factory("cli")
    result = runner.invoke(
        app,
        ["file", str(FIXTURES / "documents.jsonl"), "--namespace", namespace, "--topic", topic],
    )
    assert result.exit_code == 0, result.output
    assert report_of(result.stdout).model_dump(include={"documents_in", "produced", "dead_lettered", "duplicates"}) == {
        "documents_in": 7, "produced": 2, "dead_lettered": 4, "duplicates": 1,
    }  # fmt: skip
    runner.invoke(replay_app, ["drop", namespace, "--yes"])


def test_eval_tickers_prints_scores() -> None:
    result = runner.invoke(app, ["eval-tickers", str(FIXTURES / "ticker_sample.jsonl")])
    assert result.exit_code == 0
    scores = json.loads(result.stdout)
    assert scores["precision"] >= 0.9 and scores["recall"] >= 0.9


def test_bench_push_runs_and_cleans_up() -> None:
    result = runner.invoke(
        app,
        ["bench-push", "--singles", "3", "--batches", "1", "--concurrent", "40", "--clients", "4"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout[result.stdout.index("{") :])
    assert figures["accepted"] == 3 + 40 + 40 + 100  # singles, grouped, baseline, a batch
    assert figures["single_requests_per_s"] > 0 and figures["batch_docs_per_s"] > 0
    assert figures["concurrent_requests_per_s"] > 0 and figures["baseline_requests_per_s"] > 0
    # Each group is one ingest call: 40 requests took at least 1, and at most 40.
    assert 1 <= figures["concurrent_requests_per_group"] <= 40
