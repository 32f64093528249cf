"""Help text that the terminal wraps: docstrings are wrapped for the source file.

typer keeps the single line breaks of a command's docstring after its first paragraph,
and rich then wraps each of those lines again to the terminal's width, so on a terminal
narrower than the source a paragraph came out ragged (a long line, then a word alone).
`reflow_app` joins each paragraph's lines once, at import, for every command.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer

_LIST_ITEM = re.compile(r"(?:[-*•]|\d+[.)])\s")


def reflow(text: str) -> str:
    """Join the wrapped lines of each paragraph; list items and code stay on lines of their own.

    A line starting a list item (`- `, `* `, `1. `) starts a new line; a line indented by
    four or more spaces (code, an example) is kept as it is, as is a paragraph marked
    `\\b` (click's "do not rewrap"). Lines indented less continue the line before.
    """
    paragraphs = []
    for paragraph in text.split("\n\n"):
        if paragraph.lstrip().startswith("\b"):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            stripped = line.strip()
            keep = line.startswith("    ") or _LIST_ITEM.match(stripped) is not None
            if lines and stripped and not keep and not lines[-1].startswith("    "):
                lines[-1] = f"{lines[-1]} {stripped}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def reflow_app(app: typer.Typer) -> None:
    """Give every command of `app` and its sub-apps reflowed help (`reflow`)."""
    for command in app.registered_commands:
        text = command.help or inspect.getdoc(command.callback) or ""
        if text:
            command.help = reflow(text)
    for group in app.registered_groups:
        instance: Any = group.typer_instance
        if instance is not None:
            reflow_app(instance)
