"""Writing a benchmark's JSON as it goes: a loan can end mid-run, so every phase saves."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def save(target: Path, result: dict[str, Any], begun: float) -> None:
    """Write ``result`` to ``target`` with the seconds since ``begun`` (``perf_counter``)."""
    result["elapsed_s"] = round(time.perf_counter() - begun, 1)
    target.write_text(json.dumps(result, indent=2) + "\n")
