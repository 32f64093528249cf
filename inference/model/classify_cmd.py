"""``finsent classify``: score JSONL or plain-text lines with the serving classifier."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from inference.model.cli_options import (
    DeviceOpt,
    ModelOpt,
    PrecisionOpt,
    precision_choice,
    set_threads,
)
from inference.model.settings import ModelSettings


def _parse_line(raw: bytes) -> tuple[str | None, Any, str | None]:
    """``(text, id, error)`` for one input line: JSONL with ``text`` or plain text."""
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        return None, None, f"not UTF-8: {exc.reason} at byte {exc.start}"
    if not line.strip():
        return None, None, "empty line"
    head = line.lstrip()[:1]
    if head not in ("{", "["):
        return line, None, None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        if head == "[":
            return line, None, None  # plain text such as "[video] Fed holds rates"
        return None, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(obj, dict):
        return None, None, "JSON line is not an object"
    text = obj.get("text")
    if not isinstance(text, str):
        return None, obj.get("id"), "missing or non-string field 'text'"
    return text, obj.get("id"), None


def _chunks(stream: IO[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for raw in stream:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def classify(
    input_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="[INPUT]",
            help="JSONL (objects with a 'text' field) or plain text, one per "
            "line. Default or '-': stdin.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write JSONL here. Default: stdout.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Lines scored per forward batch.")] = 64,
    model: ModelOpt = None,
    device: DeviceOpt = "cpu",
    precision: PrecisionOpt = None,
) -> None:
    """Score each input line; write one JSON line per input line, in order.

    Output objects: line, (id if given), sentiment, sentiment_probs, score
    (P(positive) - P(negative)), topic, topic_probs, model_version. A line that
    cannot be read gets {"line": n, "error": "..."} in its place; the command
    never stops on bad input. Progress goes to stderr.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    from finsent.labels import SENTIMENT_LABELS, TOPIC_LABELS
    from inference.model.classifier import Classifier

    reads_stdin = input_path is None or input_path == Path("-")
    if input_path is not None and not reads_stdin and not input_path.is_file():
        # Before the model loads (seconds): a typo is told at once.
        what = "is a directory" if input_path.is_dir() else "does not exist"
        raise typer.BadParameter(f"{str(input_path)!r} {what}", param_hint="INPUT")
    settings = ModelSettings()
    set_threads(settings)
    classifier = Classifier.load(
        model or settings.model_dir, device=device, precision=precision_choice(precision)
    )
    version = classifier.model_version
    line_no = 0
    with contextlib.ExitStack() as stack:
        source: IO[bytes] = (
            sys.stdin.buffer
            if reads_stdin
            else stack.enter_context(Path(str(input_path)).open("rb"))
        )
        sink: IO[str] = (
            sys.stdout
            if output is None
            else stack.enter_context(output.open("w", encoding="utf-8"))
        )
        progress = stack.enter_context(tqdm(unit="line", file=sys.stderr, desc="classify"))
        for chunk in _chunks(source, batch_size):
            parsed = [_parse_line(raw) for raw in chunk]
            texts = [text for text, _, err in parsed if err is None and text is not None]
            scores = iter(classifier.score_batch(texts))
            for text, item_id, err in parsed:
                line_no += 1
                out: dict[str, Any] = {"line": line_no}
                if item_id is not None:
                    out["id"] = item_id
                if err is not None or text is None:
                    out["error"] = err
                else:
                    s = next(scores)
                    out.update(
                        sentiment=s.sentiment,
                        sentiment_probs=dict(zip(SENTIMENT_LABELS, s.sentiment_probs, strict=True)),
                        score=s.score,
                        topic=s.topic,
                        topic_probs=dict(zip(TOPIC_LABELS, s.topic_probs, strict=True)),
                        model_version=version,
                    )
                sink.write(json.dumps(out) + "\n")
            sink.flush()
            progress.update(len(chunk))
