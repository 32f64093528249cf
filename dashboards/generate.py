"""Writes the dashboards of `definitions.py` to `dashboards/grafana/<uid>.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.definitions import all_dashboards

GRAFANA_DIR: Final = Path(__file__).resolve().parent / "grafana"


def to_json_dict(dashboard: Dashboard) -> dict[str, Any]:
    """The dict Grafana reads (the body `push` posts), through the SDK's JSON encoder."""
    return json.loads(json.dumps(dashboard, cls=JSONEncoder))  # type: ignore[no-any-return]


def render(dashboard: Dashboard) -> str:
    """Stable JSON text (sorted keys, trailing newline) so diffs show real changes only."""
    return json.dumps(to_json_dict(dashboard), indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {f"{d.uid}.json": render(d) for d in all_dashboards()}


def write(directory: Path = GRAFANA_DIR) -> list[Path]:
    """Write every dashboard and delete stale `finsent-*.json` files; returns written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rendered()
    for stale in directory.glob("finsent-*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
