"""CLI: classify writes one line per input line (errors in place)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from inference.model.classifier import Classifier


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    Classifier.random_tiny().save(folder)
    return folder


def test_classify_writes_per_line_errors_in_place(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"text": "Apple beats", "id": "a1"}\n'
        b"plain line about the Fed\n"
        b"\n"
        b'{"no_text": 1}\n'
        b"{broken json\n"
        b'["a list"]\n'
        b"\xff\xfe not utf-8\n"
        b"[video] markets rally\n"
    )
    result = CliRunner().invoke(
        app, ["classify", str(source), "--model", str(tiny_model), "--batch-size", "3"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [x["line"] for x in lines] == list(range(1, 9))
    assert ["error" in x for x in lines] == [False, False, True, True, True, True, True, False]
    assert lines[0]["id"] == "a1" and lines[0]["model_version"] == "random-tiny"
    assert set(lines[1]["sentiment_probs"]) == {"negative", "neutral", "positive"}
    assert len(lines[1]["topic_probs"]) == 20
    assert -1.0 <= lines[1]["score"] <= 1.0
