"""Dead-letter reasons: the `reason` header's text is a wire format; it must not drift."""

from __future__ import annotations

import pytest

from finsent.errors import InvalidMessage, Reason, reason_class, reason_text


def test_reason_classes_are_the_strings_on_the_wire() -> None:
    # Operators grep the dead-letter topics and alert on the metrics' reason label by these.
    assert {r.value for r in Reason} == {
        "undecodable",
        "malformed",
        "unreadable",
        "oversized",
        "empty_batch",
        "batch_too_large",
        "missing_text",
        "missing_time",
        "time_too_old",
        "time_in_future",
        "invalid_document",
        "empty message value",
        "schema",
        "compute failed",
        "store refused",
    }


@pytest.mark.parametrize(
    ("kind", "detail", "text"),
    [
        (Reason.TIME_IN_FUTURE, "2030-01-01 is late", "time_in_future: 2030-01-01 is late"),
        (Reason.STORE_REFUSED, "too late", "store refused: too late"),
        (Reason.EMPTY_VALUE, "", "empty message value"),
        # A schema violation keeps pydantic's error type and location as its class.
        (
            Reason.SCHEMA,
            "missing at sentiment: Field required",
            "missing at sentiment: Field required",
        ),
    ],
)
def test_reason_text(kind: Reason, detail: str, text: str) -> None:
    assert reason_text(kind, detail) == text
    exc = InvalidMessage(kind, detail)
    assert (exc.reason, str(exc), exc.kind) == (text, text, kind)


def test_max_chars_cuts_the_whole_text() -> None:
    assert (
        reason_text(Reason.MALFORMED, "x" * 600, max_chars=500) == ("malformed: " + "x" * 600)[:500]
    )


def test_reason_class() -> None:
    assert reason_class("time_in_future: x: y") == Reason.TIME_IN_FUTURE
    assert reason_class("empty message value") == "empty message value"
    assert reason_class(": nothing before the colon") == "unknown"
