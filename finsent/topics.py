"""Kafka topics: each binds a name, a schema and a key function (STYLE.md section 5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from pydantic import ValidationError

from finsent.errors import InvalidMessage, Reason
from finsent.schemas import Alert, Document, ScoredDocument, WireModel

M = TypeVar("M", bound=WireModel)

DLQ_SUFFIX: Final = ".dlq"


def dlq_of(topic_name: str) -> str:
    """The dead-letter topic of `topic_name` (`<topic>.dlq`, STYLE.md section 3)."""
    return topic_name + DLQ_SUFFIX


@dataclass(frozen=True)
class Topic(Generic[M]):
    """A topic name with the schema of its values and how to key them."""

    name: str
    schema: type[M]
    key: Callable[[M], str | None]

    @property
    def dlq(self) -> str:
        return dlq_of(self.name)

    def encode(self, message: M) -> bytes:
        return message.model_dump_json().encode()

    def decode(self, raw: bytes | None) -> M:
        """Parse one message value; anything unparseable is an `InvalidMessage`."""
        if raw is None:
            raise InvalidMessage(Reason.EMPTY_VALUE)
        try:
            return self.schema.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidMessage(Reason.SCHEMA, _short_reason(exc), max_chars=500) from None


def _short_reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "message"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{first['type']} at {where}: {first['msg']}{more}"


def _document_key(doc: Document) -> str | None:
    return doc.primary_ticker


def _scored_key(doc: ScoredDocument) -> str | None:
    return doc.tickers[0] if doc.tickers else None


def _alert_key(alert: Alert) -> str:
    return alert.incident_id


DOCUMENTS: Final = Topic("news.documents.v1", Document, _document_key)
"""Live documents, scored by the consumer group `inference-scorer`."""
SCORED: Final = Topic("news.scored.v1", ScoredDocument, _scored_key)
ALERTS: Final = Topic("alerts.fired.v1", Alert, _alert_key)


def replay_documents_topic(namespace: str) -> str:
    """The documents topic of one `finsent run` replay.

    A replay scored through the live topic would queue live documents behind history,
    and its consumer would join the live group and take partitions from the live scorers.
    Its own topic (and `replay_group`) keeps the two lanes apart.
    """
    return f"replay.{namespace}.documents.v1"


def replay_group(namespace: str) -> str:
    """The consumer group that scores one replay's topic (never `inference-scorer`)."""
    return f"inference-replay-{namespace}"
