"""`finsent --help` and every subcommand's --help explain themselves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    # typer vendors click: walk anything that has sub-commands.
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            yield from _commands(sub, (*path, name))


ALL = list(_commands(typer.main.get_command(app)))


def test_every_service_is_mounted() -> None:
    top = {p[0] for p in ALL if p}
    assert {"stack", "infer", "bench"} <= top


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "finsent")
def test_help_explains_itself(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command: Any = typer.main.get_command(app)
    for name in path:
        assert hasattr(command, "commands")
        command = command.commands[name]
    assert command.help or command.short_help, f"`finsent {' '.join(path)}` has no help text"
    assert len((command.help or "").split()) >= 5, "help text too thin to explain anything"


def test_version_prints_the_package_version() -> None:
    import finsent

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"finsent {finsent.__version__}"
