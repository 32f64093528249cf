"""`finsent --help` and every subcommand's --help explain themselves."""

from __future__ import annotations

import itertools
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


def test_help_paragraphs_wrap_to_the_terminal_not_to_the_source() -> None:
    # `ingest serve` lists four variables over three source lines; at 80 columns typer
    # kept those breaks and rich wrapped each line again: a ragged paragraph.
    result = CliRunner().invoke(app, ["ingest", "serve", "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    body = [line.strip() for line in result.output.splitlines()]
    start = next(i for i, line in enumerate(body) if line.startswith("Needs FINSENT_INGEST"))
    paragraph = body[start : body.index("", start)]
    # Wrapped once: no line ends where the next line's first word would still have fit
    # (78 columns of text: rich pads one on each side).
    for line, after in itertools.pairwise(paragraph):
        assert len(line) + 1 + len(after.split()[0]) > 78, paragraph


def test_reflow_joins_lines_but_keeps_list_items_code_and_unwrapped_paragraphs() -> None:
    from cli.helptext import reflow

    text = (
        "First line\nof the summary.\n\n"
        "A paragraph wrapped\nfor the source.\n\n"
        "Steps:\n- one\n  continued\n- two\n1. three\n\n"
        "    finsent run --web\n    finsent soak\n\n"
        "\b\nkept\nas is"
    )
    assert reflow(text) == (
        "First line of the summary.\n\n"
        "A paragraph wrapped for the source.\n\n"
        "Steps:\n- one continued\n- two\n1. three\n\n"
        "    finsent run --web\n    finsent soak\n\n"
        "\b\nkept\nas is"
    )
