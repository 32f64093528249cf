from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from dashboards.generate import GRAFANA_DIR, rendered, write


def test_committed_json_is_up_to_date() -> None:
    """Fails when a dashboard (dashboards/boards/, panels.py, queries.py) changed without `finsent dashboards generate`."""
    files = rendered()
    committed = {p.name: p.read_text(encoding="utf-8") for p in GRAFANA_DIR.glob("finsent-*.json")}
    assert committed == files, "run `finsent dashboards generate` and commit the JSON"


def test_generate_is_deterministic_and_removes_stale_files(tmp_path: Path) -> None:
    (tmp_path / "finsent-removed.json").write_text("{}")
    (tmp_path / "someone-elses.json").write_text("{}")
    first = {p.name: p.read_text() for p in write(tmp_path)}
    second = {p.name: p.read_text() for p in write(tmp_path)}
    assert first == second == rendered()
    assert not (tmp_path / "finsent-removed.json").exists()
    assert (tmp_path / "someone-elses.json").exists()


def test_cli_check_passes_on_the_committed_json() -> None:
    result = CliRunner().invoke(app, ["dashboards", "generate", "--check"])
    assert result.exit_code == 0, result.output
