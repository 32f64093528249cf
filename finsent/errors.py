"""The three kinds of failure the runner tells apart (see STYLE.md section 6), and the
reasons a message is dead-lettered."""

from enum import StrEnum
from typing import Final


class FinsentError(Exception):
    """Base class for finsent's own errors."""


class Reason(StrEnum):
    """Why a message is dead-lettered: the class that starts its `reason` header.

    The header is `<class>: <detail>` (see `reason_text`). The classes are the values of
    the metrics' `reason` label and what operators grep the dead-letter topics for, so
    a value never changes; add a member instead.
    """

    # Ingest: what a source read, and what normalisation refused.
    UNDECODABLE = "undecodable"
    MALFORMED = "malformed"
    UNREADABLE = "unreadable"
    OVERSIZED = "oversized"
    EMPTY_BATCH = "empty_batch"
    BATCH_TOO_LARGE = "batch_too_large"
    MISSING_TEXT = "missing_text"
    MISSING_TIME = "missing_time"
    TIME_TOO_OLD = "time_too_old"
    TIME_IN_FUTURE = "time_in_future"
    INVALID_DOCUMENT = "invalid_document"
    # Consumers: decoding a topic's value, computing it, writing it.
    EMPTY_VALUE = "empty message value"
    SCHEMA = "schema"
    """A value that fails its topic's schema. Its header keeps pydantic's error type and
    location as the class (`missing at sentiment: Field required`), as it always has."""
    COMPUTE_FAILED = "compute failed"
    STORE_REFUSED = "store refused"


UNKNOWN_REASON: Final = "unknown"


def reason_text(kind: Reason, detail: str = "", *, max_chars: int | None = None) -> str:
    """The `reason` header of a dead letter: `<kind>: <detail>`, cut to `max_chars`."""
    if kind is Reason.SCHEMA:
        return detail[:max_chars]
    text = f"{kind}: {detail}" if detail else str(kind)
    return text[:max_chars]


def reason_class(reason: str) -> str:
    """The counted class of a `reason` header: the part before the first colon."""
    return reason.split(":", 1)[0].strip() or UNKNOWN_REASON


class InvalidMessage(FinsentError):
    """A message that can never succeed: it goes to the dead-letter topic with `reason`.

    Raised by code that decides; code that returns its verdict instead (a source's
    unreadable record, a batch item the model or the store rejected) returns a
    `Rejected` with the same `reason` text.
    """

    retriable = False

    def __init__(self, kind: Reason, detail: str = "", *, max_chars: int | None = None) -> None:
        reason = reason_text(kind, detail, max_chars=max_chars)
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class TransientError(FinsentError):
    """A dependency (Redis, the broker) is unavailable: retry, never commit."""

    retriable = True


class DlqLimitExceeded(FinsentError):
    """Too many invalid messages in a row: a bad deploy, not bad data. Stop the consumer."""


class ConfigurationError(FinsentError):
    """Settings or the environment are wrong in a way an operator must fix."""
