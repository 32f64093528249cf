"""The log filter masks secrets wherever a record carries them."""

from __future__ import annotations

import io
import json
import logging

from alerts.redact import MASK, RedactSecrets
from finsent.logs import JsonFormatter

SECRET = "https://hooks.slack.test/services/T0/B0/abcdef123456"


def emit(fmt: logging.Formatter, log: logging.Logger, *args: object, **kwargs: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(fmt)
    handler.addFilter(RedactSecrets([SECRET, "tiny"]))
    log.addHandler(handler)
    try:
        log.error(*args, **kwargs)  # type: ignore[arg-type]
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_message_args_extra_and_traceback_are_masked() -> None:
    log = logging.getLogger("test.redact")
    log.propagate = False
    try:
        raise RuntimeError(f"POST {SECRET} failed")
    except RuntimeError:
        out = emit(JsonFormatter(), log, "calling %s", SECRET, exc_info=True, extra={"url": SECRET})
    record = json.loads(out)
    assert SECRET not in out
    assert record["msg"] == f"calling {MASK}" and record["url"] == MASK
    assert "RuntimeError: POST *** failed" in record["exc"]


def test_text_format_keeps_the_masked_traceback_and_short_values_alone() -> None:
    log = logging.getLogger("test.redact.text")
    log.propagate = False
    try:
        raise ValueError(SECRET)
    except ValueError:
        out = emit(logging.Formatter("%(message)s"), log, "a tiny failure", exc_info=True)
    assert SECRET not in out and "ValueError: ***" in out
    assert "a tiny failure" in out  # values under 6 characters are never masked
