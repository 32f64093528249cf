"""Guard: every import root resolves inside this repository.

`inference` and `alerts` are also PyPI distribution names; a dependency that installs
one of them would silently shadow ours. This test catches that.
"""

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["finsent", "ingest", "inference", "alerts", "dashboards", "cli"])
def test_import_root_is_ours(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(REPO), module.__file__
